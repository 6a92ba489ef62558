"""JSONL / parquet -> Megatron mmap ``<prefix>_<key>_document.bin/.idx`` (importable, NeMo-Run friendly).

Output is byte-identical to Megatron-LM ``tools/preprocess_data.py`` (HuggingFaceTokenizer, no sentence
splitting) for the same input, tokenizer and ``--append-eod``: one sequence per document, in input
order, written with megatron-core's ``IndexedDatasetBuilder`` and ``DType.optimal_dtype(len(tokenizer))``.
Deliberate differences: empty texts and blank lines are skipped (counted in the summary) and
malformed lines stop the run with ``file:line: reason`` instead of a traceback.

Crash safety: data goes to ``<final>.tmp-<pid>`` names and is renamed into place only after every
key finished (``.bin`` first, ``.idx`` last, an older ``.idx`` removed before), so an interrupted run
never leaves a complete-looking pair; stale temporaries of dead runs are removed on the next run.
"""

from __future__ import annotations

import glob
import os
import re
from typing import Sequence

from recipes.data.encode import ChunkEncoder, encode_ordered
from recipes.data.inputs import iter_chunks, resolve_inputs
from recipes.data.progress import Progress, RunStats
from recipes.errors import UsageError

TEMP_PID = re.compile(r"\.tmp-(\d+)(?:\.tmp)?$")
SKIP_HINT = "fix the line or rerun with --skip-bad-lines to skip bad lines"


def preprocess(input: str, output_prefix: str, json_keys: Sequence[str] = ("text",), tokenizer: str = "llama3",
               append_eod: bool = True, workers: int = 1, skip_bad_lines: bool = False,
               log_interval: int = 1000, progress: bool = True, chunk_bytes: int = 1 << 20) -> dict:
    """Tokenize ``input`` into ``<output_prefix>_<key>_document.bin/.idx`` for each key; return a summary.

    A plain module-level function so a recipe can wrap it in ``nemo_run.Partial(preprocess, ...)``.
    Raises :class:`UsageError` for bad input; nothing is left behind in that case.
    """
    keys = _check_keys(json_keys)
    if workers < 1:
        raise UsageError(f"--workers {workers}: must be at least 1")
    inputs = resolve_inputs(str(input))
    encoder, dtype = _make_encoder(tokenizer, keys, append_eod, skip_bad_lines)
    stats = RunStats(inputs.total_bytes)
    for path in inputs.files:
        if os.path.getsize(path) == 0:
            stats.skip("empty file", path)
    outputs = MmapOutputs(str(output_prefix), keys, dtype)
    bar = Progress(stats, progress, log_interval)
    encoded_chunks = encode_ordered(encoder, iter_chunks(inputs, keys, chunk_bytes), workers)
    try:
        for encoded in encoded_chunks:
            if encoded.fatal:
                line, message = encoded.fatal
                raise UsageError(f"{encoded.source}:{line}: {message}; {SKIP_HINT}")
            _record(stats, encoded)
            outputs.add(encoded)
            bar.update(encoded.nbytes)
        if stats.documents == 0:
            raise UsageError(f"--input {input}: no documents to write ({_why_empty(stats)}); "
                             f"pass a file with non-empty {keys[0]!r} values")
        stats.bytes_out = outputs.commit()
    except BaseException:
        encoded_chunks.close()  # stop the workers before deleting what they feed
        outputs.abort()
        raise
    finally:
        bar.close()
    return stats.as_dict(outputs.prefixes, dtype.__name__)


def _check_keys(json_keys: Sequence[str] | str) -> list[str]:
    keys = [json_keys] if isinstance(json_keys, str) else list(json_keys)
    if not keys or not all(keys):
        raise UsageError("--json-keys: give at least one non-empty key, e.g. --json-keys text")
    if len(set(keys)) != len(keys):
        raise UsageError(f"--json-keys {' '.join(keys)}: a key is repeated; list each key once")
    return keys


