"""Fixtures for the small-model backend: tiny real data, and one short training run per task (shared)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from hf_helpers import options, train_in_process
from testlib import write_mmap


@pytest.fixture(scope="session")
def tokenizer():
    from recipes.data.tokenizer import load_tokenizer

    return load_tokenizer(None)


@pytest.fixture(scope="session")
def corpus(tmp_path_factory, tokenizer) -> Path:
    """80 short English documents (EOD-terminated) as a real Megatron .bin/.idx pair."""
    docs = []
    for i in range(80):
        text = f"The cat number {i % 5} sat on the mat and looked at the dog. " * 3
        docs.append(tokenizer.encode(text, add_special_tokens=False) + [tokenizer.eos_token_id])
    return write_mmap(tmp_path_factory.mktemp("mmap") / "cats_text_document", docs)


@pytest.fixture(scope="session")
def sft_dir(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("sft")
    sizes = {"training": 32, "validation": 8, "test": 6}
    for split, count in sizes.items():
        with open(folder / f"{split}.jsonl", "w") as handle:
            for i in range(count):
                row = {"input": f"Question: what is {i % 4} plus one?", "output": str(i % 4 + 1)}
                handle.write(json.dumps(row) + "\n")
    return folder


@pytest.fixture(scope="session")
def runs_dir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("runs")


@pytest.fixture(scope="session")
def pretrain_run(runs_dir, corpus):
    opts = options(runs_dir, "pretrain", corpus)
    return opts, train_in_process(opts)


@pytest.fixture(scope="session")
def sft_run(runs_dir, sft_dir):
    opts = options(runs_dir, "sft", sft_dir)
    return opts, train_in_process(opts)


@pytest.fixture(scope="session")
def lora_run(runs_dir, sft_dir):
    opts = options(runs_dir, "lora", sft_dir)
    return opts, train_in_process(opts)


@pytest.fixture(scope="session")
def dora_run(runs_dir, sft_dir):
    opts = options(runs_dir, "dora", sft_dir)
    return opts, train_in_process(opts)
