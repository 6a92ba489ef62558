"""Raw instruction / dialogue JSONL -> ``training.jsonl``, ``validation.jsonl``, ``test.jsonl``.

The output folder is what NeMo's ``FineTuningDataModule(dataset_root=...)`` reads: one
``{"input", "output"}`` object per line. Rows that cannot be used are rejected (never fatal) and
listed by reason with ``file:line`` in the printed report and ``prepare_report.json``.
The split is deterministic for a given ``seed`` and keeps all pairs of one dialogue together.
"""

from __future__ import annotations

import json
import math
import os
import random
from collections import Counter
from typing import NamedTuple, Sequence

from recipes.core.argcheck import Checks
from recipes.core.atomic import atomic_dir, output_problems
from recipes.core.errors import UsageError
from recipes.data.sft_formats import Reject, check_template, examples_from, render
from recipes.data.tokenizer import load_tokenizer

SPLITS = ("training", "validation", "test")
REPORT_NAME = "prepare_report.json"
LINES_PER_REASON = 50  # kept in the report; counts are always complete
MAX_COUNT = 2**53  # a --val_size/--test_size count above this is not a row count (floats lose whole numbers)


class Row(NamedTuple):
    group: str  # the source line: all pairs of one dialogue share it and land in the same split
    where: str  # ``file:line`` for the report
    input: str
    output: str


class Rejections:
    def __init__(self):
        self.counts: Counter[str] = Counter()
        self.where: dict[str, list[str]] = {}

    def add(self, reason: str, where: str) -> None:
        self.counts[reason] += 1
        lines = self.where.setdefault(reason, [])
        if len(lines) < LINES_PER_REASON:
            lines.append(where)

    def as_dict(self) -> dict:
        return {reason: {"count": count, "lines": self.where[reason]} for reason, count in sorted(self.counts.items())}


def prepare_sft(inputs: Sequence[str] | str, output_dir: str, template: str = "plain", max_turns: int = 3,
                max_tokens: int | None = None, tokenizer: str | None = None, val_size: float | int | str = 0.1,
                test_size: float | int | str = 0.1, seed: int = 1234, dedupe: bool = True,
                strip_cjk_spaces: bool = False, overwrite: bool = False, checks: Checks | None = None) -> dict:
    """Prepare an SFT folder; return the report (also written to ``<output_dir>/prepare_report.json``).

    ``checks`` carries problems the command line already found, reported with these in one list."""
    paths = [inputs] if isinstance(inputs, str) else list(inputs)
    checks = checks or Checks()
    template, max_turns, max_tokens = _check_args(checks, paths, template, max_turns, max_tokens, tokenizer,
                                                  (val_size, test_size))
    checks.add(*output_problems(output_dir, overwrite, "--output_dir", inputs=paths))
    checks.done()
    rejected = Rejections()
    rows, read = _read_rows(paths, template, max_turns, strip_cjk_spaces, rejected)
    if dedupe:
        rows = _dedupe(rows, rejected)
    if max_tokens:
        rows = _length_filter(rows, max_tokens, tokenizer or "llama3", rejected)
    if not rows:
        raise UsageError(f"--input {' '.join(paths)}: no usable rows ({_reasons(rejected)}); "
                         "see the accepted shapes in `python -m recipes.prepare_sft --help`")
    splits = split_rows(rows, val_size, test_size, seed)
    report = {"inputs": paths, "template": template, "seed": seed, "rows_read": read,
              "examples_written": {name: len(split) for name, split in splits.items()},
              "rejected": rejected.as_dict()}
    write_split_folder(output_dir, splits, report)
    return report


def _check_args(checks: Checks, paths: list[str], template: str, max_turns, max_tokens, tokenizer, sizes):
    """Every argument problem into ``checks``; the checked (template, max_turns, max_tokens)."""
    if not paths:
        checks.add("--input: give at least one JSONL file")
    for path in paths:
        checks.input_file("--input", path, "pass JSONL files with input/output, query/answer, Alpaca or dialogue rows")
    max_turns = checks.integer("--max_turns", max_turns, low=1)
    max_tokens = checks.integer("--max_tokens", max_tokens, low=1)
    if tokenizer is not None and max_tokens is None:
        checks.add(f"--tokenizer {tokenizer}: only used by --max_tokens; add --max_tokens N or leave it out")
    for flag, size in zip(("--val_size", "--test_size"), sizes):
        checks.add(*size_problems(size, flag))
    try:
        template = check_template(template)
    except ValueError as exc:
        checks.add(str(exc))
    return template, max_turns, max_tokens


