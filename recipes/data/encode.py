"""Chunk encoder for the preprocessor: parse + validate lines, batch-tokenize, append EOD.

Documents are what core_v0.15.3 ``tools/preprocess_data.py``'s ``Encoder.encode`` makes of a line:
for each key, a string is one sentence and a list of strings is a list of sentences; every sentence
is tokenized (see :mod:`recipes.data.doc_tokenizer`), each non-empty one becomes a sequence, and
with ``--append-eod`` the EOD is added to the last sequence of a non-empty document. A document
without tokens (``""``, ``[]``) is written like the tool writes it: a document with no sequences.
All sentences of a chunk go to the tokenizer in one batch call.
"""

from __future__ import annotations

import json
import os
from array import array
from collections import deque
from dataclasses import dataclass, field
from typing import Iterable, Iterator

from recipes.data.indexed import DTYPES, dtype_name
from recipes.data.inputs import Chunk

# Never stops a run: the tool would crash on it, there is nothing to tokenize.
BLANK_LINE = "blank line"
NON_FATAL = {BLANK_LINE}


@dataclass
class KeyDocuments:
    """One key's documents of a chunk, in the layout of the .idx file (``array``s: no numpy, see indexed.py)."""

    tokens: array  # every token, concatenated, in the dataset dtype
    sequence_lengths: array  # int32, one per non-empty sentence
    document_sequences: array  # int32, sequences per document

    @property
    def token_count(self) -> int:
        return len(self.tokens)


@dataclass
class EncodedChunk:
    source: str
    nbytes: int
    keys: dict[str, KeyDocuments] = field(default_factory=dict)
    skipped: list[tuple[str, int]] = field(default_factory=list)  # (reason, line)
    fatal: tuple[int, str] | None = None  # (line, message) of the first malformed line

    @property
    def documents(self) -> int:
        return len(next(iter(self.keys.values())).document_sequences) if self.keys else 0

    @property
    def empty_documents(self) -> int:
        return next(iter(self.keys.values())).document_sequences.count(0) if self.keys else 0


class ChunkEncoder:
    """Picklable callable turning a :class:`Chunk` into token arrays (runs in workers too)."""

    def __init__(self, tokenizer, keys: list[str], append_eod: bool, dtype, skip_bad_lines: bool):
        self.tokenizer = tokenizer  # recipes.data.doc_tokenizer.RustTokenizer or MegatronCoreTokenizer
        self.keys = list(keys)
        self.eod = tokenizer.eod if append_eod else None
        self.dtype = dtype_name(dtype)  # numpy's name, e.g. "int32"
        self.typecode = DTYPES[self.dtype][1]
        self.skip_bad_lines = skip_bad_lines

    def __call__(self, chunk: Chunk) -> EncodedChunk:
        result = EncodedChunk(chunk.source, chunk.nbytes)
        values: dict[str, list] = {key: [] for key in self.keys}
        for offset, item in enumerate(chunk.items):
            line = chunk.first_line + offset
            row, reason, detail = self._extract(item)
            if reason is None:
                for key, value in zip(self.keys, row):
                    values[key].append(value)
            elif reason in NON_FATAL or self.skip_bad_lines:
                result.skipped.append((reason, line))
            else:
                result.fatal = (line, detail)
                return result
        for key in self.keys:
            result.keys[key] = self._encode(values[key])
        return result

    def _extract(self, item) -> tuple[list, str | None, str]:
        """(value of each key, skip reason or None, detailed message)."""
        if isinstance(item, bytes):
            if not item.strip():
                return [], BLANK_LINE, BLANK_LINE
            try:
                item = json.loads(item.decode("utf-8"))
            except UnicodeDecodeError as exc:
                return [], "invalid UTF-8", f"invalid UTF-8 (byte {exc.start})"
            except json.JSONDecodeError as exc:
                return [], "malformed JSON", f"malformed JSON: {exc.msg} (column {exc.colno})"
        if not isinstance(item, dict):
            return [], "not a JSON object", f"not a JSON object (got {type(item).__name__})"
        row = []
        for key in self.keys:
            value = item.get(key)
            if value is None:
                return [], f"missing key {key!r}", f"missing key {key!r} (keys: {', '.join(map(str, item)) or 'none'})"
            if isinstance(value, list) and all(isinstance(sentence, str) for sentence in value):
                row.append(value)
            elif isinstance(value, str):
                row.append(value)
            else:
                return [], f"{key!r} not a string", (f"{key!r} is a {type(value).__name__}, not a string or a "
                                                     "list of strings")
        return row, None, ""

    def _encode(self, values: list) -> KeyDocuments:
        """Every non-empty sentence is a sequence; the EOD goes after the last one of each document."""
        if all(isinstance(value, str) for value in values):
            ids = self.tokenizer.encode(values)
            sequences = [doc for doc in ids if len(doc)]
            last = [True] * len(sequences)
            document_sequences = array("i", (1 if len(doc) else 0 for doc in ids))
        else:
            sequences, last, document_sequences = self._encode_sentences(values)
        tokens, lengths, eod = array(self.typecode), array("i"), self.eod
        raw = self.typecode in "iI"  # the fast path's uint32 arrays are copied as bytes (ids < 2**31)
        for sequence, ends in zip(sequences, last):
            if type(sequence) is array:
                if raw:
                    tokens.frombytes(memoryview(sequence).cast("B"))
                else:
                    tokens.extend(sequence.tolist())
            else:  # per sequence: as fast as numpy's fromiter here, without importing numpy
                tokens.extend(sequence)
            if ends and eod is not None:
                tokens.append(eod)
                lengths.append(len(sequence) + 1)
            else:
                lengths.append(len(sequence))
        return KeyDocuments(tokens, lengths, document_sequences)

    def _encode_sentences(self, values: list) -> tuple[list, list[bool], array]:
        """Documents given as lists of sentences: (non-empty sentences' ids, whether each is its
        document's last, sequences per document)."""
        documents = [[value] if isinstance(value, str) else value for value in values]
        encoded = iter(self.tokenizer.encode([sentence for doc in documents for sentence in doc]))
        sequences, last, per_document = [], [], array("i")
        for doc in documents:
            kept = [ids for ids in (next(encoded) for _ in doc) if len(ids)]
            sequences.extend(kept)
            last.extend([False] * (len(kept) - 1) + [True] if kept else [])
            per_document.append(len(kept))
        return sequences, last, per_document


