"""Cut the inputs of ``recipes.preprocess --shards N`` into N ordered, non-empty shards.

Deterministic from the file list and sizes, computed once at submission and recorded in the manifest
(:mod:`recipes.data.shards`). With at least N files each shard is a run of whole files (any format),
balanced by size. With fewer, the files (uncompressed JSONL) are cut as one byte stream at N-1 line
boundaries: shard i starts at the first line start at or after ``i * total // N``. Either way the
shards, read in order, are exactly the input in its order, so their concatenation equals a
one-process run.
"""

from __future__ import annotations

import os

from recipes.data.inputs import JSONL_SUFFIXES, ByteRange

SPLITTABLE = tuple(s for s in JSONL_SUFFIXES if not s.endswith(".gz"))
BLOCK = 1 << 20


class PlanError(ValueError):
    """The inputs cannot be cut into the requested shards (one line naming --shards or the file)."""


def plan_shards(files: list[str], count: int) -> list[list[ByteRange]]:
    """``count`` lists of :class:`ByteRange`, in input order; :class:`PlanError` when impossible."""
    sizes = [os.path.getsize(path) for path in files]
    if not files or sum(sizes) == 0:
        raise PlanError(f"--input: {files[0] if len(files) == 1 else 'the input files'} "
                        "empty; pass a file with documents")
    if len(files) >= count:
        return _whole_files(files, sizes, count)
    unsplittable = [path for path in files if not path.lower().endswith(SPLITTABLE)]
    if unsplittable:
        raise PlanError(f"--shards {count}: {unsplittable[0]} cannot be cut at line boundaries (compressed or "
                        f"parquet) and there are only {len(files)} file(s); pass --shards {len(files)} or "
                        "uncompressed JSONL")
    return _byte_ranges(files, sizes, count)


def _whole_files(files: list[str], sizes: list[int], count: int) -> list[list[ByteRange]]:
    """Contiguous runs of whole files, cut where the running size passes i/count of the total."""
    total, starts, running = sum(sizes), [], 0
    for size in sizes:
        starts.append(running)
        running += size
    cuts = [0]
    for i in range(1, count):
        first = next((j for j, start in enumerate(starts) if start * count >= i * total), len(files))
        cuts.append(min(max(first, cuts[-1] + 1), len(files) - (count - i)))  # every shard gets a file
    cuts.append(len(files))
    return [[ByteRange(path) for path in files[a:b]] for a, b in zip(cuts, cuts[1:])]


def _byte_ranges(files: list[str], sizes: list[int], count: int) -> list[list[ByteRange]]:
    total = sum(sizes)
    offsets = [sum(sizes[:j]) for j in range(len(files))]
    cuts = [0] + [_line_start(files, sizes, offsets, i * total // count) for i in range(1, count)] + [total]
    if any(b <= a for a, b in zip(cuts, cuts[1:])):
        lines = sum(_count_lines(path, 0, size, trailing=True) for path, size in zip(files, sizes))
        if lines < count:
            raise PlanError(f"--shards {count}: {_name(files)} has only {lines} line(s), fewer than the shards; "
                            f"pass --shards {max(lines, 1)} or fewer")
        raise PlanError(f"--shards {count}: {_name(files)} cannot be cut into {count} non-empty parts at line "
                        f"boundaries (some lines are longer than 1/{count} of it); pass a smaller --shards")
    shards, counted = [], {path: (0, 0) for path in files}  # per file: (offset, lines before it) so far
    for a, b in zip(cuts, cuts[1:]):
        parts = []
        for path, size, offset in zip(files, sizes, offsets):
            start, end = max(a, offset) - offset, min(b, offset + size) - offset
            if end > start:
                where, lines = counted[path]  # each byte is counted once: shards come in file order
                lines += _count_lines(path, where, start)
                counted[path] = (start, lines)
                parts.append(ByteRange(path, start, end, 1 + lines))
        shards.append(parts)
    return shards


def _name(files: list[str]) -> str:
    return files[0] if len(files) == 1 else f"the {len(files)} input files"


def _line_start(files: list[str], sizes: list[int], offsets: list[int], target: int) -> int:
    """The first line start at or after global byte ``target`` (a file's start is one; so is its end)."""
    j = max(k for k, offset in enumerate(offsets) if offset <= target)
    local = target - offsets[j]
    if local == 0:
        return target
    with open(files[j], "rb") as handle:
        handle.seek(local - 1)  # a line starts at `local` when the byte before it ends a line
        position = local - 1
        while True:
            block = handle.read(BLOCK)
            if not block:
                return offsets[j] + sizes[j]
            found = block.find(b"\n")
            if found >= 0:
                return offsets[j] + position + found + 1
            position += len(block)


def _count_lines(path: str, start: int, end: int, trailing: bool = False) -> int:
    """Newlines in bytes ``[start, end)``; with ``trailing`` a last line without one counts too."""
    count, last = 0, b"\n"
    with open(path, "rb") as handle:
        handle.seek(start)
        left = end - start
        while left > 0:
            block = handle.read(min(BLOCK, left))
            if not block:
                break
            count += block.count(b"\n")
            last, left = block[-1:], left - len(block)
    return count + (1 if trailing and last != b"\n" else 0)
