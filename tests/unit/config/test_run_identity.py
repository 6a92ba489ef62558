"""A relaunch resumes only the run its experiment directory holds: a LoRA run followed by a full-SFT command
(the tutorials' default experiment name), another dataset or base, is refused with one line naming what
differs and the two ways on; ``--restart`` keeps the old directory and starts over."""

from __future__ import annotations

import json
import os
from pathlib import Path

from testlib import run_module, write_sft_folder

TINY = ["-M", "tiny", "--backend", "hf", "-s", "32", "-g", "2", "-m", "1", "--max_steps", "2"]


def snapshot(root: Path) -> dict[str, int]:
    return {str(p.relative_to(root)): p.stat().st_mtime_ns for p in root.rglob("*") if p.is_file()}


def finetune(tmp_path: Path, *argv: str):
    env = {"NEMORUN_HOME": str(tmp_path / "home"), "RECIPES_RESULTS_DIR": str(tmp_path / "results"),
           "RECIPES_SITE_CONFIG": os.devnull}
    return run_module("recipes.finetune", *TINY, *argv, "--yes", env=env, cwd=tmp_path)


def test_lora_then_full_sft_is_refused_then_restart(tmp_path):
    data = write_sft_folder(tmp_path / "sft", rows=8)
    first = finetune(tmp_path, "--peft", "lora", "-D", str(data))
    assert first.returncode == 0, first.stderr[-3000:]
    run_dir = tmp_path / "results" / "llama31_finetuning"
    recorded = json.loads((run_dir / "identity" / "run.json").read_text())["identity"]
    assert recorded["task"] == "lora" and recorded["dataset"] == str(data)

    before = snapshot(tmp_path / "results")
    refused = finetune(tmp_path, "--peft", "none", "-D", str(data))
    assert refused.returncode == 2
    errors = [line for line in refused.stderr.splitlines() if "error:" in line]
    assert len(errors) == 1, refused.stderr
    assert "task 'lora' -> 'sft'" in errors[0] and "-E NEW_NAME" in errors[0] and "--restart" in errors[0]
    assert "Traceback" not in refused.stderr
    assert snapshot(tmp_path / "results") == before, "a refused relaunch changes nothing"

    other = write_sft_folder(tmp_path / "sft2", rows=8)
    refused = finetune(tmp_path, "--peft", "lora", "-D", str(other))
    assert refused.returncode == 2 and "dataset" in refused.stderr

    restarted = finetune(tmp_path, "--peft", "none", "-D", str(data), "--restart")
    assert restarted.returncode == 0, restarted.stderr[-3000:]
    (kept,) = [p for p in (tmp_path / "results").iterdir() if p.name.startswith("llama31_finetuning.old-")]
    assert json.loads((kept / "identity" / "run.json").read_text())["identity"]["task"] == "lora"
    assert (kept / "checkpoints").is_dir(), "the old run is kept whole"
    assert json.loads((run_dir / "identity" / "run.json").read_text())["identity"]["task"] == "sft"


def test_matching_relaunch_resumes(tmp_path):
    data = write_sft_folder(tmp_path / "sft", rows=8)
    assert finetune(tmp_path, "--peft", "lora", "-D", str(data)).returncode == 0
    again = finetune(tmp_path, "--peft", "lora", "-D", str(data), "--max_steps", "3")
    assert again.returncode == 0, again.stderr[-3000:]
    rows = [json.loads(line) for line in (tmp_path / "results" / "llama31_finetuning" / "metrics.jsonl").open()]
    steps = [r["step"] for r in rows if "train_loss" in r]
    assert steps == [1, 2, 3], "the relaunch continued at step 3 instead of starting over"


def test_dryrun_only_notes_a_mismatch(tmp_path):
    data = write_sft_folder(tmp_path / "sft", rows=8)
    run_dir = tmp_path / "results" / "llama31_finetuning"
    run_dir.mkdir(parents=True)
    (run_dir / "checkpoints").mkdir()
    (run_dir / "checkpoints" / "step=0000002").mkdir()
    proc = finetune(tmp_path, "--peft", "lora", "-D", str(data), "--dryrun")
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "a launch would refuse" in proc.stderr and "not recorded" in proc.stderr
