"""Chunk encoder for the preprocessor: parse + validate lines, batch-tokenize, append EOD.

Token ids equal Megatron-LM ``tools/preprocess_data.py`` with ``--tokenizer-type HuggingFaceTokenizer``:
its ``_HuggingFaceTokenizer.tokenize(text)`` is ``AutoTokenizer(text).input_ids`` (special tokens
included, so Llama 3 documents start with ``<|begin_of_text|>``) and ``eod`` is
``tokenizer.eos_token_id``. We call the same fast backend with ``encode_batch_fast`` which yields
the same ids without building offsets, so a whole chunk is tokenized in one Rust call.
"""

from __future__ import annotations

import json
import os
from collections import deque
from dataclasses import dataclass, field
from itertools import chain
from typing import Iterable, Iterator

import numpy as np

from recipes.data.inputs import Chunk

# Reasons that never stop a run: they are not malformed input, just nothing to tokenize.
# An empty text is skipped (Megatron would write a [BOS, EOD] document for it, which only adds noise).
BLANK_LINE = "blank line"
EMPTY_TEXT = "empty text"
NON_FATAL = {BLANK_LINE, EMPTY_TEXT}


@dataclass
class EncodedChunk:
    source: str
    nbytes: int
    tokens: dict[str, np.ndarray] = field(default_factory=dict)  # key -> all docs' ids, concatenated
    lengths: dict[str, np.ndarray] = field(default_factory=dict)  # key -> per-document token counts
    skipped: list[tuple[str, int]] = field(default_factory=list)  # (reason, line)
    fatal: tuple[int, str] | None = None  # (line, message) of the first malformed line

    @property
    def documents(self) -> int:
        return len(next(iter(self.lengths.values()))) if self.lengths else 0


class ChunkEncoder:
    """Picklable callable turning a :class:`Chunk` into token arrays (runs in workers too)."""

    def __init__(self, backend, keys: list[str], eod: int | None, dtype, skip_bad_lines: bool):
        self.backend = backend  # a ``tokenizers.Tokenizer`` (the fast tokenizer's Rust core)
        self.keys = list(keys)
        self.eod = eod
        self.dtype = dtype
        self.skip_bad_lines = skip_bad_lines

    def __call__(self, chunk: Chunk) -> EncodedChunk:
        result = EncodedChunk(chunk.source, chunk.nbytes)
        texts: dict[str, list[str]] = {key: [] for key in self.keys}
        for offset, item in enumerate(chunk.items):
            line = chunk.first_line + offset
            values, reason, detail = self._extract(item)
            if reason is None:
                for key, value in zip(self.keys, values):
                    texts[key].append(value)
            elif reason in NON_FATAL or self.skip_bad_lines:
                result.skipped.append((reason, line))
            else:
                result.fatal = (line, detail)
                return result
        for key in self.keys:
            result.tokens[key], result.lengths[key] = self._encode(texts[key])
        return result

    def _extract(self, item) -> tuple[list[str], str | None, str]:
        """(texts for each key, skip reason or None, detailed message)."""
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
        values = []
        for key in self.keys:
            value = item.get(key)
            if value is None:
                return [], f"missing key {key!r}", f"missing key {key!r} (keys: {', '.join(map(str, item)) or 'none'})"
            if not isinstance(value, str):
                return [], f"{key!r} not a string", f"{key!r} is a {type(value).__name__}, not a string"
            if not value:
                return [], EMPTY_TEXT, EMPTY_TEXT
            values.append(value)
        return values, None, ""

    def _encode(self, texts: list[str]) -> tuple[np.ndarray, np.ndarray]:
        batch = getattr(self.backend, "encode_batch_fast", self.backend.encode_batch)
        ids = [encoding.ids for encoding in batch(texts, add_special_tokens=True)]
        if self.eod is not None:
            for doc in ids:
                if doc:  # Megatron appends EOD only to non-empty documents
                    doc.append(self.eod)
        lengths = np.fromiter(map(len, ids), dtype=np.int64, count=len(ids))
        tokens = np.fromiter(chain.from_iterable(ids), dtype=self.dtype, count=int(lengths.sum()))
        return tokens, lengths


_WORKER_ENCODER: ChunkEncoder | None = None


def _init_worker(encoder: ChunkEncoder) -> None:
    global _WORKER_ENCODER
    # One Rust thread per worker: the workers already use every core, more threads only contend.
    os.environ["TOKENIZERS_PARALLELISM"] = "false"
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
