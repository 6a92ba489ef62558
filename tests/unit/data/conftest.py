"""Fixtures for the data-tool tests (CPU only, no network)."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="session")
def llama3():
    from recipes.tokenizer import load_tokenizer

    return load_tokenizer("llama3")


@pytest.fixture
def expected_ids(llama3):
    """Megatron's ids for a text: ``tokenizer(text).input_ids`` (+ eos as EOD)."""
    def ids(text: str, append_eod: bool = True) -> list[int]:
        tokens = llama3(text).input_ids
        return tokens + [llama3.eos_token_id] if append_eod and tokens else tokens

    return ids
