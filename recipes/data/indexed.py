"""Writer of megatron-core's mmap ``IndexedDataset`` (``.bin`` + ``.idx``), in flat memory, without numpy.

The format (megatron/core/datasets/indexed_dataset.py, ``_IndexWriter``): the ``.bin`` is every
token of every sequence back to back in the dataset dtype; the ``.idx`` is the header
``MMIDIDX\\x00\\x00``, ``<Q`` version 1, ``<B`` dtype code, ``<Q`` sequence count, ``<Q`` document
count (document indices, including the leading 0), then int32 sequence lengths, int64 byte
pointers of the sequences, int64 document indices (the sequence count at each document's end).
``IndexedDatasetBuilder`` keeps all of that in Python lists; here lengths and document indices go
to side files as they come, so memory does not grow with the input, and the index is streamed
out at the end. Tests compare the bytes with ``IndexedDatasetBuilder``'s.

Arrays are the standard library's ``array`` (little-endian on disk, as numpy writes them on the
machines megatron-core runs on): importing numpy would cost a sizeable share of the preprocessor's
start-up. Dtypes are numpy's names (``"uint16"``, ``"int32"``); numpy dtypes and types are accepted too.
"""

from __future__ import annotations

import os
import struct
import sys
from array import array
from itertools import accumulate

INDEX_HEADER = b"MMIDIDX\x00\x00"
HEADER_BYTES = len(INDEX_HEADER) + 8 + 1 + 8 + 8
# numpy name -> (megatron-core's DType code, array typecode)
DTYPES = {"uint8": (1, "B"), "int8": (2, "b"), "int16": (3, "h"), "int32": (4, "i"), "int64": (5, "q"),
          "float64": (6, "d"), "float32": (7, "f"), "uint16": (8, "H")}
SIDE_SUFFIXES = (".len", ".doc")
BLOCK = 1 << 20  # sequences per block when streaming the index out
SWAP = sys.byteorder != "little"
assert array("i").itemsize == 4 and array("q").itemsize == 8


def optimal_dtype(vocab_size: int | None) -> str:
    """megatron-core's ``DType.optimal_dtype`` by name: uint16 below 65500 tokens, else int32."""
    return "uint16" if vocab_size is not None and vocab_size < 65500 else "int32"


def dtype_name(dtype) -> str:
    """``"int32"`` for ``"int32"``, ``numpy.int32`` or ``numpy.dtype("int32")``."""
    name = dtype if isinstance(dtype, str) else getattr(dtype, "name", None) or dtype.__name__
    if name not in DTYPES:
        raise ValueError(f"{name}: not a megatron-core IndexedDataset dtype ({', '.join(DTYPES)})")
    return name


def typed(typecode: str, values) -> array:
    """``values`` as an ``array`` of ``typecode`` (no copy when it already is one)."""
    return values if isinstance(values, array) and values.typecode == typecode else array(typecode, values)


def little_endian(values: array) -> bytes:
    if SWAP:  # pragma: no cover - big-endian machines
        values = array(values.typecode, values)
        values.byteswap()
    return values.tobytes()


def read_header(idx_path: str) -> tuple[str, int, int]:
    """(dtype name, sequence count, document index count) of an ``.idx`` in the format above."""
    with open(idx_path, "rb") as handle:
        header = handle.read(HEADER_BYTES)
    if header[:len(INDEX_HEADER)] != INDEX_HEADER or len(header) != HEADER_BYTES:
        raise ValueError(f"{idx_path}: not a megatron-core mmap index")
    code = header[len(INDEX_HEADER) + 8]
    sequences, documents = struct.unpack("<QQ", header[len(INDEX_HEADER) + 9:])
    return next(name for name, (value, _) in DTYPES.items() if value == code), sequences, documents


