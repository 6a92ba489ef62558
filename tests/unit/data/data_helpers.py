"""Helpers shared by the data-tool tests (imported by name; conftest holds the fixtures)."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[3]
DOC = REPO / "docs" / "data.md"


def write_jsonl(path: Path, rows, raw_lines: list[bytes] | None = None) -> Path:
    """Rows as JSON lines (then any raw byte lines, for malformed input)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as handle:
        for row in rows:
            handle.write(json.dumps(row, ensure_ascii=False).encode("utf-8") + b"\n")
        for line in raw_lines or []:
            handle.write(line + b"\n")
    return path


def read_documents(prefix: str) -> tuple[list[list[int]], object]:
    """Every document of a Megatron mmap dataset as a list of ids, and its token dtype."""
    from megatron.core.datasets.indexed_dataset import IndexedDataset

    dataset = IndexedDataset(str(prefix))
    bounds = dataset.document_indices
    documents = []
    for doc in range(len(bounds) - 1):
        ids: list[int] = []
        for sequence in range(bounds[doc], bounds[doc + 1]):
            ids.extend(dataset[sequence].tolist())
        documents.append(ids)
    return documents, dataset.index.dtype


def run_module(module: str, args: list[str], cwd: Path, env: dict | None = None, **kwargs):
    """``python -m module args`` as the user would run it (fresh interpreter)."""
    full_env = dict(os.environ, PYTHONPATH=str(REPO), PYTHONWARNINGS="ignore", **(env or {}))
    return subprocess.run([sys.executable, "-m", module, *args], cwd=cwd, env=full_env,
                          capture_output=True, text=True, **kwargs)


def error_lines(stderr: str) -> list[str]:
    """stderr lines that are ours (library warnings such as pynvml's are not)."""
    return [line for line in stderr.splitlines() if line.startswith("recipes.")]



def output_files(folder: Path) -> list[str]:
    return sorted(str(path.relative_to(folder)) for path in folder.rglob("*") if path.is_file())


def documented(language: str) -> list[str]:
    """Commands (``bash``, continuation lines joined, comments dropped) or whole blocks (``python``)."""
    blocks = re.findall(rf"```{language}\n(.*?)```", DOC.read_text(encoding="utf-8"), flags=re.S)
    if language == "python":
        return blocks
    text = "\n".join(blocks).replace("\\\n", " ")
    return [" ".join(line.split()) for line in text.splitlines() if line.strip() and not line.lstrip().startswith("#")]
