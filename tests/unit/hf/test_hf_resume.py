"""Kill a training process (SIGKILL at a random checkpoint, or SIGTERM), relaunch it, and compare with an
uninterrupted run of the same seed: same final step, the same loss at every step, the same weights."""

from __future__ import annotations

import random
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from hf_helpers import metric_rows, options, options_json, subprocess_env, train_in_process
from recipes.hf.checkpointing import REQUEUE_EXIT_CODE, complete_checkpoints

STEPS, EVERY = 6, 2
# The relaunch of `python -m recipes.hf.train`, slowed down so that a signal lands mid-run.
SLOW_TRAIN = """
import sys, time
from recipes.hf import module
step = module.CausalLMModule.training_step
module.CausalLMModule.training_step = lambda self, b, i: (time.sleep(0.15), step(self, b, i))[1]
from recipes.hf.train import main
sys.exit(main(sys.argv[1:]))
"""


def _start(opts) -> subprocess.Popen:
    args = ["--options", options_json(opts), "--set", "trainer.enable_progress_bar=false"]
    return subprocess.Popen([sys.executable, "-c", SLOW_TRAIN, *args], env=subprocess_env(),
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def _wait_for_checkpoints(proc: subprocess.Popen, ckpt_dir: str, count: int, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while len(complete_checkpoints(ckpt_dir)) < count:
        if proc.poll() is not None:
            pytest.fail(f"training exited ({proc.returncode}) before {count} checkpoints:\n{proc.stdout.read()}")
        assert time.monotonic() < deadline, "no checkpoint in time"
        time.sleep(0.02)


def _weights(directory: str) -> dict:
    from safetensors.torch import load_file

    files = list(Path(directory).glob("*.safetensors"))
    assert files, directory
    return {k: v for f in files for k, v in load_file(f).items()}


def _assert_same_run(resumed, baseline):
    import torch

    (opts, result), (base_opts, base_result) = resumed, baseline
    assert result.global_step == base_result.global_step == STEPS
    assert result.train_loss == pytest.approx(base_result.train_loss, rel=1e-6, abs=1e-6)
    losses, base_losses = metric_rows(opts.log_dir, "train_loss"), metric_rows(base_opts.log_dir, "train_loss")
    assert sorted(losses) == sorted(base_losses) == list(range(1, STEPS + 1))
    for step in base_losses:
        assert losses[step] == pytest.approx(base_losses[step], rel=1e-6, abs=1e-6), step
    key = "adapter" if "adapter" in base_result.exported else "model"
    got, want = _weights(result.exported[key]), _weights(base_result.exported[key])
    assert got.keys() == want.keys()
    for name in want:
        torch.testing.assert_close(got[name], want[name], rtol=1e-6, atol=1e-6, msg=name)


def _interrupt_while_baseline_runs(opts, baseline_opts, interrupt) -> tuple:
    """Start the slowed run, interrupt it from a thread, and meanwhile train the baseline here."""
    proc, errors = _start(opts), []

    def guarded():
        try:
            interrupt(proc)
        except BaseException as exc:  # re-raised in the test's thread
            errors.append(exc)
            proc.kill()

    worker = threading.Thread(target=guarded)
    worker.start()
    try:
        baseline = (baseline_opts, train_in_process(baseline_opts))
    finally:
        worker.join()
    output, _ = proc.communicate(timeout=120)
    if errors:
        raise errors[0]
    return proc, output, baseline


@pytest.fixture(scope="module")
def kill_runs(tmp_path_factory, corpus, sft_dir):
    root = tmp_path_factory.mktemp("resume")
    common = dict(max_steps=STEPS, ckpt_every_n_steps=EVERY, val_check_interval=4, seq_length=16,
                  global_batch_size=2, micro_batch_size=1)
    return {task: (options(root, task, data, f"{task}_baseline", **common),
                   options(root, task, data, f"{task}_killed", **common))
            for task, data in (("pretrain", corpus), ("lora", sft_dir))}


def test_sigkill_at_a_random_moment_then_relaunch_matches_uninterrupted(kill_runs):
    baseline_opts, opts = kill_runs["pretrain"]
    delay = random.uniform(0.0, 1.0)  # after the first checkpoint: mid-step, mid-save or mid-validation

    def kill(proc):
        _wait_for_checkpoints(proc, opts.checkpoint_dir, 1)
        time.sleep(delay)
        proc.kill()

    proc, output, baseline = _interrupt_while_baseline_runs(opts, baseline_opts, kill)
    assert proc.returncode == -signal.SIGKILL, output
    done = complete_checkpoints(opts.checkpoint_dir)
    assert done[-1][0] < STEPS, f"killed {delay:.2f}s after the first checkpoint, too late: {done}"
    _assert_same_run((opts, train_in_process(opts)), baseline)
    assert not list(Path(opts.checkpoint_dir).glob(".tmp-*"))


def test_sigterm_saves_exits_for_requeue_then_relaunch_matches_uninterrupted(kill_runs):
    baseline_opts, opts = kill_runs["lora"]

    def terminate(proc):
        _wait_for_checkpoints(proc, opts.checkpoint_dir, 1)
        proc.send_signal(signal.SIGTERM)

    proc, output, baseline = _interrupt_while_baseline_runs(opts, baseline_opts, terminate)
    assert proc.returncode == REQUEUE_EXIT_CODE, output
    stopped_at = complete_checkpoints(opts.checkpoint_dir)[-1][0]
    assert EVERY <= stopped_at < STEPS, output  # saved where the signal was handled, not only every EVERY
    assert not (Path(opts.log_dir) / "hf_adapter").exists()  # unfinished: nothing exported yet
    _assert_same_run((opts, train_in_process(opts)), baseline)


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
