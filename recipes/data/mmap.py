"""JSONL / parquet -> Megatron mmap ``<prefix>_<key>_document.bin/.idx`` (importable, NeMo-Run friendly).

Output is byte-identical to core_v0.15.3 Megatron-LM ``tools/preprocess_data.py`` (HuggingFaceTokenizer,
no sentence splitting, one partition) for the same input, tokenizer and flags: documents as its
``Encoder.encode`` makes them (:mod:`recipes.data.encode`), ids from megatron-core's tokenizer as the
tool builds it (:mod:`recipes.data.doc_tokenizer`: no BOS unless asked), in input order, in the
format of megatron-core's ``IndexedDatasetBuilder`` with ``DType.optimal_dtype(vocab_size)``
(:mod:`recipes.data.indexed`). Where the tool crashes (blank line, bad JSON, missing key) this stops
with ``file:line: reason`` or, for blank lines, skips and counts; the tool's single-partition path
writes the ``.idx`` of the last key only, here every key gets one.

Crash safety: data goes to ``<final>.tmp-<pid>`` names and is renamed into place only after every
key finished (``.bin`` first, ``.idx`` last, an older ``.idx`` removed before), so an interrupted run
never leaves a complete-looking pair; stale temporaries of dead runs are removed on the next run.
An existing output is replaced only with ``overwrite``; folders this run created are removed on failure.
"""

from __future__ import annotations

import glob
import os
import re
from typing import Sequence

from recipes.core.errors import UsageError, ValidationErrors
from recipes.data.doc_tokenizer import BACKENDS, TokenizerChoice, open_tokenizer
from recipes.data.encode import ChunkEncoder, encode_ordered
from recipes.data.indexed import IndexedWriter, optimal_dtype
from recipes.data.inputs import ByteRange, InputSpec, iter_chunks, resolve_inputs
from recipes.data.progress import Progress, RunStats
from recipes.data.tokenizer import local_tokenizer_dir

TEMP_PID = re.compile(r"\.tmp-(\d+)(?:\.tmp|\.len|\.doc)?$")
SKIP_HINT = "fix the line or rerun with --skip-bad-lines to skip bad lines"


def preprocess(input: str, output_prefix: str, json_keys: Sequence[str] = ("text",), tokenizer: str = "llama3",
               append_eod: bool = True, workers: int = 1, skip_bad_lines: bool = False,
               log_interval: int = 1000, progress: bool = True, chunk_bytes: int = 1 << 20,
               include_special_tokens: bool = False, legacy_tokenizer: bool = False, use_fast: bool = False,
               overwrite: bool = False, ranges: Sequence[ByteRange] = (), allow_empty: bool = False,
               on_chunk=None, tokenizer_backend: str = "auto") -> dict:
    """Tokenize ``input`` into ``<output_prefix>_<key>_document.bin/.idx`` for each key; return a summary.

    A plain module-level function so a recipe can wrap it in ``nemo_run.Partial(preprocess, ...)``.
    Raises :class:`UsageError` for bad input; nothing is left behind in that case. A shard
    (:mod:`recipes.data.shards`) passes its byte ``ranges`` (``input`` is then only named in messages),
    ``allow_empty`` (a shard of blank lines is not an error) and ``on_chunk(outputs)`` (its fault point).
    ``tokenizer_backend``: ``auto`` (the tiktoken fast path where it applies) or ``hf`` (never); the
    output is the same.
    """
    keys = _check_keys(json_keys)
    if workers < 1:
        raise UsageError(f"--workers {workers}: must be at least 1")
    outputs = MmapOutputs(str(output_prefix), keys)
    _, inputs, encoder = _all_or_errors(
        lambda: outputs.check(overwrite),
        lambda: InputSpec(files=tuple(dict.fromkeys(p.path for p in ranges)), ranges=tuple(ranges)) if ranges
        else resolve_inputs(str(input)),
        lambda: make_encoder(tokenizer, keys, append_eod, skip_bad_lines, include_special_tokens=include_special_tokens,
                             legacy=legacy_tokenizer, use_fast=use_fast, backend=tokenizer_backend))
    stats = RunStats(inputs.total_bytes)
    for part in inputs.ranges or [ByteRange(path) for path in inputs.files]:
        if part.end is None and os.path.getsize(part.path) == 0:
            stats.skip("empty file", part.path)
    bar = Progress(stats, progress, log_interval)
    encoded_chunks = encode_ordered(encoder, iter_chunks(inputs, keys, chunk_bytes), workers)
    try:
        outputs.open(encoder.dtype)
        for encoded in encoded_chunks:
            if encoded.fatal:
                line, message = encoded.fatal
                raise UsageError(f"{encoded.source}:{line}: {message}; {SKIP_HINT}")
            _record(stats, encoded)
            outputs.add(encoded)
            bar.update(encoded.nbytes)
            if on_chunk is not None:
                on_chunk(outputs)
        if stats.tokens == 0 and not allow_empty:
            raise UsageError(f"--input {input}: no tokens to write ({_why_empty(stats)}); "
                             f"pass a file with non-empty {keys[0]!r} values")
        stats.bytes_out = outputs.commit()
    except BaseException:
        encoded_chunks.close()  # stop the workers before deleting what they feed
        outputs.abort()
        raise
    finally:
        bar.close()
    return {**stats.as_dict(outputs.prefixes, encoder.dtype),
            "tokenizer": encoder.tokenizer.describe(stats.documents)}


