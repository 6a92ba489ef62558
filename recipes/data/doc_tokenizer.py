"""The preprocessor's tokenizer: megatron-core's, built the way core_v0.16.1 ``tools/preprocess_data.py`` does.

That tool calls ``megatron.core.tokenizers.text.utils.build_tokenizer(args)``; for
``--tokenizer-type HuggingFaceTokenizer`` it wraps ``AutoTokenizer.from_pretrained(path, use_fast=False)``
in megatron-core's ``HuggingFaceTokenizer``, whose ``tokenize(text)`` is
``convert_tokens_to_ids(tokenizer.tokenize(text))``: no special tokens, so no BOS. With
``--tokenizer-hf-include-special-tokens`` it is ``tokenizer(text).input_ids`` (BOS for Llama 3), which
is also what ``--legacy-tokenizer`` (megatron.training's ``_HuggingFaceTokenizer``) returns. ``eod`` is
the id of ``eos_token`` (of ``sep_token`` when there is no eos; legacy: ``eos_token_id``) and the
output dtype follows ``len(tokenizer)``.

For a ``PreTrainedTokenizerFast`` folder (Llama 3 and most recent models; ``use_fast`` does not
change what ``AutoTokenizer`` loads for it) the same ids come from ``tokenizers.Tokenizer.from_file``
in one batch call per chunk, without importing transformers or megatron-core, which costs seconds of
start-up. Every other tokenizer goes through megatron-core itself, document by document.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

FAST_CLASS = "PreTrainedTokenizerFast"


@dataclass(frozen=True)
class TokenizerChoice:
    """The tool's tokenizer flags that change the ids written."""

    folder: str
    include_special_tokens: bool = False  # --tokenizer-hf-include-special-tokens
    legacy: bool = False  # --legacy-tokenizer
    use_fast: bool = False  # --tokenizer-hf-use-fast

    @property
    def adds_special_tokens(self) -> bool:
        return self.include_special_tokens or self.legacy


class RustTokenizer:
    """``tokenizers.Tokenizer`` from ``tokenizer.json``; pickles as its folder (workers reload it)."""

    def __init__(self, choice: TokenizerChoice, backend, eod: int | None, vocab_size: int):
        self.choice, self.backend, self.eod, self.vocab_size = choice, backend, eod, vocab_size

    def __getstate__(self) -> dict:
        return {key: value for key, value in self.__dict__.items() if key != "backend"}

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state)
        self.backend = _load_backend(self.choice.folder)

    def encode(self, texts: list[str]) -> list[list[int]]:
        encodings = self.backend.encode_batch_fast(texts, add_special_tokens=self.choice.adds_special_tokens)
        return [encoding.ids for encoding in encodings]


class MegatronCoreTokenizer:
    """megatron-core's tokenizer (or the legacy one) built as the tool builds it; slow, exact."""

    def __init__(self, choice: TokenizerChoice):
        self.choice = choice
        self._build()

    def _build(self) -> None:
        if self.choice.legacy:  # megatron.training.tokenizer._HuggingFaceTokenizer, which is this
            from transformers import AutoTokenizer

            hf = AutoTokenizer.from_pretrained(self.choice.folder)
            self._tokenize = lambda text: hf(text).input_ids
            self.eod, self.vocab_size = hf.eos_token_id, len(hf)
            return
        tokenizer = build_megatron_tokenizer(self.choice)
        self._tokenize = tokenizer.tokenize
        self.eod, self.vocab_size = tokenizer.eod, tokenizer.vocab_size

    def __getstate__(self) -> dict:
        return {"choice": self.choice}

    def __setstate__(self, state: dict) -> None:
        self.choice = state["choice"]
        self._build()

    def encode(self, texts: list[str]) -> list[list[int]]:
        return [list(self._tokenize(text)) for text in texts]


def build_megatron_tokenizer(choice: TokenizerChoice):
    """``build_tokenizer(args)`` with the tool's defaults for ``--tokenizer-type HuggingFaceTokenizer``."""
    from argparse import Namespace

    from megatron.core.tokenizers.text.utils.build_tokenizer import build_tokenizer

    args = Namespace(tokenizer_type="HuggingFaceTokenizer", tokenizer_model=choice.folder, vocab_file=None,
                     merge_file=None, tokenizer_special_tokens=None, tokenizer_hf_use_fast=choice.use_fast,
                     trust_remote_code=False, tokenizer_hf_include_special_tokens=choice.include_special_tokens,
                     tokenizer_metadata=None)
    return build_tokenizer(args)


def open_tokenizer(choice: TokenizerChoice):
    """The Rust tokenizer where it gives megatron-core's ids, else megatron-core's own."""
    rust = _rust_settings(Path(choice.folder), choice)
    if rust is None:
        return MegatronCoreTokenizer(choice)
    return RustTokenizer(choice, *rust)


def _rust_settings(folder: Path, choice: TokenizerChoice) -> tuple | None:
    """(backend, eod, vocab size) when ``tokenizer.json`` alone reproduces AutoTokenizer here, else None."""
    config = _read_json(folder / "tokenizer_config.json")
    if config.get("tokenizer_class") != FAST_CLASS or not (folder / "tokenizer.json").is_file():
        return None
    if choice.adds_special_tokens and ("add_bos_token" in config or "add_eos_token" in config):
        return None  # transformers rewrites the post-processor for these
    backend = _load_backend(str(folder))
    for token_id, token in config.get("added_tokens_decoder", {}).items():
        if backend.token_to_id(_content(token)) != int(token_id):
            return None  # transformers would add or renumber tokens
    special = {**config, **_read_json(folder / "special_tokens_map.json")}  # the map wins, as in transformers
    eos = _content(special.get("eos_token"))
    if eos is None and not choice.legacy:
        eos = _content(special.get("sep_token"))  # megatron-core: eos := sep when there is no eos
    eod = backend.token_to_id(eos) if eos else None
    if eos and eod is None:
        return None  # megatron-core would add the token to the vocabulary
    return backend, eod, backend.get_vocab_size(with_added_tokens=True)


def _load_backend(folder: str):
    from tokenizers import Tokenizer

    backend = Tokenizer.from_file(str(Path(folder) / "tokenizer.json"))
    backend.no_truncation()  # what transformers does before every call
    backend.no_padding()
    return backend


def _read_json(path: Path) -> dict:
    if not path.is_file():
        return {}
    with open(path, encoding="utf-8") as handle:
        return json.load(handle)


def _content(token) -> str | None:
    return token.get("content") if isinstance(token, dict) else token