_WORKER_ENCODER: ChunkEncoder | None = None


def _init_worker(encoder: ChunkEncoder) -> None:
    global _WORKER_ENCODER
    # One Rust thread per worker: the workers already use every core, more threads only contend.
    os.environ["TOKENIZERS_PARALLELISM"] = "false"
    engine = getattr(encoder.tokenizer, "engine", None)  # the tiktoken fast path's threads, likewise
    if engine is not None:
        engine.threads = 1
    _WORKER_ENCODER = encoder


def _encode_in_worker(chunk: Chunk) -> EncodedChunk:
    return _WORKER_ENCODER(chunk)


def encode_ordered(encoder: ChunkEncoder, chunks: Iterable[Chunk], workers: int) -> Iterator[EncodedChunk]:
    """Encode chunks in input order: in-process with ``workers == 1``, else in a process pool.

    In-process, two threads take turns: the tokenizer releases the GIL, so one thread parses its
    chunk while the other's batch runs on every core in Rust. ``Pool.imap`` would read the whole
    input ahead of slow workers (its feeder thread has no back-pressure), so here at most
    ``2 * workers`` chunks are in flight to keep memory flat.
    """
    if workers <= 1:
        from concurrent.futures import ThreadPoolExecutor

        with ThreadPoolExecutor(max_workers=2) as pool:
            yield from _bounded_in_order((pool.submit(encoder, chunk) for chunk in chunks), 2, "result")
        return
    import multiprocessing

    with multiprocessing.Pool(workers, initializer=_init_worker, initargs=(encoder,)) as pool:
        yield from _bounded_in_order((pool.apply_async(_encode_in_worker, (chunk,)) for chunk in chunks),
                                     2 * workers, "get")


def _bounded_in_order(submissions: Iterator, limit: int, wait: str) -> Iterator[EncodedChunk]:
    """Results of lazily submitted jobs in submission order, with at most ``limit`` outstanding."""
    pending: deque = deque()
    for job in submissions:
        pending.append(job)
        if len(pending) >= limit:
            yield getattr(pending.popleft(), wait)()
    while pending:
        yield getattr(pending.popleft(), wait)()