def _all_or_errors(*checks) -> list:
    """Run every check; raise all their problems together (one line each), else return their results."""
    results, problems = [], []
    for check in checks:
        try:
            results.append(check())
        except UsageError as exc:
            problems.extend(exc.problems if isinstance(exc, ValidationErrors) else [str(exc)])
    if len(problems) == 1:
        raise UsageError(problems[0])
    if problems:
        raise ValidationErrors(problems)
    return results


def _check_keys(json_keys: Sequence[str] | str) -> list[str]:
    keys = [json_keys] if isinstance(json_keys, str) else list(json_keys)
    if not keys or not all(keys):
        raise UsageError("--json-keys: give at least one non-empty key, e.g. --json-keys text")
    if len(set(keys)) != len(keys):
        raise UsageError(f"--json-keys {' '.join(keys)}: a key is repeated; list each key once")
    return keys


def make_encoder(tokenizer_name: str, keys: list[str], append_eod: bool, skip_bad_lines: bool,
                 include_special_tokens: bool = False, legacy: bool = False, use_fast: bool = False,
                 backend: str = "auto") -> ChunkEncoder:
    folder = local_tokenizer_dir(tokenizer_name, flag="--tokenizer-type")
    choice = TokenizerChoice(str(folder), include_special_tokens=include_special_tokens, legacy=legacy,
                             use_fast=use_fast)
    if backend not in BACKENDS:
        raise UsageError(f"--tokenizer-backend {backend}: not a backend; pass --tokenizer-backend auto (default) or hf")
    try:
        tokenizer = open_tokenizer(choice, backend)
    except (OSError, ValueError) as exc:
        raise UsageError(f"--tokenizer-type {tokenizer_name}: cannot load the tokenizer in {folder} "
                         f"({str(exc).splitlines()[0][:200]}); pass a Hugging Face tokenizer folder") from exc
    if append_eod and tokenizer.eod is None:
        raise UsageError(f"--append-eod: tokenizer {tokenizer_name} has no eos token; drop --append-eod")
    return ChunkEncoder(tokenizer, keys, append_eod, optimal_dtype(tokenizer.vocab_size), skip_bad_lines)


def _record(stats: RunStats, encoded) -> None:
    stats.documents += encoded.documents
    stats.empty_documents += encoded.empty_documents
    stats.tokens += sum(documents.token_count for documents in encoded.keys.values())
    stats.bytes_in += encoded.nbytes
    for reason, line in encoded.skipped:
        stats.skip(reason, f"{encoded.source}:{line}")


def _why_empty(stats: RunStats) -> str:
    found = [f"{stats.documents} empty document(s)"] if stats.documents else []
    found += [f"skipped {reason} x{count}" for reason, count in sorted(stats.skipped.items())]
    return ", ".join(found) or "the input has no lines"


