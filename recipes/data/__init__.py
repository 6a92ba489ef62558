"""Data tools: JSONL/parquet -> Megatron mmap, SFT preparation, downloads, synthetic data.

Heavy libraries (torch, transformers, megatron, datasets) are imported inside functions so that
``--help`` of every data command stays fast.
"""

from __future__ import annotations

from pathlib import Path


def sample_data_dir() -> Path:
    """The bundled sample corpus: ``pretrain_zh_en.jsonl`` and ``instructions.jsonl``."""
    return Path(__file__).resolve().parent / "sample"