def _make_encoder(tokenizer_name: str, keys: list[str], append_eod: bool, skip_bad_lines: bool):
    from megatron.core.datasets.indexed_dataset import DType

    from recipes.tokenizer import load_tokenizer

    tokenizer = load_tokenizer(tokenizer_name)
    if not getattr(tokenizer, "is_fast", False):
        raise UsageError(f"--tokenizer-type {tokenizer_name}: not a fast (Rust) tokenizer; "
                         "pass a model folder or id that ships tokenizer.json")
    eod = tokenizer.eos_token_id
    if append_eod and eod is None:
        raise UsageError(f"--append-eod: tokenizer {tokenizer_name} has no eos token; drop --append-eod")
    backend = tokenizer.backend_tokenizer
    # What ``tokenizer(text)`` does before every call: no truncation, no padding.
    backend.no_truncation()
    backend.no_padding()
    dtype = DType.optimal_dtype(len(tokenizer))  # Megatron's vocab_size is len(tokenizer)
    return ChunkEncoder(backend, keys, eod if append_eod else None, dtype, skip_bad_lines), dtype


def _record(stats: RunStats, encoded) -> None:
    stats.documents += encoded.documents
    stats.tokens += sum(int(lengths.sum()) for lengths in encoded.lengths.values())
    stats.bytes_in += encoded.nbytes
    for reason, line in encoded.skipped:
        stats.skip(reason, f"{encoded.source}:{line}")


def _why_empty(stats: RunStats) -> str:
    if not stats.skipped:
        return "the input has no lines"
    return "skipped: " + ", ".join(f"{reason} x{count}" for reason, count in sorted(stats.skipped.items()))


class MmapOutputs:
    """One ``IndexedDatasetBuilder`` per key, writing to temporary names until :meth:`commit`."""

    def __init__(self, output_prefix: str, keys: list[str], dtype):
        from megatron.core.datasets.indexed_dataset import IndexedDatasetBuilder

        self.prefixes = {key: f"{output_prefix}_{key}_document" for key in keys}
        parent = os.path.dirname(output_prefix)
        if parent:
            os.makedirs(parent, exist_ok=True)
        suffix = f".tmp-{os.getpid()}"
        self.final = {key: (prefix + ".bin", prefix + ".idx") for key, prefix in self.prefixes.items()}
        self.temp = {key: (bin_path + suffix, idx_path + suffix) for key, (bin_path, idx_path) in self.final.items()}
        for paths in self.final.values():
            remove_stale_temps(paths)
        self.builders = {}
        try:
            for key in keys:
                self.builders[key] = IndexedDatasetBuilder(self.temp[key][0], dtype=dtype)
        except OSError as exc:
            self.abort()
            raise UsageError(f"--output-prefix {output_prefix}: cannot write ({exc.strerror}); "
                             "pass a writable location") from exc

    def add(self, encoded) -> None:
        for key, builder in self.builders.items():
            add_documents(builder, encoded.tokens[key], encoded.lengths[key])

    def commit(self) -> int:
        """Finalize every key, then move data and index files into place; return bytes written."""
        for key, builder in self.builders.items():
            builder.finalize(self.temp[key][1])
        for key, (bin_path, idx_path) in self.final.items():
            if os.path.exists(idx_path):  # never pair a new .bin with an old .idx, even for a moment
                os.remove(idx_path)
            os.replace(self.temp[key][0], bin_path)
        for key, (_, idx_path) in self.final.items():
            os.replace(self.temp[key][1], idx_path)
        return sum(os.path.getsize(path) for pair in self.final.values() for path in pair)

    def abort(self) -> None:
        for builder in self.builders.values():
            builder.data_file.close()
        for pair in self.temp.values():
            for path in pair:
                if os.path.exists(path):
                    os.remove(path)


def add_documents(builder, tokens, lengths) -> None:
    """``builder.add_document(doc, [len(doc)])`` for every document of a chunk, in one write.

    Same bytes as one call per document (what Megatron does; an empty document gets no sequence),
    without a Python-level write per document.
    """
    builder.data_file.write(tokens.astype(builder.dtype, copy=False).tobytes(order="C"))
    first = len(builder.sequence_lengths)
    sequences = [length for length in lengths.tolist() if length]
    builder.sequence_lengths.extend(sequences)
    if len(sequences) == len(lengths):  # the usual case: every document is one sequence
        builder.document_indices.extend(range(first + 1, first + len(sequences) + 1))
    else:
        count = first
        for length in lengths.tolist():
            count += 1 if length else 0
            builder.document_indices.append(count)


def remove_stale_temps(final_paths: Sequence[str]) -> list[str]:
    """Delete ``<final>.tmp-<pid>`` files left by runs that are no longer alive; return them.

    With multi-storage-client installed, megatron-core writes through it and the open file is
    ``.<name>.tmp-<pid>.tmp`` until closed; those hidden names are covered too.
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
