"""The fast path: tiktoken for byte-level BPE tokenizers of its family, ``tokenizers`` for the rest.

tiktoken encodes Llama 3's BPE 2-4x faster than the ``tokenizers`` library and gives the same ids
when the tokenizer files have the shape :mod:`recipes.data.bpe_files` verifies. Whether its regex
engine (Rust regex / fancy-regex) classifies every code point as ``tokenizers``' (Oniguruma) does
depends on the versions: their Unicode tables. With tiktoken 0.7.0 (the version nemo_toolkit[nlp] pins)
differential fuzzing found letters and digits added in Unicode 16 (U+13554, Egyptian
hieroglyphs; U+10D40, Garay digits) splitting text differently (``X's`` -> ``X'`` ``s`` on one side,
``X`` ``'s`` on the other); with tiktoken 0.14.0 (what ``scripts/setup.sh`` installs) probing every
code point found no difference. Either way a document holding a code point unassigned in Unicode 14.0
(:mod:`recipes.data.unassigned`; a superset of everything either engine added since) or in
``EXTRA_RANGES`` goes to ``tokenizers``, the reference: needed with 0.7.0, a margin with 0.14.0. That
rule is checked for the engine versions in ``VERIFIED_ENGINES`` by probing every code point
(``scripts/fuzz_fast_bpe.py --probe-code-points``, also a test); with other versions nothing is vouched
for and every document takes the reference path. ``tests/unit/data/test_fast_bpe.py`` is the
differential proof.

Deriving and checking the ranks takes seconds, so the result is kept in a cache file named by the
SHA-256 of the tokenizer files and the engine versions (``$RECIPES_CACHE_DIR``, default
``~/.cache/llama-recipes-nemo``); a hit costs a hash of ``tokenizer.json`` and a ``pickle`` load of plain data.
"""

from __future__ import annotations

import hashlib
import json
import os
import pickle
import re
from array import array
from bisect import bisect_right
from functools import lru_cache
from pathlib import Path

from recipes.data.bpe_files import KNOWN_PATTERNS, NotTiktokenBpe, derive
from recipes.data.unassigned import UNASSIGNED

CACHE_ENV = "RECIPES_CACHE_DIR"
CACHE_FORMAT = 1
VERIFIED_ENGINES = {"tiktoken": ("0.14.0", "0.7.0"), "tokenizers": ("0.22.2",)}  # the versions probed
# Beyond the unassigned code points: ranges the code point probe found for these engines (none so far).
EXTRA_RANGES: tuple = ()


@lru_cache(maxsize=1)
def _route_ranges() -> tuple[list[int], list[int]]:
    """(starts, ends) of the code points to route, sorted: Unicode 14 unassigned plus EXTRA_RANGES."""
    items = (item.partition("-") for item in "".join(UNASSIGNED).split())
    ranges = [(int(lo, 16), int(hi or lo, 16)) for lo, _, hi in items]
    ranges = sorted(ranges + list(EXTRA_RANGES))
    return [lo for lo, _ in ranges], [hi for _, hi in ranges]


def unvouched(point: int) -> bool:
    starts, ends = _route_ranges()
    index = bisect_right(starts, point) - 1
    return index >= 0 and point <= ends[index]


def routed_texts(texts: list[str]) -> list[int]:
    """Indices of the texts holding a code point the fast path cannot vouch for.

    Exact, in two steps: a sieve that passes every such text (``str.isascii`` is a flag read; one
    character class of the routed ranges below U+10000 plus every code point above it, which ``re``
    matches by table lookup), then the range test on each distinct character of what the sieve passed.
    A single class of all ~700 ranges scans at ~4 s/MB: ``re`` tests ranges above U+FFFF one by one.
    """
    ascii_free, sieve = _sieve()
    suspects = [index for index, text in enumerate(texts)
                if not (ascii_free and text.isascii()) and sieve(text)]
    return [index for index in suspects if any(unvouched(ord(char)) for char in set(texts[index]))]


@lru_cache(maxsize=1)
def _sieve():
    """(ASCII text never routes, search of a regex matching a superset of the routed characters)."""
    starts, ends = _route_ranges()
    members = "".join(re.escape(chr(lo)) + ("-" + re.escape(chr(hi)) if hi > lo else "")
                      for lo, hi in zip(starts, ends) if hi < 0x10000)
    return starts[0] >= 0x80, re.compile(f"[{members}\U00010000-\U0010FFFF]").search


