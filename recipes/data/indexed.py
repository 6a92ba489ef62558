"""Writer of megatron-core's mmap ``IndexedDataset`` (``.bin`` + ``.idx``), in flat memory.

The format (megatron/core/datasets/indexed_dataset.py, ``_IndexWriter``): the ``.bin`` is every
token of every sequence back to back in the dataset dtype; the ``.idx`` is the header
``MMIDIDX\\x00\\x00``, ``<Q`` version 1, ``<B`` dtype code, ``<Q`` sequence count, ``<Q`` document
count (document indices, including the leading 0), then int32 sequence lengths, int64 byte
pointers of the sequences, int64 document indices (the sequence count at each document's end).
``IndexedDatasetBuilder`` keeps all of that in Python lists; here lengths and document indices go
to side files as they come, so memory does not grow with the input, and the index is streamed
out at the end. Tests compare the bytes with ``IndexedDatasetBuilder``'s.
"""

from __future__ import annotations

import os
import struct

import numpy as np

INDEX_HEADER = b"MMIDIDX\x00\x00"
DTYPE_CODES = {np.uint8: 1, np.int8: 2, np.int16: 3, np.int32: 4, np.int64: 5, np.float64: 6, np.float32: 7,
               np.uint16: 8}
SIDE_SUFFIXES = (".len", ".doc")
BLOCK = 1 << 20  # sequences per block when streaming the index out


def optimal_dtype(vocab_size: int | None) -> type:
    """megatron-core's ``DType.optimal_dtype``: uint16 below 65500 tokens, else int32."""
    return np.uint16 if vocab_size is not None and vocab_size < 65500 else np.int32


class IndexedWriter:
    """Appends documents to ``bin_path``; :meth:`finalize` writes ``idx_path``."""

    def __init__(self, bin_path: str, dtype: type):
        self.bin_path, self.dtype = bin_path, np.dtype(dtype).type
        self.side = {suffix: bin_path + suffix for suffix in SIDE_SUFFIXES}
        self.files = {}
        try:
            self.files["bin"] = open(bin_path, "wb")
            self.files["len"] = open(self.side[".len"], "wb")
            self.files["doc"] = open(self.side[".doc"], "wb")
        except OSError:
            self.remove()
            raise
        self.files["doc"].write(np.zeros(1, dtype=np.int64).tobytes())  # document_indices starts at 0
        self.sequences = self.documents = 0

    def add(self, tokens: np.ndarray, sequence_lengths: np.ndarray, document_sequences: np.ndarray) -> None:
        """Documents of a chunk: all tokens, each sequence's length, each document's sequence count."""
        self.files["bin"].write(np.ascontiguousarray(tokens, dtype=self.dtype).tobytes())
        self.files["len"].write(np.ascontiguousarray(sequence_lengths, dtype=np.int32).tobytes())
        ends = self.sequences + np.cumsum(document_sequences, dtype=np.int64)
        self.files["doc"].write(ends.tobytes())
        self.sequences += len(sequence_lengths)
        self.documents += len(document_sequences)

    def add_dataset(self, prefix: str) -> None:
        """Append a whole ``<prefix>.bin/.idx`` of the same dtype (a shard): its tokens and documents, in order."""
        dtype, lengths, document_indices = read_index(prefix + ".idx")
        if dtype != self.dtype:
            raise ValueError(f"{prefix}.idx holds {np.dtype(dtype).name}, this dataset {np.dtype(self.dtype).name}")
        _copy(prefix + ".bin", self.files["bin"])
        for start in range(0, len(lengths), BLOCK):  # blocks: memory stays flat however large the shard
            self.files["len"].write(np.ascontiguousarray(lengths[start:start + BLOCK]).tobytes())
        for start in range(1, len(document_indices), BLOCK):
            ends = document_indices[start:start + BLOCK].astype(np.int64) + self.sequences
            self.files["doc"].write(ends.tobytes())
        self.sequences += len(lengths)
        self.documents += len(document_indices) - 1

    def finalize(self, idx_path: str) -> None:
        for handle in self.files.values():
            handle.close()
        itemsize = np.dtype(self.dtype).itemsize
        with open(idx_path, "wb") as out:
            out.write(INDEX_HEADER + struct.pack("<Q", 1) + struct.pack("<B", DTYPE_CODES[self.dtype]))
            out.write(struct.pack("<Q", self.sequences) + struct.pack("<Q", self.documents + 1))
            _copy(self.side[".len"], out)
            pointer = 0
            for lengths in _blocks(self.side[".len"], np.int32):
                ends = np.cumsum(lengths, dtype=np.int64) * itemsize
                out.write((pointer + np.concatenate(([0], ends[:-1]))).astype(np.int64).tobytes())
                pointer += int(ends[-1])
            _copy(self.side[".doc"], out)
        for path in self.side.values():
            os.remove(path)

    def remove(self) -> None:
        """Close and delete everything written so far (data and side files)."""
        for handle in self.files.values():
            handle.close()
        for path in (self.bin_path, *self.side.values()):
            if os.path.exists(path):
                os.remove(path)


def read_index(idx_path: str) -> tuple[type, np.ndarray, np.ndarray]:
    """(dtype, sequence lengths, document indices) of an ``.idx`` in the format above."""
    with open(idx_path, "rb") as handle:
        header = handle.read(len(INDEX_HEADER) + 8 + 1 + 8 + 8)
    if header[:len(INDEX_HEADER)] != INDEX_HEADER:
        raise ValueError(f"{idx_path}: not a megatron-core mmap index")
    code = header[len(INDEX_HEADER) + 8]
    sequences, documents = struct.unpack("<QQ", header[len(INDEX_HEADER) + 9:])
    dtype = next(kind for kind, value in DTYPE_CODES.items() if value == code)
    lengths = _array(idx_path, np.int32, len(header), sequences)
    document_indices = _array(idx_path, np.int64, len(header) + sequences * 12, documents)
    return dtype, lengths, document_indices


def _array(path: str, dtype, offset: int, count: int) -> np.ndarray:
    return np.memmap(path, dtype, "r", offset, (count,)) if count else np.zeros(0, dtype)


def _blocks(path: str, dtype) -> "iter[np.ndarray]":
    with open(path, "rb") as handle:
        while True:
            data = handle.read(BLOCK * np.dtype(dtype).itemsize)
            if not data:
                return
            yield np.frombuffer(data, dtype=dtype)


def _copy(path: str, out) -> None:
    with open(path, "rb") as handle:
        while True:
            data = handle.read(BLOCK * 8)
            if not data:
                return
            out.write(data)
