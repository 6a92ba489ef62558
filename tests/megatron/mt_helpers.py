"""Helpers of the Megatron CPU suite: the CLI as a subprocess, and independent readers of what a run left.

Losses come from the TensorBoard event files NeMo's logger writes (read with tensorboard's own
EventAccumulator, not the library's reader); restores from the line NeMo's checkpoint IO prints; launch
outcomes from the run records (``<NEMORUN_HOME>/experiments/<name>/<run id>.run.json``).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
VENV_BIN = Path(sys.executable).parent
# Every step's loss in TensorBoard (Lightning's default logs every 50 steps); a dotted override, the
# README's trailing KEY=VALUE form.
EVERY_STEP = "trainer.log_every_n_steps=1"
MEGATRON_CPU = ("--backend", "megatron", "--cpu")
RESTORE = re.compile(r"Restoring states from the checkpoint path at (\S+)")


def child_env(root: Path, **extra: str) -> dict:
    """The launching environment: this worktree's code first, the venv's ``python`` first on PATH (NeMo-Run's
    LocalExecutor runs ``python``), everything the run writes under ``root``, no secrets or site settings."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("RECIPES_", "SBATCH_", "SLURM_", "NEMO", "HF_TOKEN", "WANDB", "TORCHELASTIC"))}
    env.update(PATH=f"{VENV_BIN}{os.pathsep}{env.get('PATH', '')}",
               PYTHONPATH=os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")])),
               RECIPES_RESULTS_DIR=str(root / "results"), NEMORUN_HOME=str(root / "nemorun"),
               NEMO_HOME=str(root / "nemo_home"), RECIPES_SITE_CONFIG=os.devnull,
               HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1", PYTHONWARNINGS="ignore", **extra)
    return env


def cli(root: Path, module: str, *args: str, check: bool = True, timeout: int = 900, **env) -> subprocess.CompletedProcess:
    """``python -m recipes.<module> args`` as a user runs it, from ``root``."""
    proc = subprocess.run([sys.executable, "-m", f"recipes.{module}", *args], cwd=root, env=child_env(root, **env),
                          capture_output=True, text=True, timeout=timeout)
    if check and proc.returncode != 0:
        raise AssertionError(f"recipes.{module} {' '.join(args)} exited {proc.returncode}:\n"
                             f"{proc.stdout[-6000:]}\n{proc.stderr[-6000:]}")
    return proc


def output(proc: subprocess.CompletedProcess) -> str:
    return proc.stdout + proc.stderr


def restored_steps(text: str) -> list[int]:
    """``step=N`` of every checkpoint NeMo says it restores training state from."""
    return [int(re.search(r"step=(\d+)", path).group(1)) for path in RESTORE.findall(text)]


def event_losses(exp_dir: Path, tag: str = "reduced_train_loss") -> list[dict[int, float]]:
    """``{step: loss}`` of each TensorBoard event file (one per launch), oldest launch first."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    files = sorted(Path(exp_dir).rglob("events.out.tfevents.*"), key=lambda p: p.stat().st_mtime)
    assert files, f"no TensorBoard events under {exp_dir}"
    out = []
    for path in files:
        events = EventAccumulator(str(path), size_guidance={"scalars": 0})
        events.Reload()
        if tag in events.Tags()["scalars"]:
            out.append({int(e.step): float(e.value) for e in events.Scalars(tag)})
    return out


def run_records(root: Path, experiment: str) -> list[dict]:
    """The run records of an experiment's launches, oldest first."""
    folder = root / "nemorun" / "experiments" / experiment
    records = [json.loads(p.read_text()) for p in folder.glob("*.run.json")]
    return sorted(records, key=lambda r: r["started"])


def last_checkpoint(exp_dir: Path) -> Path:
    """The newest complete ``-last`` checkpoint (as recipes.job.tutorial finds one for ``-n``)."""
    found = sorted(Path(exp_dir, "checkpoints").glob("*-last"), key=lambda p: p.stat().st_mtime)
    assert found, f"no -last checkpoint under {exp_dir}/checkpoints"
    return found[-1]


SAMPLE = REPO / "recipes" / "data" / "sample"
# Pretraining shared by the loss, resume and data-parallel tests: GBS 2 from micro-batches of 1, i.e.
# gradient accumulation over 2 micro-batches in one process; lr 1e-3 so the fall shows in 8 steps.
PRETRAIN_STEPS = 8
PRETRAIN = ("-M", "tiny", *MEGATRON_CPU, "--max_steps", str(PRETRAIN_STEPS), "--lr", "1e-3", "-g", "2", "-m", "1",
            "-s", "64", "--ckpt_every_n_steps", "2", "--seed", "1234", "-y")


def pretrain_args(data, experiment: str, *extra: str) -> list[str]:
    return [*PRETRAIN, "-D", str(data["mmap"]), "-E", experiment, *extra, EVERY_STEP]
