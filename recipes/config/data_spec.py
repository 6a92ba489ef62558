"""``-D/--dataset_path`` parsed once into a typed value: an mmap blend, an SFT folder or mock data.

Planning makes it (:func:`parse_data`); validation, job paths/mounts and the backends' data
argument (:attr:`MmapBlend.spec`, ``RecipeOptions.dataset_path``) read it, and an override of
``data.paths=`` / ``data.dataset_root=`` is parsed by the same function.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from recipes.core.errors import UsageError
from recipes.data.mmap_paths import FLAG, parse_mmap_paths


@dataclass(frozen=True)
class MmapBlend:
    pairs: tuple[tuple[float, str], ...]  # (weight normalised to sum 1, absolute prefix)

    @property
    def spec(self) -> str:
        """The canonical ``-D`` text the backends receive (one prefix, or ``W1 P1 W2 P2``)."""
        if len(self.pairs) == 1:
            return self.pairs[0][1]
        return " ".join(f"{weight!r} {prefix}" for weight, prefix in self.pairs)

    @property
    def folders(self) -> list[str]:
        return [str(Path(prefix).parent) for _, prefix in self.pairs]


@dataclass(frozen=True)
class SFTFolder:
    path: str

    @property
    def spec(self) -> str:
        return self.path

    @property
    def folders(self) -> list[str]:
        return [self.path]


@dataclass(frozen=True)
class MockData:
    spec = None
    folders: tuple = ()


DataSpec = MmapBlend | SFTFolder | MockData


def _absolute(path: str) -> str:
    return str(Path(path).expanduser().absolute())


def parse_data(task: str, raw, mock: bool = False) -> tuple[DataSpec | None, list[str]]:
    """(typed data, problems). ``raw``: the ``-D`` text, or a ``data.paths`` list from an override."""
    if mock and raw:
        return None, [f"--mock_data: conflicts with {FLAG}; pass one of them"]
    if mock:
        return MockData(), []
    if not raw:
        return None, []
    if task != "pretrain":
        return SFTFolder(_absolute(str(raw))), []
    try:
        pairs = parse_mmap_paths(raw)
    except UsageError as exc:
        return None, [str(exc)]
    return MmapBlend(tuple((weight, _absolute(prefix)) for weight, prefix in pairs)), []
