"""Chat with a trained model: an interactive REPL, or one answer with ``--prompt``.

    python -m recipes.chat --model_path RUN/hf_base --adapter RUN/hf_adapter --prompt "What is 2 plus one?"

``--model_path`` may also be a NeMo 2 checkpoint (full or LoRA): it is exported to a temporary HF folder first.

REPL commands: ``/reset`` forgets the conversation, ``/exit`` (or Ctrl-D) quits. The tokenizer's
chat template is used when it has one (instruct models); otherwise the conversation is written as
``prepare_sft --template`` writes a dialogue's input and tokenized like the training rows
(recipes.data.sft_tokens), so the prompt is the one the model was finetuned on.
"""

from __future__ import annotations

import argparse
import sys

from recipes.core.argcheck import Parser
from recipes.core.errors import cli_main
from recipes.data.sft_formats import check_template, Example, render
from recipes.data.sft_tokens import SFTEncoder
from recipes.hf.inference import generate, load_for_inference
from recipes.hf.model_source import hf_model_dir, model_problems

PROG = "python -m recipes.chat"
MAX_NEW_TOKENS = 100_000
DEFAULT_TOP_P = "0.9"


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """The checked command line; every problem (the model folders' files included) reported together."""
    parser = Parser(prog=PROG, description=__doc__.split("\n\n")[0])
    parser.add_argument("--model_path", required=True,
                        help="HF model dir (or an adapter dir: its base is used), or a NeMo 2 checkpoint dir (full "
                             "or LoRA, e.g. <run>/checkpoints/<name>-last): exported to a temporary HF dir first")
    parser.add_argument("--adapter", help="HF LoRA/DoRA adapter dir, applied unmerged")
    parser.add_argument("--system_prompt", default=None)
    parser.add_argument("--template", default="plain",
                        help="the prepare_sft --template of the training data: plain, alpaca, llama3 or a format")
    parser.add_argument("--max_turns", default="3",
                        help="previous turns kept in the prompt, as prepare_sft --max_turns (default 3)")
    parser.add_argument("--temperature", default="0.7", help="0 = greedy, at most 100 (default 0.7)")
    parser.add_argument("--top_p", default=None, help="nucleus sampling mass in (0, 1] (default 0.9); "
                                                      "needs --temperature above 0")
    parser.add_argument("--max_new_tokens", default="256", help="at least 1 (default 256)")
    parser.add_argument("--prompt", help="answer this one message and exit")
    parser.add_argument("--seed", default="1234")
    args, checks = parser.parse_collecting(argv)
    args.temperature = checks.number("--temperature", args.temperature, low=0, high=100)
    if args.top_p is not None and args.temperature == 0:
        checks.add(f"--top_p {args.top_p}: greedy decoding (--temperature 0) does not sample; drop one of them")
    args.top_p = checks.number("--top_p", DEFAULT_TOP_P if args.top_p is None else args.top_p, low=0, high=1)
    if args.top_p == 0:
        checks.add("--top_p 0: must be above 0 (1 keeps every token)")
    args.max_new_tokens = checks.integer("--max_new_tokens", args.max_new_tokens, low=1, high=MAX_NEW_TOKENS)
    args.seed = checks.integer("--seed", args.seed, low=0, high=2**63 - 1)
    args.max_turns = checks.integer("--max_turns", args.max_turns, low=1, high=10_000)
    try:
        args.template = check_template(args.template)
    except ValueError as exc:
        checks.add(str(exc))
    if args.prompt is not None and not args.prompt.strip():
        checks.add("--prompt: empty; give a message or leave --prompt out for the interactive chat")
    checks.add(*model_problems(args.model_path, args.adapter))
    checks.done()
    return args


class Conversation:
    def __init__(self, tokenizer, system_prompt: str | None, template: str = "plain", max_turns: int = 3):
        self.tokenizer, self.system_prompt = tokenizer, system_prompt
        self.template, self.max_turns = template, max_turns
        self.turns: list[tuple[str, str]] = []

    def reset(self) -> None:
        self.turns.clear()

    def prompt_ids(self, user: str) -> list[int]:
        tok = self.tokenizer
        if tok.chat_template:
            messages = [{"role": "system", "content": self.system_prompt}] if self.system_prompt else []
            for question, answer in self.turns:
                messages += [{"role": "user", "content": question}, {"role": "assistant", "content": answer}]
            messages.append({"role": "user", "content": user})
            return list(tok.apply_chat_template(messages, add_generation_prompt=True, tokenize=True))

        return SFTEncoder(tok).prompt_ids({"input": self.prompt_text(user)})

    def prompt_text(self, user: str) -> str:
        """The conversation as ``prepare_sft`` writes a dialogue's ``input`` under the template."""
        utterances = [text for turn in self.turns for text in turn] + [user]
        text, _ = render(Example(tuple(utterances[-self.max_turns:]), ""), self.template)
        if not self.system_prompt:
            return text
        if self.template == "llama3":
            return f"<|start_header_id|>system<|end_header_id|>\n\n{self.system_prompt}<|eot_id|>{text}"
        return f"{self.system_prompt}\n{text}"

    def reply(self, model, user: str, args) -> str:
        new_ids = generate(model, self.tokenizer, self.prompt_ids(user), args.max_new_tokens,
                           args.temperature, args.top_p)
        answer = self.tokenizer.decode(new_ids, skip_special_tokens=True).strip()
        self.turns.append((user, answer))
        return answer


def repl(model, conversation: Conversation, args) -> None:
    interactive = sys.stdin.isatty()
    if interactive:
        print("Type a message; /reset clears the conversation, /exit quits.")
    while True:
        try:
            line = input(">>> " if interactive else "")
        except EOFError:
            break
        line = line.strip()
        if line == "/exit":
            break
        if line == "/reset":
            conversation.reset()
            print("[conversation reset]")
            continue
        if line:
            print(conversation.reply(model, line, args), flush=True)


@cli_main(PROG)
def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    import torch


    torch.manual_seed(args.seed)
    with hf_model_dir(args.model_path, PROG) as model_dir:  # a NeMo export is removed once loaded
        model, tokenizer = load_for_inference(model_dir, args.adapter)
    conversation = Conversation(tokenizer, args.system_prompt, args.template, args.max_turns)
    if args.prompt is not None:
        print(conversation.reply(model, args.prompt, args))
        return 0
    repl(model, conversation, args)
    return 0
