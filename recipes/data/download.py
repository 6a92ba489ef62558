"""Download the tutorial data sets from the Hugging Face hub into JSONL files.

Offline (``HF_HUB_OFFLINE=1`` or no network) every entry point fails with one line that names the
local-file route instead: download elsewhere, copy the JSONL over, pass it with ``--input``.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass

from recipes.errors import UsageError

LOCAL_ROUTE = ("download it where the hub is reachable (python -m recipes.download ...) and pass the JSONL "
               "to `python -m recipes.preprocess --input FILE` or `python -m recipes.prepare_sft --input FILE`")

# The hub's automatic parquet export of a data set, readable without its loading script.
PARQUET_REVISION = "refs/convert/parquet"


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


def _load(repo_id: str, config: str | None, split: str, streaming: bool):
    what = f"{repo_id}" + (f" ({config})" if config else "")
    if hub_offline():
        raise UsageError(f"{what}: the Hugging Face hub is offline (HF_HUB_OFFLINE=1); {LOCAL_ROUTE}")
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


def download(name: str, output_dir: str, split: str = "train", limit: int | None = None) -> str:
    """Write ``DATASETS[name]`` (one split, optionally the first ``limit`` rows) as JSONL; return its path."""
    if name not in DATASETS:
        raise UsageError(f"dataset {name!r}: unknown; choose one of {', '.join(DATASETS)}")
    if limit is not None and limit < 1:
        raise UsageError(f"--limit {limit}: must be at least 1")
    spec = DATASETS[name]
    rows = _load(spec.repo_id, spec.config, split, streaming=True)
    os.makedirs(output_dir, exist_ok=True)
    filename = spec.filename if split == "train" else spec.filename.replace(".jsonl", f"-{split}.jsonl")
    path = os.path.join(output_dir, filename)
    temp = f"{path}.tmp-{os.getpid()}"
    try:
        with open(temp, "w", encoding="utf-8") as out:
            for index, row in enumerate(rows):
                if limit is not None and index >= limit:
                    break
                out.write(json.dumps(row, ensure_ascii=False, default=str) + "\n")
        os.replace(temp, path)
    except BaseException as exc:
        if os.path.exists(temp):
            os.remove(temp)
        if isinstance(exc, Exception) and not isinstance(exc, UsageError):  # the stream broke mid-way
            reason = (str(exc).splitlines() or [type(exc).__name__])[0][:200]
            raise UsageError(f"{spec.repo_id}: download interrupted ({reason}); rerun, or {LOCAL_ROUTE}") from exc
        raise
    return path
