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


def test_test_script_refuses_an_unknown_stream_count():
    """TEST_STREAMS is 1 or 2; anything else is named before setup or any test runs."""
    proc = bash("test.sh", env={"TEST_STREAMS": "two"}, timeout=60)
    assert proc.returncode == 2 and proc.stdout == ""
    assert proc.stderr.strip() == "test.sh: TEST_STREAMS=two: use 1 (one pytest process) or 2 (the default)"


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


NOISE = ("The pynvml package is deprecated", "Transformer Engine and Apex are not installed",
         "with an incorrect regex pattern", "nemo experiment", "`isinstance(treespec, LeafSpec)` is deprecated",
         "The `srun` command is available on your system but is not used")


def test_demo_main_job(tmp_path):
    """`bash scripts/demo.sh` end to end on its defaults: the model measurably learns the task."""
    demo = tmp_path / "demo"
    proc = bash("demo.sh", env={"DEMO_DIR": str(demo), "NEMORUN_HOME": str(tmp_path / "nemorun_home")},
                timeout=3600)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    check_demo(proc.stdout + proc.stderr, demo)
    manifests = {p.name: p.read_bytes() for p in (demo / "pipeline").glob("*.json") if p.name != "pipeline.json"}
    again = bash("demo.sh", env={"DEMO_DIR": str(demo), "NEMORUN_HOME": str(tmp_path / "nemorun_home")})
    assert again.returncode == 0 and "demo: every stage is up to date; nothing to run" in again.stdout, again.stdout
    assert {p.name: p.read_bytes() for p in (demo / "pipeline").glob("*.json") if p.name != "pipeline.json"} == \
        manifests and len(manifests) == 6, "a second run redoes nothing"


def check_demo(output: str, demo: Path) -> None:
    """The demo's own reports show learning: held-out metrics above the untrained baseline, loss falling."""
    for stage in range(1, 7):  # one pipeline call (recipes/pipelines/demo.yaml), its six stages
        assert f"==> {stage}/6" in output
    for noise in NOISE:
        assert noise not in output, noise
    results = demo / "results"
    evals = results / "demo_lora" / "eval"
    trained, baseline = (json.loads((evals / name).read_text()) for name in ("report.json", "baseline.json"))
    heldout = [json.loads(line) for line in (REPO / "recipes/data/sample/translate_heldout.jsonl").open()]
    assert trained["num_samples"] == baseline["num_samples"] == len(heldout)
    training_inputs = {json.loads(line)["input"] for line in (demo / "data/sft/training.jsonl").open()}
    pretraining_text = (REPO / "recipes/data/sample/translate_pretrain.jsonl").read_text()
    assert not any(row["input"] in training_inputs or row["input"] in pretraining_text for row in heldout)
    # Exact match recomputed from the predictions themselves, against the held-out file's answers.
    samples = trained["samples"]
    answers = {row["input"]: row["output"] for row in heldout}
    assert all(s["reference"] == answers[s["input"]] for s in samples)
    recomputed = sum(s["prediction"].strip() == s["reference"] for s in samples) / len(samples)
    assert trained["exact_match"] >= baseline["exact_match"] + 0.25, (baseline, trained)
    assert recomputed >= baseline["exact_match"] + 0.25  # over the first 20 samples the report keeps
    for run in ("demo_pretrain", "demo_lora"):
        losses = [json.loads(line)["train_loss"] for line in (results / run / "metrics.jsonl").open()
                  if "train_loss" in json.loads(line)]
        head, tail = sum(losses[:5]) / 5, sum(losses[-5:]) / 5
        assert tail < 0.7 * head, (run, head, tail)
    from PIL import Image

    assert Image.open(evals / "report.png").size[0] > Image.open(evals / "report.png").size[1] * 2  # two panels
    assert f"exact match     {baseline['exact_match']:.2f} -> {trained['exact_match']:.2f}" in output
    assert "Artifacts (all under" in output and str(demo) in output
    status = subprocess.run([str(VENV_PYTHON), "-m", "recipes.status"], capture_output=True, text=True, cwd=REPO,
                            env={**os.environ, "NEMORUN_HOME": re.search(r"NEMORUN_HOME=(\S+)", output).group(1)})
    assert re.search(r"demo_lora\s+SUCCEEDED", status.stdout) and "demo_pretrain" in status.stdout, status.stdout
    status = subprocess.run([str(VENV_PYTHON), "-m", "recipes.status", "demo"], capture_output=True, text=True,
                            cwd=REPO, env={**os.environ, "NEMORUN_HOME": re.search(r"NEMORUN_HOME=(\S+)", output).group(1)})
    assert len(re.findall(r"^  \d/6 \w+ +DONE", status.stdout, flags=re.M)) == 6, status.stdout


def test_dockerfile_base_is_a_supported_stack_with_its_reason():
    """The image's base, the README's 'Supported stacks' table and the pins tell one story."""
    text = (REPO / "docker" / "Dockerfile").read_text()
    image = re.search(r"ARG NEMO_IMAGE=(\S+)", text).group(1)
    header = " ".join(line.lstrip("# ") for line in text.splitlines() if line.startswith("#"))
    assert f"Base: {image}" in header and "adapter" in header and "tests/megatron/test_stack_pair.py" in header
    readme = (REPO / "README.md").read_text()
    table = readme.split("## Supported stacks", 1)[1].split("\n## ", 1)[0]
    row = next(line for line in table.splitlines() if f"`{image}`" in line and "`docker/Dockerfile`" in line)
    assert "| supported with the adapter" in row
    setup = (REPO / "scripts" / "setup.sh").read_text()
    container = setup.split("container_install() {", 1)[1].split("\n}", 1)[0]
    assert container.index("-m recipes.environment.stack") < container.index("pip install"), "check before installing"
    pinned = re.search(r"^megatron-core==(\S+)$", (REPO / "constraints.txt").read_text(), flags=re.M).group(1)
    bound = re.search(r'"megatron-core>=([\d.]+),<([\d.]+)"', (REPO / "pyproject.toml").read_text())
    as_tuple = lambda v: tuple(int(p) for p in v.split("."))  # noqa: E731
    assert as_tuple(bound.group(1)) <= as_tuple(pinned) < as_tuple(bound.group(2))
    assert f"2.7.3 / {pinned}" in table