def engines_verified() -> str | None:
    """None when the installed engines are verified ones, else why not."""
    found = installed_engines()
    for name, versions in VERIFIED_ENGINES.items():
        if found[name] not in versions:
            return (f"{name} is not installed" if found[name] is None else
                    f"{name} {found[name]} is not a verified version ({', '.join(versions)})")
    return None


@lru_cache(maxsize=1)
def installed_engines() -> dict[str, str | None]:
    """Version of each engine, read from the dist-info folder names next to the packages:
    ``importlib.metadata`` costs ~30 ms of start-up and tiktoken has no ``__version__``."""
    import importlib.util

    versions: dict[str, str | None] = {}
    for name in VERIFIED_ENGINES:
        spec = importlib.util.find_spec(name)
        found = [path.name[len(name) + 1:-len(".dist-info")]
                 for path in Path(spec.origin).parents[1].glob(f"{name}-*.dist-info")] if spec and spec.origin else []
        versions[name] = found[0] if len(found) == 1 else ("(version unknown)" if found or spec else None)
    return versions


def cache_dir() -> Path:
    return Path(os.environ.get(CACHE_ENV) or Path.home() / ".cache" / "llama-recipes-nemo") / "bpe"


def load_spec(folder: str, reference) -> tuple[dict | None, str]:
    """(tiktoken spec as plain data, "") or (None, why the fast path does not apply), cached by content."""
    why = engines_verified()
    if why:
        return None, why
    digest = hashlib.sha256(f"{CACHE_FORMAT} {sorted(installed_engines().items())}".encode())
    for name in ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json"):
        path = Path(folder) / name
        digest.update(name.encode() + (path.read_bytes() if path.is_file() else b"-"))
    cached = cache_dir() / f"{digest.hexdigest()}.pickle"
    try:
        with open(cached, "rb") as handle:
            spec = _PlainData(handle).load()
        return (spec, "") if spec.get("ranks") is not None else (None, spec["why"])
    except (OSError, EOFError, ValueError, TypeError, KeyError, AttributeError, pickle.UnpicklingError):
        pass
    spec = _derive_spec(folder, reference())
    _write_atomically(cached, spec)
    return (spec, "") if spec.get("ranks") is not None else (None, spec["why"])


def _derive_spec(folder: str, backend) -> dict:
    with open(Path(folder) / "tokenizer.json", encoding="utf-8") as handle:
        config = json.load(handle)
    try:
        spec = derive(config, lambda token: [t.id for t in backend.model.tokenize(token)])
    except NotTiktokenBpe as exc:
        return {"why": f"tokenizer.json: {exc}"}
    return {"pattern": spec.pattern, "ranks": spec.ranks, "specials": spec.specials,
            "name": KNOWN_PATTERNS[spec.pattern], "unreachable": spec.unreachable, "vocab_size": backend.get_vocab_size(with_added_tokens=True)}


