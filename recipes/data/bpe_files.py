"""Whether a ``tokenizer.json`` is a tiktoken-style byte-level BPE, and its tiktoken ranks if so.

tiktoken encodes like the ``tokenizers`` library only when the files say so, checked here and never
assumed from a name (see docs/data.md, "Fast path"):

- no normalizer; the pre-tokenizer is one ``Split`` by a regex tiktoken's engine is known to run the
  same way (Llama 3's), ``Isolated``, followed by ``ByteLevel`` without regex or prefix space;
- a plain BPE model (no dropout, unk, byte fallback, subword prefix or suffix) whose ids are the
  ranks ``0..N-1`` of byte-level strings covering all 256 bytes;
- tiktoken merges any adjacent pair whose concatenation is a token, by the token's rank; ``tokenizers``
  merges the listed pairs by their position. They agree when every split of a token into two tokens
  is listed and the list is ordered by the merged token's id: both are checked;
- with ``ignore_merges: false`` ``tokenizers`` runs BPE even on a word that is a token, while tiktoken
  looks such a word up first; tokens that BPE of their own bytes does not produce (Llama 3: some
  Vietnamese and Turkish words in some tokenizer.json copies) are therefore left out of tiktoken's ranks:
  BPE never forms them in any context, so only the look-up changes;
- added tokens are matched in text verbatim (no strip, single-word or normalization options), as
  tiktoken matches its special tokens.
"""

from __future__ import annotations

from dataclasses import dataclass

# Pre-tokenizer patterns whose splitting by tiktoken (fancy-regex) was compared with tokenizers'
# (Oniguruma) code point by code point (scripts/bench_preprocess.py --probe-code-points).
LLAMA3_PATTERN = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*"
                  r"|\s*[\r\n]+|\s+(?!\S)|\s+")
KNOWN_PATTERNS = {LLAMA3_PATTERN: "llama3"}
PLAIN_BPE = {"dropout": None, "unk_token": None, "continuing_subword_prefix": None, "end_of_word_suffix": None,
             "byte_fallback": False}


class NotTiktokenBpe(ValueError):
    """The files describe something tiktoken would not encode identically (the message says what)."""


@dataclass(frozen=True)
class BpeSpec:
    """What tiktoken needs, derived and verified from ``tokenizer.json``."""

    pattern: str
    ranks: dict  # bytes -> id
    specials: dict  # added token text -> id
    unreachable: dict  # bytes -> id of tokens left out of ``ranks`` (ignore_merges false)


def byte_decoder() -> dict:
    """GPT-2's byte-level alphabet, character -> byte (``tokenizers``' ``ByteLevel``)."""
    printable = [*range(ord("!"), ord("~") + 1), *range(ord("¡"), ord("¬") + 1), *range(ord("®"), ord("ÿ") + 1)]
    others = [byte for byte in range(256) if byte not in printable]
    codes = printable + [256 + index for index in range(len(others))]
    return {chr(code): byte for code, byte in zip(codes, printable + others)}


def derive(config: dict, model_tokenize=None) -> BpeSpec:
    """The tiktoken spec of a parsed ``tokenizer.json``; :class:`NotTiktokenBpe` names the first mismatch.

    ``model_tokenize(token_text) -> ids`` is the reference BPE (``tokenizers``' model), needed only
    when ``ignore_merges`` is false.
    """
    pattern = _check_pipeline(config)
    model = config.get("model") or {}
    _check_model(model)
    ranks = _byte_ranks(model["vocab"])
    _check_merges(model["vocab"], model["merges"])
    specials = _check_added_tokens(config.get("added_tokens", []), len(ranks))
    unreachable = {}
    if not model.get("ignore_merges", False):
        if model_tokenize is None:
            raise NotTiktokenBpe("ignore_merges is false and no reference BPE was given to find unreachable tokens")
        ids = {i for token, i in model["vocab"].items() if len(token) > 1 and model_tokenize(token) != [i]}
        unreachable = {token: i for token, i in ranks.items() if i in ids}
        for token in unreachable:
            del ranks[token]
    return BpeSpec(pattern, ranks, specials, unreachable)


def _check_pipeline(config: dict) -> str:
    if config.get("normalizer") is not None:
        raise NotTiktokenBpe("it has a normalizer")
    pre = config.get("pre_tokenizer") or {}
    steps = pre.get("pretokenizers", []) if pre.get("type") == "Sequence" else [pre]
    if len(steps) != 2 or steps[0].get("type") != "Split" or steps[1].get("type") != "ByteLevel":
        raise NotTiktokenBpe("the pre-tokenizer is not Split(regex) followed by ByteLevel")
    split, byte_level = steps
    pattern = (split.get("pattern") or {}).get("Regex")
    if pattern not in KNOWN_PATTERNS or split.get("behavior") != "Isolated" or split.get("invert"):
        raise NotTiktokenBpe("its Split pre-tokenizer is not a known tiktoken pattern (Isolated, not inverted)")
    if byte_level.get("use_regex") or byte_level.get("add_prefix_space"):
        raise NotTiktokenBpe("its ByteLevel pre-tokenizer splits or adds a prefix space")
    return pattern


def _check_model(model: dict) -> None:
    if model.get("type") != "BPE":
        raise NotTiktokenBpe(f"the model is {model.get('type')}, not BPE")
    for key, plain in PLAIN_BPE.items():
        if model.get(key) not in (plain, "") or (key == "byte_fallback" and model.get(key)):
            raise NotTiktokenBpe(f"the BPE model sets {key}={model.get(key)!r}")


def _byte_ranks(vocab: dict) -> dict:
    decoder = byte_decoder()
    try:
        ranks = {bytes(decoder[char] for char in token): i for token, i in vocab.items()}
    except KeyError as exc:
        raise NotTiktokenBpe(f"a token has a character outside the byte-level alphabet ({exc})") from exc
    if len(ranks) != len(vocab) or sorted(ranks.values()) != list(range(len(vocab))):
        raise NotTiktokenBpe("the vocabulary ids are not 0..N-1 over distinct byte strings")
    if any(bytes([byte]) not in ranks for byte in range(256)):
        raise NotTiktokenBpe("the vocabulary lacks a single-byte token")
    return ranks


def _check_merges(vocab: dict, merges: list) -> None:
    """Merges ordered by the merged token's id, and listing every split of a token into two tokens."""
    listed, last = set(), -1
    for merge in merges:
        left, right = merge.split(" ") if isinstance(merge, str) else merge
        merged = vocab.get(left + right)
        if merged is None or left not in vocab or right not in vocab:
            raise NotTiktokenBpe(f"merge {left!r} {right!r} is not between tokens of the vocabulary")
        if merged < last:
            raise NotTiktokenBpe(f"merge {left!r} {right!r} is out of the order of the merged tokens' ids")
        listed.add((left, right))
        last = merged
    for token in vocab:
        for cut in range(1, len(token)):
            if token[:cut] in vocab and token[cut:] in vocab and (token[:cut], token[cut:]) not in listed:
                raise NotTiktokenBpe(f"token {token!r} splits into tokens {token[:cut]!r} {token[cut:]!r} "
                                     "with no merge listed")


def _check_added_tokens(added: list, vocab_size: int) -> dict:
    specials = {}
    for token in added:
        if any(token.get(key) for key in ("single_word", "lstrip", "rstrip", "normalized")):
            raise NotTiktokenBpe(f"added token {token.get('content')!r} is not matched verbatim")
        if token["id"] < vocab_size:
            raise NotTiktokenBpe(f"added token {token.get('content')!r} reuses vocabulary id {token['id']}")
        specials[token["content"]] = token["id"]
    return specials
