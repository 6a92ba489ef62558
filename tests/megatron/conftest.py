"""Session fixtures of the Megatron CPU suite: data made by the CLI, and the runs several tests read.

Every run is a ``python -m recipes.<command>`` subprocess through a NeMo-Run experiment (the local or
torchrun executor), as a user launches it. Required in CI: nothing here skips; a missing package or tool
fails the test that needs it.

Also: megatron-core 0.16.1 (the API of nvcr.io/nvidia/nemo:26.02) in a directory of its own, beside the pinned 0.15.3.

The tests put it first on ``PYTHONPATH`` of a child process: ``megatron`` is a namespace package, so
``megatron.core`` then comes from this directory while NeMo, torch and the rest stay the pinned venv's.
Installed once per cache directory (``$RECIPES_TEST_CACHE``, default ``~/.cache/llama-recipes-tests``).
Offline: ``RECIPES_MCORE_016_WHEELS=DIR`` names a folder holding the wheels (``pip download --no-deps -d DIR
megatron-core==V`` for 0.16.1 and 0.14.0, the doctor's FAIL case). A failed install fails the tests: they
are required, never skipped.

No ``__init__.py`` here, ever: tests/ is on sys.path (root conftest), and a regular package named
``megatron`` would shadow megatron-core; as a bare folder it only joins the ``megatron`` namespace
(harmless while it holds no ``core``).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from mt_helpers import REPO, SAMPLE, cli, pretrain_args

@pytest.fixture(scope="session")
def root(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("megatron")


@pytest.fixture(scope="session")
def data(root) -> dict[str, Path]:
    """The bundled samples through ``recipes.preprocess`` (Megatron mmap) and ``recipes.prepare_sft``."""
    cli(root, "preprocess", "--input", str(SAMPLE / "pretrain_zh_en.jsonl"), "--output-prefix",
        str(root / "data" / "sample"), "--append-eod")
    cli(root, "prepare_sft", "--input", str(SAMPLE / "instructions.jsonl"), "--output_dir", str(root / "sft"),
        "--val_size", "40", "--test_size", "20")
    return {"mmap": root / "data" / "sample_text_document", "sft": root / "sft"}


@pytest.fixture(scope="session")
def straight(root, data):
    """An uninterrupted 8-step pretraining: (its experiment dir, the launch's output)."""
    proc = cli(root, "pretrain", *pretrain_args(data, "straight"))
    return root / "results" / "straight", proc


MCORE_NEW = "0.16.1"
MCORE_OLD = "0.14.0"  # lacks what nemo.collections.llm imports: the doctor's FAIL case
WHEELS_ENV = "RECIPES_MCORE_016_WHEELS"


def _cache_root() -> Path:
    return Path(os.environ.get("RECIPES_TEST_CACHE") or Path.home() / ".cache" / "llama-recipes-tests")


def _installed(target: Path, version: str) -> bool:
    return (target / f"megatron_core-{version}.dist-info").is_dir() and (target / "megatron" / "core").is_dir()


def _pip_install(target: Path, version: str) -> subprocess.CompletedProcess:
    source = ["--no-index", "--find-links", os.environ[WHEELS_ENV]] if os.environ.get(WHEELS_ENV) else []
    return subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--disable-pip-version-check",
                           "--no-deps", *source, "--target", str(target), f"megatron-core=={version}"],
                          capture_output=True, text=True, timeout=600)


def megatron_core_dir(version: str) -> Path:
    """A directory whose ``megatron/core`` is megatron-core ``version`` (installed on first use, then cached)."""
    target = _cache_root() / f"megatron-core-{version}"
    if not _installed(target, version):
        target.parent.mkdir(parents=True, exist_ok=True)
        scratch = Path(tempfile.mkdtemp(prefix="mcore-", dir=target.parent))
        proc = _pip_install(scratch, version)
        if proc.returncode != 0 or not _installed(scratch, version):
            shutil.rmtree(scratch, ignore_errors=True)
            pytest.fail(f"could not install megatron-core {version} into a target directory (pip exit "
                        f"{proc.returncode}): {proc.stderr.strip()[-1500:]}\noffline: set {WHEELS_ENV} to a folder "
                        f"with the wheel (pip download --no-deps megatron-core=={version} -d DIR)", pytrace=False)
        shutil.rmtree(target, ignore_errors=True)
        scratch.rename(target)  # whole or absent: an interrupted install is never taken for a cached one
    return target


@pytest.fixture(scope="session")
def mcore_016() -> Path:
    return megatron_core_dir(MCORE_NEW)


@pytest.fixture(scope="session")
def mcore_014() -> Path:
    return megatron_core_dir(MCORE_OLD)


@pytest.fixture
def child_env(isolated):
    """``child_env(*dirs, **vars)``: an environment running this checkout's code with ``dirs`` ahead of the venv's."""
    def make(*first: Path, **extra: str) -> dict:
        env = {**os.environ, **extra}
        env["PYTHONPATH"] = os.pathsep.join([str(REPO), *map(str, first)])
        env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"  # NeMo-Run runs `python`
        return env

    return make