def _write_atomically(path: Path, spec: dict) -> None:
    """Best effort: an unwritable cache only costs the derivation next time."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        temp = path.with_suffix(f".tmp-{os.getpid()}")
        with open(temp, "wb") as handle:
            pickle.dump(spec, handle, protocol=pickle.HIGHEST_PROTOCOL)
        os.replace(temp, path)
    except OSError:
        pass


class _PlainData(pickle.Unpickler):
    """Dicts, lists, strings, bytes and numbers only: a cache file cannot name code to run.

    pickle rather than marshal or JSON: it loads Llama 3's 128k byte strings in ~40 ms, marshal in ~250.
    """

    def find_class(self, module: str, name: str):
        raise pickle.UnpicklingError(f"{module}.{name} in a tokenizer cache file")


def core_bpe_class() -> type:
    """tiktoken's Rust ``CoreBPE`` class, loaded without running ``tiktoken/__init__.py``.

    ``from tiktoken._tiktoken import CoreBPE`` runs the package first, which imports ``regex`` (~30 ms
    of start-up). The extension is registered under its own name, so a later ``import tiktoken``
    uses this module (a PyO3 module cannot be initialized twice in one process).
    """
    import importlib.machinery
    import importlib.util
    import sys

    name = "tiktoken._tiktoken"
    if name not in sys.modules:
        package = importlib.util.find_spec("tiktoken")  # finds the folder, runs nothing
        found = importlib.machinery.PathFinder.find_spec("_tiktoken", package.submodule_search_locations)
        spec = importlib.util.spec_from_file_location(name, found.origin)
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    return sys.modules[name].CoreBPE


class FastBpe:
    """tiktoken with the verified spec; documents it cannot vouch for go to ``reference()``'s encoder.

    tiktoken's Rust ``CoreBPE`` is used directly (the verified versions' API): its Python wrapper
    imports the ``regex`` module (~30 ms of start-up) and makes a thread pool per batch (see
    :func:`core_bpe_class`). Each document is encoded to a buffer of uint32 ids
    (``encode_to_tiktoken_buffer``, what tiktoken's ``encode_to_numpy`` uses): it releases the GIL and
    makes no Python int per token, so a thread per core encodes in parallel (``encode_ordinary`` holds
    the GIL in tiktoken 0.14 and builds a list: ~1.6x the CPU on two threads).
    """

    def __init__(self, spec: dict, reference, threads: int | None = None):
        from concurrent.futures import ThreadPoolExecutor
        from threading import Lock

        self.core = core_bpe_class()(spec["ranks"], spec["specials"], spec["pattern"])
        self.specials = set(spec["specials"])  # matched in text, as tokenizers matches added tokens
        self._special_prefixes = sorted({token[:2] for token in self.specials})
        self._reference, self._backend, self._lock = reference, None, Lock()
        self.threads = threads or os.cpu_count() or 1  # a pool worker sets 1: the workers use the cores
        self._pool = ThreadPoolExecutor(self.threads)  # threads start on first use
        self.routed = 0  # documents sent to the reference

    def _encode_fast(self, texts: list[str]) -> list:
        """Ids of each text as an ``array("I")`` (uint32; a list with tiktoken 0.7), in order.

        With threads: strided parts, four per thread (balanced without knowing lengths, few tasks).
        """
        if len(texts) < 2 or self.threads < 2:
            return self._encode_part(texts)
        parts = min(len(texts), 4 * self.threads)
        ids: list = [None] * len(texts)
        for start, encoded in enumerate(self._pool.map(self._encode_part, [texts[i::parts] for i in range(parts)])):
            ids[start::parts] = encoded
        return ids

    def _encode_part(self, texts: list[str]) -> list:
        """Specials are matched only where a special token's first two characters occur (a substring
        search; exact: no special can match elsewhere); passing the set costs ~40% more per call.

        The buffer's byte length is right but its shape counts bytes as items (tiktoken 0.14), so it
        is read as bytes (``cast("B")``), never through its shape.
        """
        prefixes, specials, none = self._special_prefixes, self.specials, set()
        if not hasattr(self.core, "encode_to_tiktoken_buffer"):  # tiktoken 0.7: lists (encode releases the GIL)
            return [self.core.encode(text, specials if any(p in text for p in prefixes) else none) for text in texts]
        encode, out = self.core.encode_to_tiktoken_buffer, []
        for text in texts:
            ids = array("I")
            ids.frombytes(memoryview(encode(text, specials if any(p in text for p in prefixes) else none)).cast("B"))
            out.append(ids)
        return out

    def _reference_ids(self, texts: list[str]) -> list[list[int]]:
        with self._lock:  # two chunks may be in flight (recipes.data.encode): load the reference once
            if self._backend is None:
                self._backend = self._reference()
            self.routed += len(texts)
        return [encoding.ids for encoding in self._backend.encode_batch_fast(texts, add_special_tokens=False)]

    def encode(self, texts: list[str]) -> list:
        """Ids of each text as ``tokenizers`` gives them without special tokens: an ``array("I")``
        from the fast path, a list of ints from the reference (``list(ids)`` compares either)."""
        routed = routed_texts(texts)
        if not routed:
            return self._encode_fast(texts)
        ids: list = [None] * len(texts)
        keep = set(routed)
        fast = [i for i in range(len(texts)) if i not in keep]
        for i, encoded in zip(fast, self._encode_fast([texts[i] for i in fast])):
            ids[i] = encoded
        for i, encoded in zip(routed, self._reference_ids([texts[i] for i in routed])):
            ids[i] = encoded
        return ids
