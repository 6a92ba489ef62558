"""A streaming check of a finetuning folder: every line of every split, before anything is submitted.

Each line must be a JSON object whose ``input`` and ``output`` are strings (what NeMo's
``FineTuningDataModule`` and the small-model backend read). The pass reads line by line, so memory
stays flat on large files; the first bad line of each file is named, with the count of bad lines.
"""

from __future__ import annotations

import json
from pathlib import Path

from recipes.core.errors import UsageError

FLAG = "-D/--dataset_path"
SPLITS = ("training.jsonl", "validation.jsonl", "test.jsonl")
FIX = "fix the line or regenerate the file with python -m recipes.prepare_sft"
TEXT_BOS = "<|begin_of_text|>"  # Llama 3's BOS: the tokenization adds it (recipes.data.sft_tokens)


def line_problem(raw: bytes) -> str | None:
    if not raw.strip():
        return "empty line"
    try:
        row = json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        return f"not valid JSON ({str(exc).split(':')[0]})"
    if not isinstance(row, dict) or not {"input", "output"} <= set(row):
        return 'needs "input" and "output" fields'
    bad = [key for key in ("input", "output") if not isinstance(row[key], str)]
    if bad:
        return f'"{bad[0]}" must be a string, not {type(row[bad[0]]).__name__}'
    if row["input"].lstrip().startswith(TEXT_BOS):
        return (f'"input" starts with {TEXT_BOS} as text, and the tokenization adds BOS itself (it would appear '
                "twice; folders from an older prepare_sft --template llama3)")
    return None


def file_problems(path: Path) -> list[str]:
    first, count, rows = None, 0, 0
    with path.open("rb") as handle:
        for number, raw in enumerate(handle, 1):
            if number > 1 and raw in (b"\n", b"\r\n") and not handle.peek(1):
                break  # one trailing blank line is an editor's habit, not a row
            rows += 1
            problem = line_problem(raw)
            if problem:
                count += 1
                first = first or f"{path}:{number}: {problem}"
    if rows == 0:
        return [f"{path}: empty; {FIX}"]
    if first:
        more = f" ({count} bad lines in all)" if count > 1 else ""
        return [f"{first}{more}; {FIX}"]
    return []


def folder_problems(folder: Path) -> list[str]:
    if not folder.is_dir():
        return [f"{FLAG}: {folder} is not a folder; pass a folder with training.jsonl and validation.jsonl"]
    if not (folder / "training.jsonl").is_file():
        return [f"{FLAG}: {folder} has no training.jsonl; prepare it with python -m recipes.prepare_sft"]
    problems = []
    for name in SPLITS:
        path = folder / name
        if path.is_file() and not (name == "test.jsonl" and path.stat().st_size == 0):  # prepare_sft --test_size 0
            problems += file_problems(path)
    return problems


def read_jsonl(path: str | Path, required: tuple[str, ...] = ("input", "output")) -> list[dict]:
    rows = []
    with open(path, encoding="utf-8") as handle:
        for line_no, line in enumerate(handle, 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as exc:
                raise UsageError(f"{path}:{line_no}: not valid JSON ({exc.msg}); one JSON object per line") from exc
            missing = [key for key in required if key not in row]
            if missing:
                raise UsageError(f"{path}:{line_no}: missing {', '.join(missing)}; rows need "
                                 f"{{\"input\": ..., \"output\": ...}} (make them with python -m recipes.prepare_sft)")
            rows.append(row)
    return rows
