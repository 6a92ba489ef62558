"""Where preprocessor input comes from: JSONL, JSONL.gz, parquet, a directory, a glob, or an HF dataset.

Everything streams in chunks of raw lines (or parquet/HF rows) so memory stays flat however large the
input is; parsing happens in the encoder (possibly in worker processes), not here.
"""

from __future__ import annotations

import glob
import gzip
import os
import re
import zlib
from dataclasses import dataclass
from typing import Iterator

from recipes.core.errors import UsageError
from recipes.data.download import open_hub_dataset

JSONL_SUFFIXES = (".jsonl", ".json", ".jsonl.gz", ".json.gz", ".ndjson")
PARQUET_SUFFIXES = (".parquet",)
SUPPORTED_SUFFIXES = JSONL_SUFFIXES + PARQUET_SUFFIXES
INPUT_HINT = "pass a JSONL, JSONL.gz or parquet file, a directory or a glob"
# "owner/name" with no file suffix: what the hub calls a dataset id.
HF_DATASET_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")


@dataclass
class Chunk:
    """A slice of one input: consecutive raw JSONL lines (bytes) or already-decoded rows (dicts)."""

    source: str  # shown in messages as ``source:line``
    first_line: int  # 1-based line (or row) number of items[0]
    items: list
    nbytes: int  # input bytes consumed on disk, for the progress bar


@dataclass(frozen=True)
class ByteRange:
    """Lines ``[start, end)`` of an uncompressed JSONL file (both at line starts); ``first_line`` is 1-based.

    ``end=None``: the whole file, whatever its format (a shard of whole files).
    """

    path: str
    start: int = 0
    end: int | None = None
    first_line: int = 1

    @property
    def nbytes(self) -> int:
        return os.path.getsize(self.path) if self.end is None else self.end - self.start


@dataclass(frozen=True)
class InputSpec:
    files: tuple[str, ...] = ()
    hub_dataset: str | None = None
    ranges: tuple[ByteRange, ...] = ()  # a shard (recipes.data.shard_plan): read only these bytes

    @property
    def total_bytes(self) -> int:
        if self.ranges:
            return sum(part.nbytes for part in self.ranges)
        return sum(os.path.getsize(path) for path in self.files)


def resolve_inputs(spec: str) -> InputSpec:
    """Expand ``--input`` into an ordered list of files (or one HF dataset id)."""
    if os.path.isdir(spec):
        files = sorted(os.path.join(spec, name) for name in os.listdir(spec) if _supported(name))
        if not files:
            raise UsageError(f"--input {spec}: directory has no {', '.join(SUPPORTED_SUFFIXES)} files; {INPUT_HINT}")
        return InputSpec(files=tuple(files))
    if os.path.isfile(spec):
        return InputSpec(files=(spec,))
    if glob.has_magic(spec):
        files = sorted(path for path in glob.glob(spec) if os.path.isfile(path))
        if not files:
            raise UsageError(f"--input {spec}: the glob matches no files; {INPUT_HINT}")
        return InputSpec(files=tuple(files))
    if HF_DATASET_ID.match(spec) and not _supported(spec) and not os.path.isdir(spec.split("/")[0]):
        return InputSpec(hub_dataset=spec)
    raise UsageError(f"--input {spec}: file does not exist; {INPUT_HINT}")


def _supported(name: str) -> bool:
    return name.lower().endswith(SUPPORTED_SUFFIXES)


def iter_chunks(inputs: InputSpec, columns: list[str], chunk_bytes: int = 1 << 20) -> Iterator[Chunk]:
    """All input as ordered chunks of about ``chunk_bytes`` (or a few thousand rows)."""
    if inputs.hub_dataset:
        yield from _row_chunks(inputs.hub_dataset, iter(open_hub_dataset(inputs.hub_dataset)), columns)
        return
    parts = inputs.ranges or [ByteRange(path) for path in inputs.files]
    for part in parts:
        path = part.path
        if part.end is not None:
            yield from _range_chunks(part, chunk_bytes)
        elif path.lower().endswith(PARQUET_SUFFIXES):
            yield from _parquet_chunks(path, columns)
        else:
            yield from _jsonl_chunks(path, chunk_bytes)


def _jsonl_chunks(path: str, chunk_bytes: int, max_lines: int = 8192) -> Iterator[Chunk]:
    # Binary mode: invalid UTF-8 must be reported per line by the encoder, not crash the reader.
    with open(path, "rb") as raw:
        stream = gzip.GzipFile(fileobj=raw) if path.lower().endswith(".gz") else raw
        lines: list[bytes] = []
        size, first, consumed = 0, 1, 0
        try:
            for line in stream:
                lines.append(line)
                size += len(line)
                if size >= chunk_bytes or len(lines) >= max_lines:
                    position = raw.tell()
                    yield Chunk(path, first, lines, position - consumed)
                    first, consumed, lines, size = first + len(lines), position, [], 0
        except (OSError, EOFError, zlib.error) as exc:  # truncated or corrupt gzip
            raise UsageError(f"{path}: cannot read ({exc}); check the file is complete and really gzip") from exc
        if lines:
            yield Chunk(path, first, lines, os.path.getsize(path) - consumed)


def _range_chunks(part: ByteRange, chunk_bytes: int, max_lines: int = 8192) -> Iterator[Chunk]:
    """The lines of one byte range, in chunks as :func:`_jsonl_chunks` makes them (line numbers of the file)."""
    with open(part.path, "rb") as raw:
        raw.seek(part.start)
        position, first, lines, size = part.start, part.first_line, [], 0
        while position < part.end:
            line = raw.readline()
            if not line:
                raise UsageError(f"{part.path}: shorter than the shard plan ({position} < {part.end} bytes); "
                                 "the file changed: rerun with --overwrite")
            lines.append(line)
            size += len(line)
            position += len(line)
            if size >= chunk_bytes or len(lines) >= max_lines:
                yield Chunk(part.path, first, lines, size)
                first, lines, size = first + len(lines), [], 0
        if lines:
            yield Chunk(part.path, first, lines, size)


def _parquet_chunks(path: str, columns: list[str], rows: int = 4096) -> Iterator[Chunk]:
    import pyarrow.parquet as pq

    try:
        table = pq.ParquetFile(path)
    except (OSError, ValueError) as exc:  # pyarrow's ArrowInvalid is a ValueError
        raise UsageError(f"{path}: not a readable parquet file ({str(exc).splitlines()[0][:160]}); "
                         "pass a parquet file, or JSONL named .jsonl") from exc
    names = table.schema_arrow.names
    missing = [name for name in columns if name not in names]
    if missing:
        raise UsageError(f"{path}: no column {missing[0]!r} (columns: {', '.join(names)}); "
                         "pass --json-keys with the text column(s)")
    total_rows = max(table.metadata.num_rows, 1)
    file_bytes = os.path.getsize(path)
    first = 1
    for batch in table.iter_batches(batch_size=rows, columns=columns):
        items = batch.to_pylist()
        yield Chunk(path, first, items, file_bytes * len(items) // total_rows)
        first += len(items)


def _row_chunks(source: str, rows: Iterator[dict], columns: list[str], size: int = 2048) -> Iterator[Chunk]:
    first, batch = 1, []
    for row in rows:
        batch.append({name: row.get(name) for name in columns} if isinstance(row, dict) else row)
        if len(batch) >= size:
            yield Chunk(source, first, batch, 0)
            first, batch = first + len(batch), []
    if batch:
        yield Chunk(source, first, batch, 0)
