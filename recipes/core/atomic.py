"""One atomic-output mechanism for the commands that write files or folders.

``output_problems`` checks an output path before any work (exists without ``--overwrite``, lies
under a file, is a file where a folder is wanted, holds an input, not writable) and returns the
problems as lines, so a command can report them with its other argument problems. ``atomic_dir`` /
``atomic_file`` yield a temporary sibling; on success its files are fsync'ed and it is renamed into
place (an older output is swapped out only once the new one is complete); on any failure the
temporary and every folder the command created are removed: nothing is left behind.
"""

from __future__ import annotations

import contextlib
import os
import shutil
from pathlib import Path
from typing import Iterable, Iterator

OVERWRITE_FLAG = "--overwrite"


def output_problems(path: str | os.PathLike, overwrite: bool, flag: str, folder: bool = True,
                    inputs: Iterable[str | os.PathLike] = ()) -> list[str]:
    """Everything wrong with writing ``path`` (a folder, or a file with ``folder=False``); [] if fine."""
    path = Path(path)
    blocker = _file_ancestor(path)
    if blocker is not None:
        return [f"{flag} {path}: {blocker} is a file, not a folder; choose a path outside it"]
    if path.exists() or path.is_symlink():
        if folder and not path.is_dir():
            return [f"{flag} {path} is a file; pass a folder path"]
        if not folder and path.is_dir():
            return [f"{flag} {path} is a folder; pass a file path"]
        if _holds_any(path, inputs):
            return [f"{flag} {path} holds an input of this command; choose another path"]
        if _non_empty(path) and not overwrite:
            return [f"{flag} {path} already exists and is not empty; pass {OVERWRITE_FLAG} to replace it "
                    "or choose another path"]
    parent = _existing_ancestor(path)
    if not os.access(parent, os.W_OK | os.X_OK):
        return [f"{flag} {path}: {parent} is not writable; choose a folder you can write to"]
    return []


def _file_ancestor(path: Path) -> Path | None:
    """The first ancestor of ``path`` that exists but is not a folder (``out.txt/report.json``)."""
    for parent in reversed(path.absolute().parents):
        if parent.exists() and not parent.is_dir():
            return parent
        if not parent.exists():
            return None
    return None


def _existing_ancestor(path: Path) -> Path:
    parent = path.absolute().parent
    while not parent.exists():
        parent = parent.parent
    return parent


def _non_empty(path: Path) -> bool:
    if path.is_dir():
        return any(path.iterdir())
    return path.is_symlink() or path.stat().st_size > 0


def _holds_any(path: Path, inputs: Iterable[str | os.PathLike]) -> bool:
    """Replacing ``path`` would delete one of ``inputs`` (it is the input or a folder above it)."""
    root = path.resolve()
    for item in inputs:
        resolved = Path(item).resolve()
        if resolved == root or root in resolved.parents:
            return True
    return False


@contextlib.contextmanager
def atomic_dir(path: str | os.PathLike) -> Iterator[Path]:
    """Yield an empty temporary folder next to ``path``; it becomes ``path`` when the block succeeds."""
    with _staged(Path(path), folder=True) as temp:
        yield temp


@contextlib.contextmanager
def atomic_file(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary file path next to ``path``; it becomes ``path`` when the block succeeds."""
    with _staged(Path(path), folder=False) as temp:
        yield temp


@contextlib.contextmanager
def _staged(final: Path, folder: bool) -> Iterator[Path]:
    created = _make_parents(final.parent)
    temp = temp_sibling(final, "tmp")
    try:
        remove(temp)
        if folder:
            temp.mkdir()
        yield temp
        if not temp.exists():
            raise RuntimeError(f"nothing was written to {temp}")
        _fsync_tree(temp)
        promote(temp, final)
    except BaseException:
        remove(temp)
        if created is not None:
            shutil.rmtree(created, ignore_errors=True)
        raise


def temp_sibling(final: Path, kind: str) -> Path:
    # Same folder, so the rename is atomic (one filesystem); hidden, so nobody picks a half copy up.
    return final.parent / f".{final.name}.{kind}-{os.getpid()}"


def _make_parents(folder: Path) -> Path | None:
    """Create ``folder`` and its missing parents; return the topmost one created (None if all existed)."""
    missing = [p for p in [folder, *folder.parents] if not p.exists()]
    folder.mkdir(parents=True, exist_ok=True)
    return missing[-1] if missing else None


def _fsync_tree(path: Path) -> None:
    files = [path] if path.is_file() else [p for p in path.rglob("*") if p.is_file() and not p.is_symlink()]
    for item in files:
        with open(item, "rb") as handle:
            os.fsync(handle.fileno())
    directory = os.open(path.parent if path.is_file() else path, os.O_RDONLY)
    try:
        os.fsync(directory)
    finally:
        os.close(directory)


def promote(temp: Path, final: Path) -> None:
    """Rename a finished ``temp`` to ``final``; an existing ``final`` is swapped out only then."""
    if not (final.exists() or final.is_symlink()):
        os.replace(temp, final)
        return
    # --overwrite: the old output stays in place until the new one is complete.
    old = temp_sibling(final, "old")
    remove(old)
    os.replace(final, old)
    try:
        os.replace(temp, final)
    except BaseException:
        os.replace(old, final)
        raise
    remove(old)


def remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    elif path.exists() or path.is_symlink():
        path.unlink()
