"""The README's scripts: the one-command main job, idempotent setup, the NGC-container install path."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

from testlib import REPO

VENV_PYTHON = REPO / ".venv" / "bin" / "python"


def bash(script: str, *args: str, env: dict | None = None, timeout: int = 1200) -> subprocess.CompletedProcess:
    return subprocess.run(["bash", str(REPO / "scripts" / script), *args], capture_output=True, text=True,
                          cwd=REPO, env={**os.environ, **(env or {})}, timeout=timeout)


def test_setup_is_idempotent():
    proc = bash("setup.sh")
    assert proc.returncode == 0, proc.stderr[-2000:]
    again = bash("setup.sh")
    assert again.returncode == 0 and "up to date" in again.stdout


def test_setup_rejects_unknown_option():
    proc = bash("setup.sh", "--conatiner")
    assert proc.returncode == 2 and "unknown option '--conatiner'" in proc.stderr


def _versions(python: Path) -> dict:
    code = ("import importlib.metadata as m, json; print(json.dumps({n: m.version(n) for n in "
            "('torch', 'megatron-core', 'nemo-toolkit', 'nemo-run', 'transformers')}))")
    return json.loads(subprocess.run([str(python), "-c", code], capture_output=True, text=True).stdout)


def test_container_setup_keeps_the_stack():
    """An environment that already has the NVIDIA stack (as the NGC image does) keeps every version."""
    python = VENV_PYTHON if VENV_PYTHON.exists() else Path(sys.executable)
    before = _versions(python)
    proc = bash("setup.sh", "--container", env={"PYTHON": str(python)})
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "torch" in proc.stdout and "(kept)" in proc.stdout
    assert _versions(python) == before
    check = subprocess.run([str(python), "-c", "import recipes, executors; print(recipes.__file__)"],
                           capture_output=True, text=True, cwd="/")
    assert check.stdout.strip() == str(REPO / "recipes" / "__init__.py")


def test_container_setup_refuses_an_image_without_nemo(tmp_path):
    """An environment with no NeMo (as a plain PyTorch image): refused with the fix, nothing installed."""
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(tmp_path / "bare")], check=True)
    python = tmp_path / "bare" / "bin" / "python"
    proc = bash("setup.sh", "--container", env={"PYTHON": str(python)})
    assert proc.returncode == 1
    assert "--container: this environment has no NeMo (nemo-toolkit); use nvcr.io/nvidia/nemo:26.02" in proc.stderr
    assert not list((tmp_path / "bare").rglob("recipes*")), "nothing may be installed"


def test_dockerfile_builds_on_a_pinned_ngc_image_without_replacing_it():
    text = (REPO / "docker" / "Dockerfile").read_text()
    image = re.search(r"ARG NEMO_IMAGE=(\S+)", text).group(1)
    assert re.fullmatch(r"nvcr\.io/nvidia/nemo:\d\d\.\d\d(\.\d+)?", image), "pin a dated NGC tag"
    assert "FROM ${NEMO_IMAGE}" in text and "scripts/setup.sh --container" in text
    assert image == "nvcr.io/nvidia/nemo:26.02" and "python -m recipes.doctor" in text.split("RUN ")[-1]
    for source in re.findall(r"^COPY (.+) \S+$", text, flags=re.M):
        for path in source.split():
            assert (REPO / path).exists(), f"Dockerfile copies missing {path}"


def test_demo_main_job(tmp_path):
    """`bash scripts/demo.sh` end to end (few steps): every stage through the CLI, artifacts where it says."""
    proc = bash("demo.sh", env={"DEMO_DIR": str(tmp_path / "demo"), "DEMO_STEPS": "4",
                                "NEMORUN_HOME": str(tmp_path / "nemorun_home")})
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    demo = tmp_path / "demo"
    for stage in ("1/6", "2/6", "3/6", "4/6", "5/6", "6/6"):
        assert f"==> {stage}" in proc.stdout
    assert (demo / "data" / "sample_text_document.bin").is_file()
    assert (demo / "data" / "sft" / "test.jsonl").is_file()
    assert (demo / "results" / "demo_pretrain" / "hf_model" / "config.json").is_file()
    assert (demo / "results" / "demo_lora" / "hf_adapter" / "adapter_config.json").is_file()
    report = json.loads((demo / "results" / "demo_lora" / "eval" / "report.json").read_text())
    assert {"bleu", "exact_match"} <= set(report) or "metrics" in report
    assert list((demo / "results" / "demo_lora" / "eval").glob("*.png"))
    assert "Artifacts:" in proc.stdout and str(demo) in proc.stdout