def _read_rows(paths, template, max_turns, strip_cjk_spaces, rejected: Rejections):
    """A :class:`Row` for every usable example, and the number of lines read."""
    rows, read = [], 0
    for path in paths:
        with open(path, "rb") as handle:
            for number, raw in enumerate(handle, start=1):
                if not raw.strip():
                    continue
                read += 1
                where = f"{path}:{number}"
                try:
                    examples = examples_from(_parse(raw), max_turns, strip_cjk_spaces)
                except Reject as exc:
                    rejected.add(exc.args[0], where)
                    continue
                rows.extend(Row(where, where, *render(example, template)) for example in examples)
    return rows, read


def _parse(raw: bytes):
    try:
        return json.loads(raw.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise Reject("invalid UTF-8") from exc
    except json.JSONDecodeError as exc:
        raise Reject("malformed JSON") from exc


def _dedupe(rows, rejected: Rejections):
    seen, kept = set(), []
    for row in rows:
        key = (row.input, row.output)
        if key in seen:
            rejected.add("duplicate", row.where)
        else:
            seen.add(key)
            kept.append(row)
    return kept


def _length_filter(rows, max_tokens: int, tokenizer_name: str, rejected: Rejections):
    backend = load_tokenizer(tokenizer_name).backend_tokenizer
    texts = [text for row in rows for text in (row.input, row.output)]
    counts = [len(encoding.ids) for encoding in backend.encode_batch(texts, add_special_tokens=False)]
    kept = []
    for index, row in enumerate(rows):
        if counts[2 * index] + counts[2 * index + 1] > max_tokens:
            rejected.add(f"longer than {max_tokens} tokens", row.where)
        else:
            kept.append(row)
    return kept


def _reasons(rejected: Rejections) -> str:
    if not rejected.counts:
        return "the input is empty"
    return ", ".join(f"{reason} x{count}" for reason, count in sorted(rejected.counts.items()))


def resolve_size(value: float | int | str, total: int, flag: str) -> int:
    """A fraction (``0 <= x < 1``) of ``total`` or an absolute count (an integer ``>= 1``)."""
    problems = size_problems(value, flag)
    if problems:
        raise UsageError(problems[0])
    number = float(value)
    if number >= 1:
        return int(number)
    return max(1, round(number * total)) if number > 0 and total > 2 else round(number * total)


def size_problems(value: float | int | str, flag: str) -> list[str]:
    try:
        number = float(value)
    except (TypeError, ValueError):
        number = math.nan
    if not math.isfinite(number) or number < 0 or (number >= 1 and not number.is_integer()):
        return [f"{flag} {value}: give a fraction in [0, 1) or a whole count"]
    if number > MAX_COUNT:
        return [f"{flag} {value}: too large; give a fraction in [0, 1) or a count of source rows"]
    return []


def split_rows(rows: list[Row], val_size, test_size, seed: int) -> dict[str, list[dict]]:
    """Deterministic split; all examples of one source line (a dialogue) land in the same split."""
    groups: dict[str, list] = {}
    for row in rows:
        groups.setdefault(row.group, []).append(row)
    order = list(groups)
    random.Random(seed).shuffle(order)
    n_test = resolve_size(test_size, len(order), "--test_size")
    n_val = resolve_size(val_size, len(order), "--val_size")
    if n_test + n_val >= len(order):
        raise UsageError(f"--val_size {val_size} / --test_size {test_size}: {n_val} + {n_test} of {len(order)} "
                         "source rows leaves nothing for training; lower them")
    bounds = {"test": order[:n_test], "validation": order[n_test:n_test + n_val], "training": order[n_test + n_val:]}
    return {name: [{"input": row.input, "output": row.output} for group in bounds[name] for row in groups[group]]
            for name in SPLITS}


def write_split_folder(output_dir: str, splits: dict[str, list[dict]], report: dict) -> None:
    """Write the folder under a temporary name, then rename it: no half-written or stale folder."""
    with atomic_dir(output_dir) as temp:
        for name, rows in splits.items():
            with open(temp / f"{name}.jsonl", "w", encoding="utf-8") as handle:
                handle.writelines(json.dumps(row, ensure_ascii=False) + "\n" for row in rows)
        (temp / REPORT_NAME).write_text(json.dumps(report, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")


def format_report(report: dict, output_dir: str, shown: int = 5) -> str:
    written = report["examples_written"]
    lines = [f"read {report['rows_read']:,} rows -> " + ", ".join(f"{name} {count:,}" for name, count in written.items())
             + f" examples in {output_dir}"]
    for reason, entry in report["rejected"].items():
        more = ", ..." if entry["count"] > shown else ""
        lines.append(f"  rejected {entry['count']:,} ({reason}): {', '.join(entry['lines'][:shown])}{more}")
    lines.append(f"  report: {os.path.join(output_dir, REPORT_NAME)}")
    return "\n".join(lines)
