"""``--dataset_path`` for pretraining: Megatron mmap prefixes, optionally weighted, or a directory.

Accepted forms (the Megatron/NeMo conventions):
  ``/data/wiki_text_document``                         one prefix (``.bin``/``.idx`` beside it)
  ``"0.3 /data/a_text_document 0.7 /data/b_text_document"``  weighted blend
  ``/data/preprocessed/``                              every ``.bin``/``.idx`` pair in the folder, equal weights
"""

from __future__ import annotations

import math
from pathlib import Path

from recipes.core.errors import UsageError
from recipes.data.mmap_index import index_problems

FLAG = "-D/--dataset_path"


def _strip_suffix(path: str) -> str:
    for suffix in (".bin", ".idx"):
        if path.endswith(suffix):
            return path[: -len(suffix)]
    return path


def parse_mmap_paths(spec: str | list[str]) -> list[tuple[float, str]]:
    """``[(weight, prefix), ...]`` with weights normalised to sum to 1. Raises UsageError on bad syntax."""
    tokens = spec.split() if isinstance(spec, str) else [str(t) for t in spec]
    if not tokens:
        raise UsageError(f"{FLAG}: empty; pass a prefix like /data/wiki_text_document or a folder of .bin/.idx")
    if len(tokens) == 1:
        path = Path(tokens[0]).expanduser()
        if path.is_dir():
            prefixes = sorted(str(p.with_suffix("")) for p in path.glob("*.bin"))
            if not prefixes:
                raise UsageError(f"{FLAG}: folder {path} has no .bin/.idx pairs; run `python -m recipes.preprocess` first")
            return [(1.0 / len(prefixes), p) for p in prefixes]
        return [(1.0, str(Path(_strip_suffix(tokens[0])).expanduser()))]
    if len(tokens) % 2:
        raise UsageError(f"{FLAG}: weighted form needs pairs 'WEIGHT PREFIX ...', got {len(tokens)} items")
    pairs = []
    for weight, prefix in zip(tokens[::2], tokens[1::2]):
        try:
            value = float(weight)
        except ValueError:
            raise UsageError(f"{FLAG}: {weight!r} is not a weight; use 'WEIGHT PREFIX' pairs like '0.3 /data/a 0.7 /data/b'") from None
        if not math.isfinite(value) or value <= 0:
            raise UsageError(f"{FLAG}: weight {weight} must be a finite number > 0")
        pairs.append((value, str(Path(_strip_suffix(prefix)).expanduser())))
    total = sum(w for w, _ in pairs)
    return [(w / total, p) for w, p in pairs]


def missing_files(pairs: list[tuple[float, str]]) -> list[str]:
    """One problem line per prefix whose ``.bin`` or ``.idx`` is missing or whose pair is inconsistent."""
    problems = []
    for _, prefix in pairs:
        has_bin, has_idx = Path(prefix + ".bin").is_file(), Path(prefix + ".idx").is_file()
        if not has_bin and not has_idx:
            problems.append(f"{FLAG}: {prefix}.bin/.idx not found; run `python -m recipes.preprocess` "
                            "or fix the path")
        elif not has_idx:
            problems.append(f"{FLAG}: {prefix}.bin has no {Path(prefix).name}.idx beside it; "
                            "re-run preprocessing (an interrupted run leaves no .idx)")
        elif not has_bin:
            problems.append(f"{FLAG}: {prefix}.idx has no .bin beside it; re-run preprocessing")
        else:
            problems += index_problems(prefix, FLAG)
    return problems
