"""Two CPU processes under torchrun (DDP over gloo), launched the way NeMo-Run launches a serialized recipe,
killed and resumed across world sizes: 2 ranks -> 1 rank -> 2 ranks.

With the same global batch the data-parallel run sees the same samples per step as the single-process run
with gradient accumulation, so its losses match the uninterrupted single-process run step for step.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest

from hf_helpers import (QUIET, assert_same_run, launch_records, metric_rows, options, subprocess_env, train_in_process,
                        trained_steps)
from recipes.hf.checkpointing import REQUEUE_EXIT_CODE, complete_checkpoints


def _torchrun(opts, fault: str = "") -> subprocess.CompletedProcess:
    from nemo_run.core.serialization.zlib_json import ZlibJSONSerializer

    from recipes.hf.recipe import build_recipe
    from recipes.config.overrides import apply_overrides

    recipe = apply_overrides(build_recipe(opts), QUIET)
    torchrun = shutil.which("torchrun", path=str(Path(sys.executable).parent)) or "torchrun"
    return subprocess.run([torchrun, "--standalone", "--nproc-per-node", "2", "-m",
                           "nemo_run.core.runners.fdl_runner", "-n", "hf_ddp", ZlibJSONSerializer().serialize(recipe)],
                          env={**subprocess_env(), "RECIPES_FAULT": fault}, capture_output=True, text=True, timeout=300)


def test_torchrun_killed_then_resumed_on_one_rank_then_on_two_matches_single_process(pretrain_run, runs_dir, corpus,
                                                                                      monkeypatch):
    single_opts, _ = pretrain_run  # 6 steps, checkpoints every 3, GBS 4 = 2 micro-batches of 2 on one rank
    opts = options(runs_dir, "pretrain", corpus, "pretrain_ddp", num_gpus=2)

    # Launch 0: 2 ranks, both SIGKILLed after step 4; torchrun reports the failure.
    proc = _torchrun(opts, "kill_after_step:4")
    assert proc.returncode != 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert [s for s, _ in complete_checkpoints(opts.checkpoint_dir)] == [3]
    meta = json.loads((Path(opts.checkpoint_dir) / "step=0000003" / "meta.json").read_text())
    assert meta["world_size"] == 2

    # Launch 1: one process (gradient accumulation 2 instead of 1), stopped by SIGTERM after step 5 (exit 143).
    monkeypatch.setenv("RECIPES_FAULT", "term_after_step:5@1")
    with pytest.raises(SystemExit) as stopped:
        train_in_process(opts)
    assert stopped.value.code == REQUEUE_EXIT_CODE
    monkeypatch.delenv("RECIPES_FAULT")

    # Launch 2: 2 ranks again, to the end.
    proc = _torchrun(opts)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]

    records = launch_records(opts.log_dir)
    assert [(r["world_size"], r["resumed_step"], r["first_step"]) for r in records] == \
        [(2, None, 1), (1, 3, 4), (2, 5, 6)], records
    assert trained_steps(opts.log_dir) == {0: [1, 2, 3, 4], 1: [4, 5], 2: [6]}
    result = SimpleNamespace(global_step=6, train_loss=metric_rows(opts.log_dir, "train_loss")[6])  # a torchrun launch
    # DDP's all-reduced mean and one process's accumulated mean differ in the last float bits only.
    assert_same_run(opts, result, single_opts, 6, rel=1e-4)
    assert (Path(opts.log_dir) / "hf_model" / "config.json").is_file()