class IndexedWriter:
    """Appends documents to ``bin_path``; :meth:`finalize` writes ``idx_path``."""

    def __init__(self, bin_path: str, dtype):
        self.bin_path, self.dtype = bin_path, dtype_name(dtype)
        self.typecode = DTYPES[self.dtype][1]
        self.side = {suffix: bin_path + suffix for suffix in SIDE_SUFFIXES}
        self.files = {}
        try:
            self.files["bin"] = open(bin_path, "wb")
            self.files["len"] = open(self.side[".len"], "wb")
            self.files["doc"] = open(self.side[".doc"], "wb")
        except OSError:
            self.remove()
            raise
        self.files["doc"].write(bytes(8))  # document_indices starts at 0 (int64)
        self.sequences = self.documents = 0

    def add(self, tokens, sequence_lengths, document_sequences) -> None:
        """Documents of a chunk: all tokens, each sequence's length, each document's sequence count
        (``array``s, lists or numpy arrays)."""
        self.files["bin"].write(little_endian(typed(self.typecode, tokens)))
        self.files["len"].write(little_endian(typed("i", sequence_lengths)))
        ends = array("q", accumulate(map(int, document_sequences), initial=self.sequences))
        self.files["doc"].write(little_endian(ends[1:]))
        self.sequences += len(sequence_lengths)
        self.documents += len(document_sequences)

    def add_dataset(self, prefix: str) -> None:
        """Append a whole ``<prefix>.bin/.idx`` of the same dtype (a shard): its tokens and documents, in order."""
        dtype, sequences, documents = read_header(prefix + ".idx")
        if dtype != self.dtype:
            raise ValueError(f"{prefix}.idx holds {dtype}, this dataset {self.dtype}")
        _copy(prefix + ".bin", self.files["bin"])
        _copy(prefix + ".idx", self.files["len"], HEADER_BYTES, 4 * sequences)
        skip = HEADER_BYTES + 12 * sequences + 8  # the document indices after the leading 0
        for block in _blocks(prefix + ".idx", "q", skip, 8 * max(documents - 1, 0)):
            self.files["doc"].write(little_endian(array("q", map(self.sequences.__add__, block))))
        self.sequences += sequences
        self.documents += max(documents - 1, 0)

    def finalize(self, idx_path: str) -> None:
        for handle in self.files.values():
            handle.close()
        itemsize = array(self.typecode).itemsize
        with open(idx_path, "wb") as out:
            out.write(INDEX_HEADER + struct.pack("<Q", 1) + struct.pack("<B", DTYPES[self.dtype][0]))
            out.write(struct.pack("<Q", self.sequences) + struct.pack("<Q", self.documents + 1))
            _copy(self.side[".len"], out)
            pointer = 0
            for lengths in _blocks(self.side[".len"], "i"):
                pointers = array("q", accumulate(map(itemsize.__mul__, lengths), initial=pointer))
                out.write(little_endian(pointers[:-1]))
                pointer = pointers[-1]
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


def _blocks(path: str, typecode: str, offset: int = 0, size: int | None = None):
    """``array``s of ``typecode`` read from ``path`` (little-endian), ``BLOCK`` items at a time."""
    itemsize = array(typecode).itemsize
    with open(path, "rb") as handle:
        handle.seek(offset)
        left = os.fstat(handle.fileno()).st_size - offset if size is None else size
        while left > 0:
            data = handle.read(min(BLOCK * itemsize, left))
            if not data:
                return
            left -= len(data)
            values = array(typecode)
            values.frombytes(data)
            if SWAP:  # pragma: no cover - big-endian machines
                values.byteswap()
            yield values


def _copy(path: str, out, offset: int = 0, size: int | None = None) -> None:
    with open(path, "rb") as handle:
        handle.seek(offset)
        left = os.fstat(handle.fileno()).st_size - offset if size is None else size
        while left > 0:
            data = handle.read(min(BLOCK * 8, left))
            if not data:
                raise ValueError(f"{path}: shorter than its index says")
            out.write(data)
            left -= len(data)
