"""Differential fuzzing of the tiktoken fast path against the ``tokenizers`` library (the reference).

    python scripts/fuzz_fast_bpe.py --mb 20                  # generated multilingual text, 20 MB
    python scripts/fuzz_fast_bpe.py --probe-code-points      # every code point in a few contexts

``--mb``: documents of ``tests/unit/data/multilingual.py`` (another seed than the unit test's) through
the fast path as ``recipes.preprocess`` runs it (routing on) and through ``tokenizers``; prints how
many differ, with the first differences. ``--probe-code-points``: every Unicode code point in contexts
that exercise each class of Llama 3's pre-tokenizer pattern, with routing off; the code points where
the engines disagree are what the routing rule of ``recipes/data/fast_bpe.py`` must cover
(printed as ranges). Also called by ``scripts/bench_preprocess.py --fuzz-mb``.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests" / "unit" / "data")]

# '{}' is the code point. "{}'s" shows letters ('s is a contraction after a letter, else glued to
# punctuation), "{}23" digits (grouped by three), "x{}y" spaces, "'{}" the case-insensitive contractions.
CONTEXTS = ["{}'s", "{}23", "x{}y", "'{}", " {}x", "{}\n\n"]


def engines(folder: str, route: bool = True):
    """(fast path encode, reference encode) for a tokenizer folder."""
    from recipes.data import fast_bpe
    from recipes.data.doc_tokenizer import _load_backend

    spec, why = fast_bpe.load_spec(folder, lambda: _load_backend(folder))
    if spec is None:
        raise SystemExit(f"no fast path for {folder}: {why}")
    fast = fast_bpe.FastBpe(spec, lambda: _load_backend(folder))
    backend = _load_backend(folder)
    reference = lambda texts: [e.ids for e in backend.encode_batch_fast(texts, add_special_tokens=False)]  # noqa
    return (fast.encode if route else fast._encode_fast), reference


def differences(fast, reference, texts: list[str], batch: int = 2000) -> list[int]:
    """Indices of the texts whose ids differ."""
    found = []
    for start in range(0, len(texts), batch):
        part = texts[start:start + batch]
        found += [start + i for i, (a, b) in enumerate(zip(fast(part), reference(part))) if list(a) != b]
    return found


def fuzz(folder: str, megabytes: float, seed: int = 1) -> tuple[int, int]:
    """(documents, documents that differ) on generated text; prints the first differences."""
    from multilingual import documents

    fast, reference = engines(folder)
    texts = list(documents(megabytes, seed))
    differ = differences(fast, reference, texts)
    for index in differ[:5]:
        print(f"  differs: {texts[index][:200]!r}")
    return len(texts), len(differ)


def probe_code_points(folder: str, contexts: list[str] = CONTEXTS) -> list[tuple[int, int]]:
    """Ranges of code points on which the engines disagree in some context (routing off)."""
    fast, reference = engines(folder, route=False)
    points = [p for p in range(0x110000) if not 0xD800 <= p < 0xE000]
    bad: set[int] = set()
    for context in contexts:
        started = time.perf_counter()
        texts = [context.replace("{}", chr(p)) for p in points]
        found = [points[i] for i in differences(fast, reference, texts, batch=20000)]
        print(f"  context {context!r}: {len(found)} code points differ ({time.perf_counter() - started:.0f} s): "
              f"{[(hex(a), hex(b)) for a, b in as_ranges(found)]}", flush=True)
        bad.update(found)
    return as_ranges(sorted(bad))


def as_ranges(points: list[int]) -> list[tuple[int, int]]:
    ranges: list[list[int]] = []
    for point in points:
        if ranges and ranges[-1][1] == point - 1:
            ranges[-1][1] = point
        else:
            ranges.append([point, point])
    return [(lo, hi) for lo, hi in ranges]


def write_unassigned(path: Path = ROOT / "recipes" / "data" / "unassigned.py") -> None:
    """Regenerate the table of code points unassigned in this Python's Unicode version."""
    import textwrap
    import unicodedata

    points = [p for p in range(0x110000) if unicodedata.category(chr(p)) == "Cn"]
    body = " ".join(f"{a:x}-{b:x}" if a != b else f"{a:x}" for a, b in as_ranges(points))
    text = path.read_text(encoding="utf-8")
    head = text[:text.index("UNICODE_VERSION")]
    rows = "".join(f'    "{line} "\n' for line in textwrap.wrap(body, 108))
    path.write_text(f'{head}UNICODE_VERSION = "{unicodedata.unidata_version}"\nUNASSIGNED = (\n{rows})\n',
                    encoding="utf-8")


def main() -> int:
    from recipes.data.tokenizer import bundled_llama3_dir

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mb", type=float, default=0, help="generated text to compare, in MB")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--probe-code-points", action="store_true", help="every code point in a few contexts")
    parser.add_argument("--contexts", nargs="+", default=CONTEXTS,
                        help="with --probe-code-points: texts where '{}' is the code point")
    parser.add_argument("--tokenizer", default=str(bundled_llama3_dir()), help="tokenizer folder (default: bundled)")
    parser.add_argument("--write-unassigned", action="store_true", help="regenerate recipes/data/unassigned.py")
    args = parser.parse_args()
    failed = False
    if args.write_unassigned:
        write_unassigned()
    if args.mb:
        count, differ = fuzz(args.tokenizer, args.mb, args.seed)
        print(f"fuzz {args.mb:g} MB: {count:,} documents, {differ} differ from tokenizers")
        failed |= differ > 0
    if args.probe_code_points:
        ranges = probe_code_points(args.tokenizer, args.contexts)
        from recipes.data.fast_bpe import unvouched

        covered = all(unvouched(point) for a, b in ranges for point in range(a, b + 1))
        print(f"code points where the engines disagree: {[(hex(a), hex(b)) for a, b in ranges]}; "
              f"all routed: {covered}")
        failed |= not covered
    return int(failed)


if __name__ == "__main__":
    sys.exit(main())
