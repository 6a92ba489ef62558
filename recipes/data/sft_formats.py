"""Input shapes and prompt templates for SFT data.

Shapes (one JSON value per line): ``{"input","output"}``, ``{"query","answer"}``, Alpaca
``{"instruction","input","output"}``, and dialogues (a JSON list of utterances, LCCC style, or
``{"dialog": [...]}`` / ``{"conversation": [...]}``) which become history -> reply pairs.
"""

from __future__ import annotations

import re
import string
from dataclasses import dataclass

DIALOGUE_KEYS = ("dialog", "dialogue", "conversation", "conversations")
TEMPLATES = ("plain", "alpaca", "llama3")
ALPACA_HEADER = ("Below is an instruction that describes a task. "
                 "Write a response that appropriately completes the request.\n\n")
# Spaces between two CJK characters are word-segmentation artefacts (LCCC), not text.
CJK_GAP = re.compile(r"(?<=[\u3000-\u303f\u3400-\u9fff\uf900-\ufaff\uff00-\uffef]) +"
                     r"(?=[\u3000-\u303f\u3400-\u9fff\uf900-\ufaff\uff00-\uffef])")


class Reject(Exception):
    """A source row that cannot become an example; ``args[0]`` is the reason shown in the report."""


@dataclass(frozen=True)
class Example:
    history: tuple[str, ...]  # previous turns, oldest first; the last one is the user's
    reply: str
    context: str = ""  # Alpaca's optional "input" field


def examples_from(row, max_turns: int, strip_cjk_spaces: bool = False) -> list[Example]:
    """All examples in one parsed JSON line; raises :class:`Reject` with the reason."""
    if isinstance(row, list):
        return dialogue_pairs(row, max_turns, strip_cjk_spaces)
    if not isinstance(row, dict):
        raise Reject("unknown shape")
    for key in DIALOGUE_KEYS:
        if key in row:
            return dialogue_pairs(row[key], max_turns, strip_cjk_spaces)
    if "instruction" in row:
        instruction, context, reply = (_text(row, "instruction"), _text(row, "input", optional=True),
                                       _text(row, "output"))
        return [Example((instruction,), reply, context)]
    if "query" in row or "answer" in row:
        return [Example((_text(row, "query"),), _text(row, "answer"))]
    if "input" in row or "output" in row:
        return [Example((_text(row, "input"),), _text(row, "output"))]
    raise Reject("unknown shape")


def _text(row: dict, key: str, optional: bool = False) -> str:
    value = row.get(key)
    if value is None and optional:
        return ""
    if value is None:
        raise Reject(f"missing {key!r}")
    if not isinstance(value, str):
        raise Reject("non-string value")
    if not value.strip() and not optional:
        raise Reject("empty text")
    return value.strip()


def _utterance(turn) -> str:
    if isinstance(turn, dict):  # {"role","content"} / {"from","value"} / {"text"} turns
        turn = next((turn[key] for key in ("content", "value", "text") if key in turn), None)
    if not isinstance(turn, str):
        raise Reject("non-string value")
    if not turn.strip():
        raise Reject("empty text")
    return turn.strip()


def dialogue_pairs(turns, max_turns: int, strip_cjk_spaces: bool = False) -> list[Example]:
    """Every turn after the first as a reply to at most ``max_turns`` previous turns."""
    if not isinstance(turns, list):
        raise Reject("non-string value")
    utterances = [_utterance(turn) for turn in turns]
    if strip_cjk_spaces:
        utterances = [CJK_GAP.sub("", text) for text in utterances]
    if len(utterances) < 2:
        raise Reject("dialogue shorter than 2 turns")
    return [Example(tuple(utterances[max(0, i - max_turns):i]), utterances[i]) for i in range(1, len(utterances))]


def check_template(template: str) -> str:
    """A template name or a custom format with ``{input}``; ``\\n``/``\\t`` typed in a shell become real."""
    if template in TEMPLATES:
        return template
    template = template.replace("\\n", "\n").replace("\\t", "\t")
    problem = brace_problem(template)
    if problem:
        raise ValueError(f"--template {template!r}: {problem}")
    # Whole fields, conversion and spec included: render() fills in {input} itself and nothing else.
    fields = [name + (f"!{conv}" if conv else "") + (f":{spec}" if spec else "")
              for _, name, spec, conv in string.Formatter().parse(template) if name is not None]
    extra = sorted(set(fields) - {"input"})
    if extra:
        raise ValueError(f"--template {template!r}: unknown field {{{extra[0]}}}; "
                         "a custom format may only use {input}")
    if "input" not in fields:
        raise ValueError(f"--template {template!r}: choose {', '.join(TEMPLATES)} "
                         "or give a format containing {input}, e.g. 'Q: {input}\\nA: '")
    return template


def brace_problem(template: str, doubled_is_literal: bool = True) -> str | None:
    """What is wrong with a template's braces (a lone ``{`` or ``}`` is nearly always a typo), or None.

    ``doubled_is_literal``: a format rendered here with ``str.format`` (``prepare_sft --template``), where
    ``{{``/``}}`` write a brace. Otherwise a NeMo prompt template (``{input} {output}``), cut at its
    placeholders as NeMo's SFT dataset does: it has no escape, so every brace must belong to a ``{field}``.
    """
    if doubled_is_literal:
        try:
            list(string.Formatter().parse(template))
        except ValueError as exc:
            return f"{exc}; write a literal brace twice ({{{{ or }}}})"
        return None
    if re.search(r"[{}]", re.sub(r"{\w+}", "", template)):
        return "a brace outside a {field} placeholder; NeMo prompt templates have no literal braces: remove it"
    return None


def render(example: Example, template: str) -> tuple[str, str]:
    """The ``(input, output)`` strings written for ``example`` under ``template``."""
    plain = "\n".join(example.history)
    if example.context:
        plain = f"{plain}\n\n{example.context}"
    if template == "plain":
        return plain, example.reply
    if template == "alpaca":
        return _alpaca(example), example.reply
    if template == "llama3":
        return _llama3(example), example.reply + "<|eot_id|>"
    return template.format(input=plain), example.reply  # checked: {input} is its only field


def _alpaca(example: Example) -> str:
    instruction = "\n".join(example.history)
    text = f"{ALPACA_HEADER}### Instruction:\n{instruction}\n\n"
    if example.context:
        text += f"### Input:\n{example.context}\n\n"
    return text + "### Response:\n"


def _llama3(example: Example) -> str:
    """Llama 3.1 chat format up to the assistant header, without ``<|begin_of_text|>``: the SFT
    tokenization (recipes.data.sft_tokens) adds BOS to every template, so text BOS would be a second one."""
    turns = list(example.history)
    if example.context:
        turns[-1] = f"{turns[-1]}\n\n{example.context}"
    parts = []
    for distance, text in enumerate(reversed(turns)):  # the last turn is the user's, then alternate
        role = "user" if distance % 2 == 0 else "assistant"
        parts.insert(0, f"<|start_header_id|>{role}<|end_header_id|>\n\n{text}<|eot_id|>")
    parts.append("<|start_header_id|>assistant<|end_header_id|>\n\n")
    return "".join(parts)
