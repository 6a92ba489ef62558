"""Pretraining samples from Megatron mmap (.bin/.idx) data, for the small-model backend.

Like Megatron's GPTDataset: documents of one split are shuffled with the seed, concatenated into
one token stream (each document already ends with EOD) and cut into samples of ``seq_length + 1``
tokens (consecutive samples share one boundary token). Several weighted prefixes (the shared
``recipes.data.mmap_paths`` syntax, as on the Megatron backend) are interleaved deterministically in
proportion to their weights.
"""

from __future__ import annotations

import os

import numpy as np

from recipes.core.errors import UsageError
from recipes.data.mmap_paths import parse_mmap_paths

SPLITS = ("train", "validation", "test")


def resolve_blend(spec: str | list[str]) -> list[tuple[float, str]]:
    """``[(weight, prefix), ...]`` from the shared ``--dataset_path`` parser, each prefix checked on disk."""
    blend = parse_mmap_paths(spec)
    for _, prefix in blend:
        for ext in (".bin", ".idx"):
            if not os.path.isfile(prefix + ext):
                raise UsageError(f"--dataset_path: {prefix}{ext} not found; pass the prefix of an existing "
                                 ".bin/.idx pair (without extension), made with python -m recipes.preprocess")
    return blend


def split_bounds(split: str, count: int) -> list[tuple[int, int]]:
    """Megatron's ``"900,50,50"`` -> contiguous [start, end) document ranges for train/validation/test."""
    parts = [float(x) for x in split.replace("/", ",").split(",")]
    parts = (parts + [0.0, 0.0, 0.0])[:3]
    if sum(parts) <= 0:
        raise UsageError(f"data.split {split!r}: needs a positive train share, e.g. '900,50,50'")
    edges = [0]
    for part in parts:
        edges.append(edges[-1] + int(round(part / sum(parts) * count)))
    edges[-1] = count
    return [(edges[i], min(edges[i + 1], count)) for i in range(3)]


class MmapSamples:
    """Fixed-length samples of one split of one .bin/.idx prefix."""

    def __init__(self, prefix: str, split: str, which: str, seq_length: int, seed: int):
        from megatron.core.datasets.indexed_dataset import IndexedDataset

        self.dataset = IndexedDataset(prefix)
        self.seq_length = seq_length
        doc_index = np.asarray(self.dataset.document_indices)
        lo, hi = split_bounds(split, len(doc_index) - 1)[SPLITS.index(which)]
        sequences = np.arange(doc_index[lo], doc_index[hi], dtype=np.int64)
        self.order = np.random.default_rng([seed, SPLITS.index(which)]).permutation(sequences)
        lengths = np.asarray(self.dataset.sequence_lengths)[self.order].astype(np.int64)
        self.offsets = np.concatenate([[0], np.cumsum(lengths)])

    def __len__(self) -> int:
        return max(0, int(self.offsets[-1] - 1) // self.seq_length)

    def __getitem__(self, index: int) -> dict:
        start, need = index * self.seq_length, self.seq_length + 1
        seq = int(np.searchsorted(self.offsets, start, side="right") - 1)
        pieces, offset = [], start - int(self.offsets[seq])
        while need > 0:
            length = min(need, int(self.offsets[seq + 1] - self.offsets[seq]) - offset)
            pieces.append(self.dataset.get(int(self.order[seq]), offset=offset, length=length))
            need, seq, offset = need - length, seq + 1, 0
        tokens = np.concatenate(pieces).astype(np.int64)
        return {"input_ids": tokens[:-1], "labels": tokens[1:]}


class BlendedSamples:
    """Interleaves datasets so that every prefix of the stream follows the weights (smooth round robin)."""

    def __init__(self, datasets: list, weights: list[float]):
        self.datasets = datasets
        total = sum(len(d) for d in datasets)
        counts = [int(round(w * total)) for w in weights]
        keys = np.concatenate([(np.arange(n) + 0.5) / max(w, 1e-12) for n, w in zip(counts, weights)])
        source = np.concatenate([np.full(n, i, dtype=np.int32) for i, n in enumerate(counts)])
        rank = np.concatenate([np.arange(n, dtype=np.int64) for n in counts])
        order = np.argsort(keys, kind="stable")
        self.source, self.rank = source[order], rank[order]

    def __len__(self) -> int:
        return len(self.source)

    def __getitem__(self, index: int) -> dict:
        dataset = self.datasets[self.source[index]]
        return dataset[int(self.rank[index] % len(dataset))]  # an over-weighted prefix wraps around


def build_mmap_samples(paths: str, split: str, which: str, seq_length: int, seed: int):
    """The samples of split ``which`` over all (weighted) prefixes of ``paths``."""
    blend = resolve_blend(paths)
    datasets = [MmapSamples(prefix, split, which, seq_length, seed) for _, prefix in blend]
    kept = [(w, d) for (w, _), d in zip(blend, datasets) if len(d) > 0 and w > 0]
    if not kept:
        return []
    if len(kept) == 1:
        return kept[0][1]
    total = sum(w for w, _ in kept)
    return BlendedSamples([d for _, d in kept], [w / total for w, _ in kept])
