"""Kill a training process at an exact point (``RECIPES_FAULT``), relaunch it, and check from the run's own
records that the relaunch resumed: its first trained step is the checkpoint's step + 1, it trained no step
up to the checkpoint again, and every step's loss and the final weights equal an uninterrupted run's.

Training is deterministic, so equal losses alone would also pass if the relaunch ignored the checkpoint and
started from step 0: the assertions on ``launches.jsonl`` and on which launch wrote each ``metrics.jsonl`` row
are what show the resume.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from hf_helpers import (QUIET, assert_same_run, launch_records, options, options_json, subprocess_env,
                        train_in_process, trained_steps)
from recipes.hf.checkpointing import REQUEUE_EXIT_CODE, complete_checkpoints

STEPS, EVERY = 6, 2
COMMON = dict(max_steps=STEPS, ckpt_every_n_steps=EVERY, val_check_interval=4, seq_length=16,
              global_batch_size=2, micro_batch_size=1)


def _launch_with_fault(opts, fault: str) -> subprocess.CompletedProcess:
    """``python -m recipes.hf.train`` in a child process that kills or signals itself at ``fault``."""
    args = ["--options", options_json(opts), *(a for o in QUIET for a in ("--set", o))]
    return subprocess.run([sys.executable, "-m", "recipes.hf.train", *args],
                          env={**subprocess_env(), "RECIPES_FAULT": fault},
                          capture_output=True, text=True, timeout=300)


def _with_baseline(baseline_opts, launch):
    """Run ``launch()`` (a child process) while the uninterrupted baseline trains here: 2 cores, half the time."""
    out = {}
    worker = threading.Thread(target=lambda: out.update(proc=launch()))
    worker.start()
    try:
        train_in_process(baseline_opts)
    finally:
        worker.join()
    return out["proc"], baseline_opts


@pytest.fixture(scope="module")
def runs(tmp_path_factory, corpus, sft_dir):
    root = tmp_path_factory.mktemp("resume")
    data = {"pretrain": corpus, "lora": sft_dir}
    return lambda task, name: options(root, task, data[task], f"{task}_{name}", **COMMON)


def _assert_resumed(opts, launch: int, checkpoint: int) -> dict:
    """Launch ``launch`` resumed from ``checkpoint`` and trained exactly the steps after it, each once."""
    record = launch_records(opts.log_dir)[launch]
    assert record["resumed_step"] == checkpoint, record
    assert record["resumed_from"].endswith(f"step={checkpoint:07d}/state.ckpt"), record
    assert record["first_step"] == checkpoint + 1, record
    assert trained_steps(opts.log_dir)[launch] == list(range(checkpoint + 1, STEPS + 1)), "no step <= checkpoint"
    return record


def test_sigkill_after_a_step_then_relaunch_resumes_from_the_last_checkpoint(runs):
    opts = runs("pretrain", "killed")
    proc, baseline = _with_baseline(runs("pretrain", "baseline"), lambda: _launch_with_fault(opts, "kill_after_step:3"))
    assert proc.returncode == -signal.SIGKILL, proc.stdout[-2000:] + proc.stderr[-2000:]
    assert [s for s, _ in complete_checkpoints(opts.checkpoint_dir)] == [2]
    assert trained_steps(opts.log_dir) == {0: [1, 2, 3]}
    first = launch_records(opts.log_dir)[0]
    assert first["resumed_step"] is None and first["first_step"] == 1 and first["world_size"] == 1

    resumed = train_in_process(opts)
    _assert_resumed(opts, 1, checkpoint=2)
    assert_same_run(opts, resumed, baseline, STEPS)


def test_sigkill_during_a_save_then_relaunch_uses_the_previous_checkpoint(runs):
    opts = runs("pretrain", "killed_in_save")
    proc = _launch_with_fault(opts, "kill_in_save:4")
    assert proc.returncode == -signal.SIGKILL, proc.stdout[-2000:] + proc.stderr[-2000:]
    partial = opts.checkpoint_dir + "/.tmp-step=0000004"
    assert [s for s, _ in complete_checkpoints(opts.checkpoint_dir)] == [2]
    assert os.listdir(partial) == ["state.ckpt"], "cut after half the state file, before meta.json and the rename"

    resumed = train_in_process(opts)
    record = _assert_resumed(opts, 1, checkpoint=2)
    assert record["removed_incomplete"] == [".tmp-step=0000004"]
    assert not os.path.exists(partial)
    assert_same_run(opts, resumed, runs("pretrain", "baseline"), STEPS)  # trained by the test before


def test_sigterm_saves_exits_for_requeue_then_relaunch_matches_uninterrupted(runs):
    opts = runs("lora", "terminated")
    proc, baseline = _with_baseline(runs("lora", "baseline"), lambda: _launch_with_fault(opts, "term_after_step:3"))
    assert proc.returncode == REQUEUE_EXIT_CODE, proc.stdout[-2000:] + proc.stderr[-2000:]
    assert [s for s, _ in complete_checkpoints(opts.checkpoint_dir)] == [2, 3], "step 3 saved by the signal"
    assert trained_steps(opts.log_dir) == {0: [1, 2, 3]}
    assert not (Path(opts.log_dir) / "hf_adapter").exists(), "unfinished: nothing exported yet"

    resumed = train_in_process(opts)
    _assert_resumed(opts, 1, checkpoint=3)
    assert_same_run(opts, resumed, baseline, STEPS)


def test_sigusr1_saves_at_the_end_of_the_step_and_asks_for_requeue(tmp_path, sft_dir, monkeypatch):
    import os

    from recipes.hf import module

    opts = options(tmp_path, "lora", sft_dir, max_steps=6, ckpt_every_n_steps=100, val_check_interval=6,
                   seq_length=16, global_batch_size=2, micro_batch_size=1)
    step = module.CausalLMModule.training_step

    def signalling_step(self, batch, batch_idx):
        if batch_idx == 4:  # the first micro-batch of step 3 (two per step)
            os.kill(os.getpid(), signal.SIGUSR1)
        return step(self, batch, batch_idx)

    monkeypatch.setattr(module.CausalLMModule, "training_step", signalling_step)
    with pytest.raises(SystemExit) as stopped:
        train_in_process(opts)
    assert stopped.value.code == REQUEUE_EXIT_CODE
    assert [s for s, _ in complete_checkpoints(opts.checkpoint_dir)] == [3]


def test_a_malformed_fault_is_a_usage_error(tmp_path, corpus):
    opts = options(tmp_path, "pretrain", corpus, max_steps=1)
    proc = _launch_with_fault(opts, "kill_after:3")
    assert proc.returncode == 2, proc.stderr[-2000:]
    assert "RECIPES_FAULT='kill_after:3'" in proc.stderr and "Traceback" not in proc.stderr
