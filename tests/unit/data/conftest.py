"""Fixtures for the data-tool tests (CPU only, no network)."""

from __future__ import annotations

from argparse import Namespace

import pytest


@pytest.fixture(scope="session")
def llama3():
    from recipes.tokenizer import load_tokenizer

    return load_tokenizer("llama3")


@pytest.fixture(scope="session")
def bundled_dir():
    from recipes.tokenizer import bundled_llama3_dir

    return bundled_llama3_dir()


def megatron_core_tokenizer(folder, include_special_tokens: bool = False):
    """megatron-core's tokenizer as core_v0.16.1 tools/preprocess_data.py builds it (its argparse defaults)."""
    from megatron.core.tokenizers.text.utils.build_tokenizer import build_tokenizer

    return build_tokenizer(Namespace(
        tokenizer_type="HuggingFaceTokenizer", tokenizer_model=str(folder), vocab_file=None, merge_file=None,
        tokenizer_special_tokens=None, tokenizer_hf_use_fast=False, trust_remote_code=False,
        tokenizer_hf_include_special_tokens=include_special_tokens, tokenizer_metadata=None))


@pytest.fixture(scope="session")
def megatron_tokenizer(bundled_dir):
    return megatron_core_tokenizer(bundled_dir)


@pytest.fixture
def expected_ids(megatron_tokenizer):
    """The tool's ids for a text: megatron-core ``tokenize(text)`` (no BOS) + ``eod`` when non-empty."""
    def ids(text: str, append_eod: bool = True) -> list[int]:
        tokens = list(megatron_tokenizer.tokenize(text))
        return tokens + [megatron_tokenizer.eod] if append_eod and tokens else tokens

    return ids
