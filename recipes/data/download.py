"""Download the tutorial data sets from the Hugging Face hub into JSONL files.

Offline (``HF_HUB_OFFLINE=1`` or no network) every entry point fails with one line that names the
local-file route instead: download elsewhere, copy the JSONL over, pass it with ``--input``.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass

from recipes.core.argcheck import Checks
from recipes.core.atomic import atomic_file, output_problems
from recipes.core.errors import UsageError

LOCAL_ROUTE = ("download it where the hub is reachable (python -m recipes.download ...) and pass the JSONL "
               "to `python -m recipes.preprocess --input FILE` or `python -m recipes.prepare_sft --input FILE`")

# The hub's automatic parquet export of a data set, readable without its loading script.
PARQUET_REVISION = "refs/convert/parquet"
# A split name becomes part of the file name: no path separators, no leading dot.
SPLIT_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]*")


@dataclass(frozen=True)
class HubDataset:
    repo_id: str
    config: str | None
    filename: str  # written under --output_dir
    about: str


DATASETS = {
    "wikinews": HubDataset("erhwenkuo/wikinews-zhtw", None, "wikinews-zhtw.jsonl",
                           "Traditional Chinese Wikinews articles ({'text': ...}) for continual pretraining"),
    "alpaca_zhtw": HubDataset("erhwenkuo/alpaca-data-gpt4-chinese-zhtw", None, "alpaca-zhtw.jsonl",
                              "Alpaca-GPT4 instructions in Traditional Chinese ({'instruction','input','output'})"),
    "lccc": HubDataset("thu-coai/lccc", "base", "lccc-base.jsonl",
                       "LCCC-base short-conversation corpus ({'dialog': [...]}) for multi-turn SFT"),
}


def hub_offline() -> bool:
    return os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in {"1", "true", "yes", "on"}


def _what(repo_id: str, config: str | None) -> str:
    return f"{repo_id}" + (f" ({config})" if config else "")


def _offline_problem(repo_id: str, config: str | None) -> str:
    return f"{_what(repo_id, config)}: the Hugging Face hub is offline (HF_HUB_OFFLINE=1); {LOCAL_ROUTE}"


def _load(repo_id: str, config: str | None, split: str, streaming: bool):
    what = _what(repo_id, config)
    if hub_offline():
        raise UsageError(_offline_problem(repo_id, config))
    from datasets import load_dataset

    try:
        return load_dataset(repo_id, config, split=split, streaming=streaming)
    except Exception as exc:  # connection errors come in many types; all mean "use the local route"
        error = exc
    if "script" in str(error).lower():  # datasets>=4 refuses loading scripts; the hub keeps a parquet copy
        try:
            return load_dataset(repo_id, config, split=split, streaming=streaming, revision=PARQUET_REVISION)
        except Exception as exc:
            error = exc
    reason = (str(error).strip().splitlines() or [type(error).__name__])[0][:200]
    raise UsageError(f"{what}: cannot load from the Hugging Face hub ({reason}); {LOCAL_ROUTE}") from error


def open_hub_dataset(repo_id: str, split: str = "train"):
    """A streaming HF dataset (rows as dicts), used by ``recipes.preprocess --input owner/name``."""
    return _load(repo_id, None, split, streaming=True)


def download(name: str, output_dir: str, split: str = "train", limit: int | str | None = None,
             overwrite: bool = False, checks: Checks | None = None) -> str:
    """Write ``DATASETS[name]`` (one split, optionally the first ``limit`` rows) as JSONL; return its path."""
    checks = checks or Checks()
    checks.choice("dataset", name, tuple(DATASETS))
    limit = checks.integer("--limit", limit, low=1)
    if not SPLIT_NAME.fullmatch(split or ""):
        checks.add(f"--split {split!r}: not a split name; use letters, digits, '_' or '-' (e.g. train, validation)")
    spec = DATASETS.get(name)
    path = os.path.join(output_dir, _filename(spec, split)) if spec and not checks.problems else None
    if path:
        checks.add(*output_problems(output_dir, True, "--output_dir"))
        if not checks.problems:
            checks.add(*output_problems(path, overwrite, "--output_dir", folder=False))
    if hub_offline() and spec:  # reported with the other problems: the fix is the same local route
        checks.add(_offline_problem(spec.repo_id, spec.config))
    checks.done()
    rows = _load(spec.repo_id, spec.config, split, streaming=True)
    try:
        with atomic_file(path) as temp, open(temp, "w", encoding="utf-8") as out:
            for index, row in enumerate(rows):
                if limit is not None and index >= limit:
                    break
                out.write(json.dumps(row, ensure_ascii=False, default=str) + "\n")
    except Exception as exc:  # the stream broke mid-way; atomic_file removed the partial file
        reason = (str(exc).splitlines() or [type(exc).__name__])[0][:200]
        raise UsageError(f"{spec.repo_id}: download interrupted ({reason}); rerun, or {LOCAL_ROUTE}") from exc
    return path


def _filename(spec: HubDataset, split: str) -> str:
    return spec.filename if split == "train" else spec.filename.replace(".jsonl", f"-{split}.jsonl")
