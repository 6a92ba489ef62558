"""Finetuning samples from ``training.jsonl`` / ``validation.jsonl`` rows ``{"input": ..., "output": ...}``.

Tokenized by :class:`recipes.data.sft_tokens.SFTEncoder`, the rules of NeMo's ``GPTSFTDataset`` on the
Megatron backend: BOS + context (no loss) + answer + EOS (loss), at most ``seq_length`` ids. Evaluation
and chat build prompts with the same encoder, so the model sees at inference what it was trained on.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from recipes.core.errors import UsageError
from recipes.data.sft_files import read_jsonl
from recipes.data.sft_tokens import PROMPT_TEMPLATE, SFTEncoder, check_no_text_bos

SPLIT_FILES = {"train": "training.jsonl", "validation": "validation.jsonl", "test": "test.jsonl"}
IGNORE_INDEX = -100


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
