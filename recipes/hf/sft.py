"""Finetuning samples from ``training.jsonl`` / ``validation.jsonl`` rows ``{"input": ..., "output": ...}``.

Tokenized by :class:`recipes.data.sft_tokens.SFTEncoder`, the rules of NeMo's ``GPTSFTDataset`` on the
Megatron backend: BOS + context (no loss) + answer + EOS (loss), at most ``seq_length`` ids. Evaluation
and chat build prompts with the same encoder, so the model sees at inference what it was trained on.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from recipes.data.sft_tokens import PROMPT_TEMPLATE, SFTEncoder, check_no_text_bos
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


class SFTSamples:
    def __init__(self, dataset_root: str, which: str, tokenizer, seq_length: int,
                 template: str = PROMPT_TEMPLATE):
        path = Path(dataset_root) / SPLIT_FILES[which]
        if not path.is_file():
            if which != "train":
                self.rows = []
                return
            raise UsageError(f"--dataset_path: {path} not found; the finetuning folder needs training.jsonl "
                             "and validation.jsonl (make them with python -m recipes.prepare_sft)")
        self.rows = read_jsonl(path)
        check_no_text_bos(self.rows, path, tokenizer)
        self.encoder, self.seq_length = SFTEncoder(tokenizer, template), seq_length

    def __len__(self) -> int:
        return len(self.rows)

    def __getitem__(self, index: int) -> dict:
        ids, answer_start = self.encoder.encode(self.rows[index], self.seq_length)
        tokens = np.asarray(ids, dtype=np.int64)
        labels = tokens[1:].copy()
        labels[: max(0, answer_start - 1)] = IGNORE_INDEX  # positions that predict a context token
        return {"input_ids": tokens[:-1], "labels": labels}
