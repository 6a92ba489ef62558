"""Fixtures for the data-tool tests (CPU only, no network)."""

from __future__ import annotations

import os
from argparse import Namespace

import pytest


@pytest.fixture(scope="session", autouse=True)
def fast_bpe_cache(tmp_path_factory):
    """The fast path's derived-ranks cache in a session folder, not ~/.cache (child processes inherit it)."""
    from recipes.data.fast_bpe import CACHE_ENV

    before = os.environ.get(CACHE_ENV)
    os.environ[CACHE_ENV] = str(tmp_path_factory.mktemp("bpe-cache"))
    yield os.environ[CACHE_ENV]
    if before is None:
        os.environ.pop(CACHE_ENV, None)
    else:
        os.environ[CACHE_ENV] = before


@pytest.fixture(scope="session")
def llama3():
    from recipes.data.tokenizer import load_tokenizer

    return load_tokenizer("llama3")


@pytest.fixture(scope="session")
def bundled_dir():
    from recipes.data.tokenizer import bundled_llama3_dir

    return bundled_llama3_dir()


def megatron_core_tokenizer(folder, include_special_tokens: bool = False):
    """megatron-core's tokenizer as core_v0.15.3 tools/preprocess_data.py builds it (its argparse defaults).

    ``include_special_tokens``: megatron-core's own ``HuggingFaceTokenizer(include_special_tokens=True)``
    (``tokenizer(text).input_ids``), what core_v0.16's ``--tokenizer-hf-include-special-tokens`` builds;
    megatron-core 0.15.3's ``build_tokenizer`` drops that argument, so it is passed to the class directly.
    """
    if include_special_tokens:
        from megatron.core.tokenizers import MegatronTokenizer

        return MegatronTokenizer.from_pretrained(tokenizer_path=str(folder), metadata_path={"library": "huggingface"},
                                                 vocab_file=None, merges_file=None, include_special_tokens=True)
    from megatron.core.tokenizers.text.utils.build_tokenizer import build_tokenizer

    return build_tokenizer(Namespace(
        tokenizer_type="HuggingFaceTokenizer", tokenizer_model=str(folder), vocab_file=None, merge_file=None,
        tiktoken_pattern=None, tiktoken_num_special_tokens=1000, tiktoken_special_tokens=None,
        trust_remote_code=False, tokenizer_metadata=None, vocab_size=None))


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
