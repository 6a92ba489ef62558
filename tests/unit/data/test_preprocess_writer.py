"""Our .bin/.idx writer against megatron-core's IndexedDatasetBuilder (bytes) and IndexedDataset (reading)."""

from __future__ import annotations

import random

import numpy as np
import pytest

from recipes.data import indexed
from recipes.data.indexed import IndexedWriter, optimal_dtype


def random_documents(seed: int, count: int, vocab: int) -> list[list[list[int]]]:
    """Documents as lists of sequences; some empty documents, some with several sequences."""
    rng = random.Random(seed)
    documents = []
    for _ in range(count):
        sequences = rng.choice([0, 1, 1, 1, 2, 3])
        documents.append([[rng.randrange(vocab) for _ in range(rng.randint(1, 30))] for _ in range(sequences)])
    return documents


def write_with_builder(documents, prefix, dtype) -> None:
    from megatron.core.datasets.indexed_dataset import IndexedDatasetBuilder

    builder = IndexedDatasetBuilder(f"{prefix}.bin", dtype=dtype)
    for sequences in documents:  # as the tool's Partition.process_json_file calls it
        builder.add_document([token for sequence in sequences for token in sequence], [len(s) for s in sequences])
    builder.finalize(f"{prefix}.idx")


def write_with_ours(documents, prefix, dtype, chunk: int) -> None:
    writer = IndexedWriter(f"{prefix}.bin", dtype)
    for start in range(0, len(documents), chunk):
        part = documents[start:start + chunk]
        writer.add(np.array([t for doc in part for seq in doc for t in seq], dtype=np.int64),
                   np.array([len(seq) for doc in part for seq in doc], dtype=np.int32),
                   np.array([len(doc) for doc in part], dtype=np.int32))
    writer.finalize(f"{prefix}.idx")


@pytest.mark.parametrize("vocab", [32000, 128256])
def test_bytes_equal_indexed_dataset_builder(tmp_path, monkeypatch, vocab):
    from megatron.core.datasets.indexed_dataset import DType, IndexedDataset

    monkeypatch.setattr(indexed, "BLOCK", 7)  # stream the index in many small blocks
    documents = random_documents(vocab, 300, vocab)
    dtype = DType.optimal_dtype(vocab)
    assert optimal_dtype(vocab) == dtype.__name__

    write_with_builder(documents, tmp_path / "ref", dtype)
    write_with_ours(documents, tmp_path / "ours", dtype, chunk=17)

    for suffix in (".bin", ".idx"):
        assert (tmp_path / f"ours{suffix}").read_bytes() == (tmp_path / f"ref{suffix}").read_bytes(), suffix
    dataset = IndexedDataset(str(tmp_path / "ours"))
    flat = [sequence for doc in documents for sequence in doc]
    assert [dataset[i].tolist() for i in range(len(dataset))] == flat
    assert sorted(path.name for path in tmp_path.iterdir()) == ["ours.bin", "ours.idx", "ref.bin", "ref.idx"]


def test_remove_deletes_data_and_side_files(tmp_path):
    writer = IndexedWriter(str(tmp_path / "x.bin"), np.int32)
    writer.add(np.array([1, 2], dtype=np.int32), np.array([2], dtype=np.int32), np.array([1], dtype=np.int32))

    writer.remove()

    assert list(tmp_path.iterdir()) == []
