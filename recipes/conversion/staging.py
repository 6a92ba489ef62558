"""Output safety: refuse to clobber, check free disk space, write under a temp name, rename at the end."""

from __future__ import annotations

import contextlib
import os
import shutil
from pathlib import Path
from typing import Iterator

from recipes.core.atomic import promote as _promote
from recipes.core.atomic import remove as _remove
from recipes.core.atomic import temp_sibling
from recipes.core.errors import UsageError

GiB = 1024**3
# Headroom over the estimate: tokenizer, context, metadata, filesystem slack.
_MARGIN_BYTES = 256 * 1024**2
_MARGIN_FACTOR = 1.05


def human(n: int) -> str:
    return f"{n / GiB:.1f} GiB" if n >= GiB / 10 else f"{n / 1024**2:.0f} MiB"


def tree_bytes(path: Path) -> int:
    if path.is_file():
        return path.stat().st_size
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def check_output(output: Path, overwrite: bool, needed_bytes: int, flag: str = "--output_path") -> Path:
    """Validate ``output`` before anything is written; returns it absolute."""
    output = Path(output).expanduser().absolute()
    if output.exists() and not overwrite:
        raise UsageError(f"{flag} {output} already exists; pass --overwrite to replace it or choose another path")
    if output.exists() and not output.is_dir():
        raise UsageError(f"{flag} {output} is a file; conversions write a directory, choose another path")
    parent = _existing_parent(output)
    if not os.access(parent, os.W_OK):
        raise UsageError(f"{flag} {output}: {parent} is not writable; choose a directory you can write to")
    need = int(needed_bytes * _MARGIN_FACTOR) + _MARGIN_BYTES
    free = shutil.disk_usage(parent).free
    if free < need:
        raise UsageError(
            f"{flag} {output}: not enough free disk space on {parent}: about {human(need)} needed, "
            f"{human(free)} free; free some space or write to another filesystem"
        )
    return output


def _existing_parent(path: Path) -> Path:
    parent = path.parent
    while not parent.exists():
        parent = parent.parent
    return parent


def _temp_name(output: Path, kind: str) -> Path:
    return temp_sibling(output, kind)


@contextlib.contextmanager
def staged_output(output: Path) -> Iterator[Path]:
    """Yield a temp path next to ``output``; on success move it to ``output``, on any failure
    (including Ctrl-C) delete it, so ``output`` is either complete or untouched."""
    output.parent.mkdir(parents=True, exist_ok=True)
    staging = _temp_name(output, "partial")
    _remove(staging)
    try:
        yield staging
        if not staging.is_dir():
            raise RuntimeError(f"conversion finished but wrote nothing to {staging}")
        _promote(staging, output)
    finally:
        _remove(staging)
        _remove(staging.with_name(staging.name + ".lock"))  # NeMo's connector lock file


@contextlib.contextmanager
def scratch_dir(output: Path, kind: str) -> Iterator[Path]:
    """A temporary intermediate next to ``output`` (same filesystem the disk check covered); always removed."""
    path = _temp_name(output, kind)
    _remove(path)
    try:
        yield path
    finally:
        _remove(path)
