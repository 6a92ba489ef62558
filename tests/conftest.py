"""Root fixtures: an isolated NeMo-Run home, results dir and site settings; tiny real data."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from testlib import SECRET_NAMES, SITE_ENV_NAMES, write_mmap, write_sft_folder  # noqa: E402


@pytest.fixture
def isolated(tmp_path, monkeypatch):
    """cwd, results, NeMo-Run home and site file all under tmp_path; no secrets or site env inherited."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("NEMORUN_HOME", str(tmp_path / "nemorun_home"))
    monkeypatch.setenv("RECIPES_RESULTS_DIR", str(tmp_path / "results"))
    monkeypatch.setenv("RECIPES_SITE_CONFIG", os.devnull)
    for name in SECRET_NAMES + SITE_ENV_NAMES:
        monkeypatch.delenv(name, raising=False)
    return tmp_path


@pytest.fixture
def mmap_prefix(tmp_path) -> Path:
    return write_mmap(tmp_path / "data" / "wiki_text_document", [[128000, 5, 6, 7, 128001]] * 20)


@pytest.fixture
def sft_folder(tmp_path) -> Path:
    return write_sft_folder(tmp_path / "data" / "alpaca")
