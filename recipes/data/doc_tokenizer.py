"""The preprocessor's tokenizer: megatron-core's, built the way core_v0.15.3 ``tools/preprocess_data.py`` does.

That tool calls ``megatron.core.tokenizers.text.utils.build_tokenizer(args)``; for
``--tokenizer-type HuggingFaceTokenizer`` it wraps ``AutoTokenizer.from_pretrained(path, use_fast=False)``
in megatron-core's ``HuggingFaceTokenizer``, whose ``tokenize(text)`` is
``convert_tokens_to_ids(tokenizer.tokenize(text))``: no special tokens, so no BOS. The BOS flags are
core_v0.16's (the pinned tool has none that works, see docs/data.md): with
``--tokenizer-hf-include-special-tokens`` it is ``tokenizer(text).input_ids`` (BOS for Llama 3), which
is also what ``--legacy-tokenizer`` (megatron.training's ``_HuggingFaceTokenizer``) returns. ``eod`` is
the id of ``eos_token`` (of ``sep_token`` when there is no eos; legacy: ``eos_token_id``) and the
output dtype follows ``len(tokenizer)``.

For a ``PreTrainedTokenizerFast`` folder (Llama 3 and most recent models; ``use_fast`` does not
change what ``AutoTokenizer`` loads for it) the same ids come from ``tokenizers.Tokenizer.from_file``
in one batch call per chunk, without importing transformers or megatron-core, which costs seconds of
start-up; by default from tiktoken where :mod:`recipes.data.fast_bpe` vouches for the same ids
(``--tokenizer-backend hf`` keeps ``tokenizers``). Every other tokenizer goes through megatron-core
itself, document by document.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from recipes.data.bpe_files import byte_decoder
from recipes.data.fast_bpe import FastBpe, load_spec

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

    def __init__(self, choice: TokenizerChoice, backend, eod: int | None, vocab_size: int, why_not_fast: str = ""):
        self.choice, self.backend, self.eod, self.vocab_size = choice, backend, eod, vocab_size
        self.why_not_fast = why_not_fast

    def __getstate__(self) -> dict:
        return {key: value for key, value in self.__dict__.items() if key != "backend"}

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state)
        self.backend = _load_backend(self.choice.folder)

    def encode(self, texts: list[str]) -> list[list[int]]:
        encodings = self.backend.encode_batch_fast(texts, add_special_tokens=self.choice.adds_special_tokens)
        return [encoding.ids for encoding in encodings]

    def describe(self, documents: int) -> str:
        return f"tokenizers (fast path off: {self.why_not_fast})" if self.why_not_fast else "tokenizers"


class FastTokenizer:
    """The tiktoken fast path (:mod:`recipes.data.fast_bpe`); pickles as its folder, reloads from the cache."""

    def __init__(self, choice: TokenizerChoice, spec: dict, eod: int | None, vocab_size: int):
        self.choice, self.eod, self.vocab_size = choice, eod, vocab_size
        self.engine = FastBpe(spec, lambda: _load_backend(choice.folder))

    def __getstate__(self) -> dict:
        return {"choice": self.choice, "eod": self.eod, "vocab_size": self.vocab_size}

    def __setstate__(self, state: dict) -> None:
        spec, _ = load_spec(state["choice"].folder, lambda: _load_backend(state["choice"].folder))
        self.__init__(state["choice"], spec, state["eod"], state["vocab_size"])

    def encode(self, texts: list[str]) -> list[list[int]]:
        return self.engine.encode(texts)

    def describe(self, documents: int) -> str:
        return f"tiktoken fast path ({self.engine.routed:,} of {documents:,} documents through tokenizers)"


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

    def describe(self, documents: int) -> str:
        return "megatron-core (not a PreTrainedTokenizerFast folder)"


def build_megatron_tokenizer(choice: TokenizerChoice):
    """megatron-core's ``HuggingFaceTokenizer`` as the tool's ``build_tokenizer(args)`` makes it.

    Built through ``MegatronTokenizer.from_pretrained`` with the flags passed explicitly: megatron-core
    0.15.3's ``build_tokenizer`` (what core_v0.15.3's tool calls) drops ``include_special_tokens`` and
    ``use_fast``, which core_v0.16's passes; without the flags both build this same tokenizer.
    """
    from megatron.core.tokenizers import MegatronTokenizer

    return MegatronTokenizer.from_pretrained(
        tokenizer_path=choice.folder, metadata_path={"library": "huggingface"}, vocab_file=None, merges_file=None,
        use_fast=choice.use_fast, trust_remote_code=False, include_special_tokens=choice.include_special_tokens)


BACKENDS = ("auto", "hf")


def open_tokenizer(choice: TokenizerChoice, backend: str = "auto"):
    """The fast path where it gives the Rust tokenizer's ids (``auto``), the Rust tokenizer where it gives
    megatron-core's ids, else megatron-core's own."""
    folder = Path(choice.folder)
    config = _read_json(folder / "tokenizer_config.json")
    if config.get("tokenizer_class") != FAST_CLASS or not (folder / "tokenizer.json").is_file():
        return MegatronCoreTokenizer(choice)
    if choice.adds_special_tokens and ("add_bos_token" in config or "add_eos_token" in config):
        return MegatronCoreTokenizer(choice)  # transformers rewrites the post-processor for these
    why = ("--tokenizer-backend hf" if backend == "hf"
           else "special tokens are added" if choice.adds_special_tokens else "")
    if not why:
        spec, why = load_spec(choice.folder, lambda: _load_backend(choice.folder))
        settings = spec and _rust_settings(folder, config, choice, _spec_lookup(spec), spec["vocab_size"])
        if settings:
            return FastTokenizer(choice, spec, *settings)
        why = why or "transformers would change the tokenizer's special tokens"
    rust = _load_backend(choice.folder)
    settings = _rust_settings(folder, config, choice, rust.token_to_id, rust.get_vocab_size(with_added_tokens=True))
    if settings is None:
        return MegatronCoreTokenizer(choice)
    return RustTokenizer(choice, rust, *settings, why_not_fast=why)


def _rust_settings(folder: Path, config: dict, choice: TokenizerChoice, token_to_id, vocab_size: int):
    """(eod, vocab size) when ``tokenizer.json`` alone reproduces AutoTokenizer here, else None."""
    for token_id, token in config.get("added_tokens_decoder", {}).items():
        if token_to_id(_content(token)) != int(token_id):
            return None  # transformers would add or renumber tokens
    special = {**config, **_read_json(folder / "special_tokens_map.json")}  # the map wins, as in transformers
    eos = _content(special.get("eos_token"))
    if eos is None and not choice.legacy:
        eos = _content(special.get("sep_token"))  # megatron-core: eos := sep when there is no eos
    eod = token_to_id(eos) if eos else None
    if eos and eod is None:
        return None  # megatron-core would add the token to the vocabulary
    return eod, vocab_size


def _spec_lookup(spec: dict):
    """``Tokenizer.token_to_id`` over a fast-path spec: added tokens, then byte-level vocabulary strings."""
    decoder = byte_decoder()

    def token_to_id(token: str | None) -> int | None:
        if token in spec["specials"]:
            return spec["specials"][token]
        if not token or any(char not in decoder for char in token):
            return None
        raw = bytes(decoder[char] for char in token)
        return spec["ranks"].get(raw, spec["unreachable"].get(raw))

    return token_to_id


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
