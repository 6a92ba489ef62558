"""A cheap, deep check of a Megatron ``.bin``/``.idx`` pair, without importing megatron or torch.

The ``.idx`` layout (megatron/core/datasets/indexed_dataset.py, ``_IndexWriter``): the magic
``MMIDIDX\\x00\\x00``, version ``<Q`` (1), dtype code ``<B``, sequence count ``<Q``, document count
``<Q``, then int32 sequence lengths, int64 byte pointers, int64 document indices (and, for
multimodal data, one int8 mode per sequence). The ``.bin`` holds the tokens back to back, so its
size is the last pointer plus the last length × the dtype's size. Only the index is read (memory
mapped); the ``.bin`` is only stat-ed.
"""

from __future__ import annotations

import os
import struct

MAGIC = b"MMIDIDX\x00\x00"
HEADER_BYTES = len(MAGIC) + 8 + 1 + 8 + 8
DTYPE_SIZES = {1: 1, 2: 1, 3: 2, 4: 4, 5: 8, 6: 8, 7: 4, 8: 2}  # megatron's DType codes -> item size
FIX = "re-run `python -m recipes.preprocess` for this prefix"


def index_problems(prefix: str, flag: str = "-D/--dataset_path") -> list[str]:
    """One line (or none) for the pair ``prefix.bin``/``prefix.idx``."""
    idx, bin_path = prefix + ".idx", prefix + ".bin"
    try:
        problem = _check(idx, os.path.getsize(idx), os.path.getsize(bin_path))
    except OSError as exc:
        problem = f"cannot read ({exc.strerror})"
    return [f"{flag}: {idx}: {problem}; {FIX}"] if problem else []


def _check(idx: str, idx_size: int, bin_size: int) -> str | None:
    import numpy as np

    with open(idx, "rb") as handle:
        header = handle.read(HEADER_BYTES)
    if len(header) < HEADER_BYTES or not header.startswith(MAGIC):
        return "not a Megatron index (bad header)"
    version, code, sequences, documents = struct.unpack("<QBQQ", header[len(MAGIC):])
    if version != 1 or code not in DTYPE_SIZES:
        return f"unsupported index (version {version}, dtype code {code})"
    arrays = sequences * (4 + 8) + documents * 8
    if idx_size not in (HEADER_BYTES + arrays, HEADER_BYTES + arrays + sequences):
        return (f"size {idx_size} bytes does not match its header ({sequences} sequences, {documents} "
                "documents): truncated or corrupt")
    if sequences == 0:
        return "holds no sequences" if bin_size == 0 else f"holds no sequences but the .bin has {bin_size} bytes"
    mapped = np.memmap(idx, mode="r", dtype=np.uint8)
    lengths = np.frombuffer(mapped, np.int32, sequences, HEADER_BYTES)
    pointers = np.frombuffer(mapped, np.int64, sequences, HEADER_BYTES + 4 * sequences)
    docs = np.frombuffer(mapped, np.int64, documents, HEADER_BYTES + 12 * sequences)
    item = DTYPE_SIZES[code]
    if (lengths < 0).any() or pointers[0] != 0 or (np.diff(pointers) != lengths[:-1].astype(np.int64) * item).any():
        return "sequence lengths and pointers disagree: corrupt index"
    if documents == 0 or docs[0] != 0 or docs[-1] != sequences or (np.diff(docs) < 0).any():
        return "document boundaries are inconsistent: corrupt index"
    expected = int(pointers[-1]) + int(lengths[-1]) * item
    if bin_size != expected:
        return (f"the index describes {expected} bytes of tokens but {os.path.basename(idx)[:-4]}.bin has "
                f"{bin_size}: the .bin is truncated or the pair comes from different datasets")
    return None