class MmapOutputs:
    """One :class:`IndexedWriter` per key, writing to temporary names until :meth:`commit`."""

    def __init__(self, output_prefix: str, keys: list[str]):
        self.output_prefix = output_prefix
        self.prefixes = {key: f"{output_prefix}_{key}_document" for key in keys}
        self.final = {key: (prefix + ".bin", prefix + ".idx") for key, prefix in self.prefixes.items()}
        suffix = f".tmp-{os.getpid()}"
        self.temp = {key: (bin_path + suffix, idx_path + suffix) for key, (bin_path, idx_path) in self.final.items()}
        self.writers: dict[str, IndexedWriter] = {}
        self.created: list[str] = []  # folders made by this run, deepest last

    def check(self, overwrite: bool) -> None:
        """Refuse a prefix under a file, and an existing output unless ``overwrite``; before any work."""
        parent = os.path.dirname(os.path.abspath(self.output_prefix))
        blocker = _file_on_path(parent)
        if blocker:
            raise UsageError(f"--output-prefix {self.output_prefix}: {blocker} is a file, not a folder; "
                             "pass a prefix in a folder")
        existing = [path for pair in self.final.values() for path in pair if os.path.exists(path)]
        if existing and not overwrite:
            raise UsageError(f"--output-prefix {self.output_prefix}: {existing[0]} already exists; pass "
                             "--overwrite to replace it or choose another prefix")

    def open(self, dtype) -> None:
        self._make_parent()
        for paths in self.final.values():
            remove_stale_temps(paths)
        try:
            for key, (bin_path, _) in self.temp.items():
                self.writers[key] = IndexedWriter(bin_path, dtype)
        except OSError as exc:
            raise UsageError(f"--output-prefix {self.output_prefix}: cannot write ({exc.strerror}); "
                             "pass a writable location") from exc

    def _make_parent(self) -> None:
        missing, folder = [], os.path.dirname(os.path.abspath(self.output_prefix))
        while not os.path.isdir(folder):
            missing.append(folder)
            folder = os.path.dirname(folder)
        for folder in reversed(missing):
            try:
                os.mkdir(folder)
            except OSError as exc:
                raise UsageError(f"--output-prefix {self.output_prefix}: cannot create {folder} "
                                 f"({exc.strerror}); pass a writable location") from exc
            self.created.append(folder)

    def add(self, encoded) -> None:
        for key, writer in self.writers.items():
            documents = encoded.keys[key]
            writer.add(documents.tokens, documents.sequence_lengths, documents.document_sequences)

    def commit(self) -> int:
        """Finalize every key, then move data and index files into place; return bytes written."""
        for key, writer in self.writers.items():
            writer.finalize(self.temp[key][1])
        for key, (bin_path, idx_path) in self.final.items():
            if os.path.exists(idx_path):  # never pair a new .bin with an old .idx, even for a moment
                os.remove(idx_path)
            os.replace(self.temp[key][0], bin_path)
        for key, (_, idx_path) in self.final.items():
            os.replace(self.temp[key][1], idx_path)
        self.created = []
        return sum(os.path.getsize(path) for pair in self.final.values() for path in pair)

    def abort(self) -> None:
        for writer in self.writers.values():
            writer.remove()
        for pair in self.temp.values():
            for path in pair:
                if os.path.exists(path):
                    os.remove(path)
        for folder in reversed(self.created):
            try:
                os.rmdir(folder)
            except OSError:  # something else was put there meanwhile: keep it
                break


def _file_on_path(folder: str) -> str | None:
    """The first existing non-folder on the way to ``folder``, if any."""
    while folder and not os.path.isdir(folder):
        if os.path.exists(folder):
            return folder
        parent = os.path.dirname(folder)
        if parent == folder:
            break
        folder = parent
    return None


def remove_stale_temps(final_paths: Sequence[str]) -> list[str]:
    """Delete ``<final>.tmp-<pid>`` files left by runs that are no longer alive; return them.

    Side files of the index (``.tmp-<pid>.len``/``.doc``) are covered, and so are the hidden
    ``.<name>.tmp-<pid>.tmp`` names earlier versions wrote through megatron-core's multi-storage-client.
    """
    removed = []
    for final in final_paths:
        folder, name = os.path.split(final)
        patterns = [glob.escape(final) + ".tmp-*", os.path.join(glob.escape(folder), "." + glob.escape(name) + ".tmp-*")]
        for path in [path for pattern in patterns for path in glob.glob(pattern)]:
            match = TEMP_PID.search(path)
            pid = int(match.group(1)) if match else None
            if pid is None or pid == os.getpid() or not _alive(pid):
                os.remove(path)
                removed.append(path)
    return removed


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
