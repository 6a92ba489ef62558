"""recipes.chat (one-shot and REPL) and recipes.merge_lora (merged logits == adapter logits)."""

from __future__ import annotations

import io
from pathlib import Path

import pytest


def _logits(model, ids):
    import torch

    with torch.no_grad():
        return model(input_ids=ids).logits


@pytest.mark.parametrize("run_name", ["lora_run", "dora_run"])
def test_merged_model_has_the_adapter_models_logits(run_name, request, tmp_path, capsys):
    import torch
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    from recipes.hf.merge_lora import main

    _, result = request.getfixturevalue(run_name)
    base, adapter, out = result.exported["base"], result.exported["adapter"], tmp_path / "merged"
    assert main(["--base", base, "--adapter", adapter, "--output_path", str(out)]) == 0
    assert (out / "config.json").is_file() and (out / "tokenizer.json").is_file()
    assert not (out / "adapter_config.json").exists()
    ids = torch.tensor([[128000, 791, 8415, 7731, 389, 279, 5634]])
    unmerged = PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(base), adapter).eval()
    merged = AutoModelForCausalLM.from_pretrained(out).eval()
    torch.testing.assert_close(_logits(merged, ids), _logits(unmerged, ids), rtol=1e-5, atol=1e-5)
    assert not torch.allclose(_logits(AutoModelForCausalLM.from_pretrained(base), ids), _logits(merged, ids))
    capsys.readouterr()
    assert main(["--base", base, "--adapter", adapter, "--output_path", str(out)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--output_path" in err[0] and "--overwrite" in err[0]
    assert main(["--base", base, "--adapter", adapter, "--output_path", str(out), "--overwrite"]) == 0


def test_chat_one_shot_with_adapter_matches_greedy_generation(lora_run, capsys):
    from recipes.evaluation.chat import main
    from recipes.hf.inference import generate, load_for_inference

    _, result = lora_run
    prompt = "Question: what is 2 plus one?"
    model, tok = load_for_inference(result.exported["base"], result.exported["adapter"])
    expected = tok.decode(generate(model, tok, [tok.bos_token_id] + tok.encode(prompt, add_special_tokens=False), 5),
                          skip_special_tokens=True).strip()
    assert main(["--model_path", result.exported["base"], "--adapter", result.exported["adapter"],
                 "--prompt", prompt, "--temperature", "0", "--max_new_tokens", "5"]) == 0
    assert capsys.readouterr().out == expected + "\n"


def test_chat_repl_reset_and_exit_on_the_adapter_dir_alone(lora_run, monkeypatch, capsys):
    from recipes.evaluation.chat import main

    _, result = lora_run
    monkeypatch.setattr("sys.stdin", io.StringIO("hello\n/reset\nagain\n/exit\nnever answered\n"))
    # --model_path may name the adapter directory: its base comes from adapter_config.json.
    assert main(["--model_path", result.exported["adapter"], "--max_new_tokens", "3", "--system_prompt",
                 "You are terse."]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[1] == "[conversation reset]" and len(lines) == 3


def test_chat_template_is_used_when_the_tokenizer_has_one(tokenizer):
    from recipes.evaluation.chat import Conversation

    class Templated:  # the bundled Llama 3 tokenizer has no template; an instruct tokenizer does
        chat_template = "{% for m in messages %}<{{ m.role }}>{{ m.content }}{% endfor %}<assistant>"

        def apply_chat_template(self, messages, add_generation_prompt, tokenize):
            return [len(m["content"]) for m in messages] + [0]

    conversation = Conversation(Templated(), "sys")
    conversation.turns.append(("hi", "hello"))
    assert conversation.prompt_ids("ok?") == [3, 2, 5, 3, 0]
    plain = Conversation(tokenizer, None)
    plain.turns.append(("2+2?", "4"))
    assert tokenizer.decode(plain.prompt_ids("3+3?")) == "<|begin_of_text|>2+2?\n4\n3+3?"  # prepare_sft's plain


def test_merge_rejects_a_non_adapter(lora_run, tmp_path, capsys):
    from recipes.hf.merge_lora import main

    _, result = lora_run
    assert main(["--base", result.exported["base"], "--adapter", str(tmp_path),
                 "--output_path", str(tmp_path / "out")]) == 2
    assert "--adapter" in capsys.readouterr().err and not Path(tmp_path / "out").exists()
