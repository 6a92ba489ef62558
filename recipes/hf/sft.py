"""Finetuning samples from ``training.jsonl`` / ``validation.jsonl`` rows ``{"input": ..., "output": ...}``.

Prompt = NeMo's default template ``"{input} {output}"``: the text before ``{output}`` is the context
(no loss), the rest plus EOS is the answer (loss). Evaluation and chat build prompts with the same
:func:`split_template` so the model sees at inference exactly what it was trained on.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from recipes.errors import UsageError

SPLIT_FILES = {"train": "training.jsonl", "validation": "validation.jsonl", "test": "test.jsonl"}
IGNORE_INDEX = -100


def read_jsonl(path: str | Path, required: tuple[str, ...] = ("input", "output")) -> list[dict]:
    rows = []
    with open(path, encoding="utf-8") as handle:
        for line_no, line in enumerate(handle, 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as exc:
                raise UsageError(f"{path}:{line_no}: not valid JSON ({exc.msg}); one JSON object per line") from exc
            missing = [key for key in required if key not in row]
            if missing:
                raise UsageError(f"{path}:{line_no}: missing {', '.join(missing)}; rows need "
                                 f"{{\"input\": ..., \"output\": ...}} (make them with python -m recipes.prepare_sft)")
            rows.append(row)
    return rows


def split_template(template: str, row: dict) -> tuple[str, str]:
    """(context, answer). Whitespace between them moves to the answer: " Paris" is one Llama token."""
    if "{output}" not in template:
        raise UsageError(f"data.prompt_template {template!r}: must contain {{output}}")
    head, tail = template.split("{output}", 1)
    context = head.format(**row)
    stripped = context.rstrip()
    return stripped, context[len(stripped):] + str(row["output"]) + tail.format(**row)


def encode_pair(tokenizer, context: str, answer: str, max_tokens: int) -> tuple[list[int], int]:
    """Token ids (BOS + context + answer + EOS, at most ``max_tokens``) and the context length."""
    bos = [tokenizer.bos_token_id] if tokenizer.bos_token_id is not None else []
    context_ids = bos + tokenizer.encode(context, add_special_tokens=False)
    answer_ids = tokenizer.encode(answer, add_special_tokens=False) + [tokenizer.eos_token_id]
    # Like NeMo's truncation_field="input": shorten the context first, keep at least BOS + one token.
    keep_context = max(min(len(context_ids), max_tokens - len(answer_ids)), min(len(context_ids), 2))
    ids = (context_ids[:keep_context] + answer_ids)[:max_tokens]
    return ids, keep_context


class SFTSamples:
    def __init__(self, dataset_root: str, which: str, tokenizer, seq_length: int,
                 template: str = "{input} {output}"):
        path = Path(dataset_root) / SPLIT_FILES[which]
        if not path.is_file():
            if which != "train":
                self.rows = []
                return
            raise UsageError(f"--dataset_path: {path} not found; the finetuning folder needs training.jsonl "
                             "and validation.jsonl (make them with python -m recipes.prepare_sft)")
        self.rows = read_jsonl(path)
        self.tokenizer, self.seq_length, self.template = tokenizer, seq_length, template

    def __len__(self) -> int:
        return len(self.rows)

    def __getitem__(self, index: int) -> dict:
        context, answer = split_template(self.template, self.rows[index])
        ids, context_len = encode_pair(self.tokenizer, context, answer, self.seq_length + 1)
        tokens = np.asarray(ids, dtype=np.int64)
        labels = tokens[1:].copy()
        labels[: max(0, context_len - 1)] = IGNORE_INDEX  # positions that predict a context token
        return {"input_ids": tokens[:-1], "labels": labels}
