"""Pretraining samples from Megatron mmap (.bin/.idx) data, for the small-model backend.

Like Megatron's GPTDataset: documents of one split are shuffled with the seed, concatenated into
one token stream (each document already ends with EOD) and cut into samples of ``seq_length + 1``
tokens (consecutive samples share one boundary token). Several weighted prefixes are interleaved
deterministically in proportion to their weights.
"""

from __future__ import annotations

import os
import struct
from pathlib import Path

import numpy as np

from recipes.errors import UsageError

_IDX_MAGIC = b"MMIDIDX\x00\x00"
# Megatron DType codes -> bytes per token (indexed_dataset.DType).
_DTYPE_BYTES = {1: 1, 2: 1, 3: 2, 4: 4, 5: 8, 6: 8, 7: 4, 8: 2}
SPLITS = ("train", "validation", "test")


def parse_mmap_paths(spec: str | list[str]) -> list[tuple[float, str]]:
    """``"0.3 /a 0.7 /b"`` | ``"/a /b"`` | ``"/a"`` | ``"/dir"`` -> ``[(weight, prefix), ...]``, weights summing to 1.

    Without explicit weights each prefix weighs its share of tokens (Megatron's concatenation).
    A directory stands for every ``.bin``/``.idx`` pair in it.
    """
    tokens = spec.split() if isinstance(spec, str) else [str(item) for item in spec]
    if not tokens:
        raise UsageError("--dataset_path: empty; pass an mmap prefix, '0.3 /a 0.7 /b', or a directory of .bin/.idx")
    if len(tokens) % 2 == 0 and all(_is_number(tok) for tok in tokens[::2]):
        weights = [float(tok) for tok in tokens[::2]]
        prefixes = [_check_prefix(tok) for tok in tokens[1::2]]
        if any(w < 0 for w in weights) or sum(weights) <= 0:
            raise UsageError(f"--dataset_path: weights {weights} must be >= 0 and not all 0")
    else:
        if any(_is_number(tok) for tok in tokens):
            raise UsageError(f"--dataset_path: {spec!r} mixes weights and paths; "
                             "give a weight before every prefix ('0.3 /a 0.7 /b') or none")
        prefixes = [p for tok in tokens for p in _expand(tok)]
        weights = [float(_token_count(p)) for p in prefixes]
    total = sum(weights)
    return [(w / total, p) for w, p in zip(weights, prefixes)]


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return not os.path.exists(text)


def _expand(token: str) -> list[str]:
    if os.path.isdir(token):
        prefixes = sorted(str(p.with_suffix("")) for p in Path(token).glob("*.bin")
                          if p.with_suffix(".idx").exists())
        if not prefixes:
            raise UsageError(f"--dataset_path: directory {token} has no .bin/.idx pairs; "
                             "make them with python -m recipes.preprocess")
        return prefixes
    return [_check_prefix(token)]


def _check_prefix(token: str) -> str:
    prefix = token[:-4] if token.endswith((".bin", ".idx")) else token
    for ext in (".bin", ".idx"):
        if not os.path.isfile(prefix + ext):
            raise UsageError(f"--dataset_path: {prefix}{ext} not found; pass the prefix of an existing "
                             ".bin/.idx pair (without extension), made with python -m recipes.preprocess")
    return prefix


def _token_count(prefix: str) -> int:
    with open(prefix + ".idx", "rb") as handle:
        header = handle.read(len(_IDX_MAGIC) + 9)
    if not header.startswith(_IDX_MAGIC):
        raise UsageError(f"--dataset_path: {prefix}.idx is not a Megatron mmap index; rebuild it with recipes.preprocess")
    dtype_code = struct.unpack("<B", header[len(_IDX_MAGIC) + 8:])[0]
    return os.path.getsize(prefix + ".bin") // _DTYPE_BYTES.get(dtype_code, 4)


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
    blend = parse_mmap_paths(paths)
    datasets = [MmapSamples(prefix, split, which, seq_length, seed) for _, prefix in blend]
    kept = [(w, d) for (w, _), d in zip(blend, datasets) if len(d) > 0 and w > 0]
    if not kept:
        return []
    if len(kept) == 1:
        return kept[0][1]
    total = sum(w for w, _ in kept)
    return BlendedSamples([d for _, d in kept], [w / total for w, _ in kept])
