"""Pretraining on mmap data, a SIGKILL at a step and the relaunch of the same command, a relaunch with a
larger ``--max_steps``: NeMo's Megatron path on CPU through ``python -m recipes.pretrain``.

Oracles: TensorBoard's EventAccumulator reads the losses (not the library's reader); NeMo's own log line
names the checkpoint it restores from; the run records say how each launch ended. Equal losses alone would
also pass if a relaunch retrained from step 0 (training is deterministic): the restore line and the first
step of the relaunch's event file are what show the resume.
"""

from __future__ import annotations

import json
import statistics

import pytest

from mt_helpers import PRETRAIN_STEPS, pretrain_args
from mt_helpers import cli, event_losses, output, restored_steps, run_records

pytestmark = [pytest.mark.megatron, pytest.mark.slow]

KILL_AT = 3  # SIGKILL once checkpoint step=3 (every 2 steps: steps 1, 3, 5, 7) is written


def test_loss_falls(straight):
    exp_dir, proc = straight
    (losses,) = event_losses(exp_dir)
    assert sorted(losses) == list(range(PRETRAIN_STEPS)), losses
    first, last = statistics.mean([losses[0], losses[1]]), statistics.mean([losses[6], losses[7]])
    # From random init with the Llama 3 vocabulary the loss starts near ln(128256) = 11.76.
    assert 11.0 < losses[0] < 12.5, losses
    assert last < first - 0.1, losses
    assert "Restoring states" not in output(proc)  # a fresh experiment starts from scratch


@pytest.fixture(scope="module")
def crashed(root, data):
    """The same command as ``straight``, killed after checkpoint step=3, then launched again unchanged."""
    args = pretrain_args(data, "crash")
    killed = cli(root, "pretrain", *args, check=False, RECIPES_FAULT=f"kill_at_step:{KILL_AT}")
    relaunch = cli(root, "pretrain", *args, RECIPES_FAULT=f"kill_at_step:{KILL_AT}")
    return root / "results" / "crash", killed, relaunch


def test_killed_run_resumes_at_the_saved_step_with_the_same_losses(root, straight, crashed):
    exp_dir, killed, relaunch = crashed
    assert killed.returncode == 1, output(killed)[-3000:]
    first, second = run_records(root, "crash")
    # The launcher records a death by signal as a stop (exit -9 = SIGKILL) and names the command that resumes.
    assert first["outcome"]["pretrain"] == {"state": "STOPPED", "exit_code": -9}
    assert f"resume with: {first['command']}" in killed.stderr
    assert second["outcome"]["pretrain"]["state"] == "SUCCEEDED" and first["command"] == second["command"]
    assert restored_steps(output(relaunch)) == [KILL_AT]
    # The relaunch's own event file starts right after the checkpoint: no step up to it was trained again.
    resumed = event_losses(exp_dir)[-1]
    assert sorted(resumed) == list(range(KILL_AT + 1, PRETRAIN_STEPS)), resumed
    (reference,) = event_losses(straight[0])
    # Same data order, same state (fp32 weights and torch AdamW's moments restored bit for bit), same ops
    # on the same 2 threads: every later loss is the uninterrupted run's exactly.
    assert resumed == {step: reference[step] for step in resumed}


def test_status_reports_the_resumed_run(root, crashed):
    proc = cli(root, "status", "crash", "--json")
    state = json.loads(proc.stdout)["pretrain"]
    assert state["status"] == "SUCCEEDED" and state["log_dir"] == str(root / "results" / "crash")
    assert state["step"] == PRETRAIN_STEPS - 1 and state["max_steps"] == PRETRAIN_STEPS


def test_larger_max_steps_continues_from_the_end(root, data, crashed):
    exp_dir = crashed[0]
    more = PRETRAIN_STEPS + 2
    proc = cli(root, "pretrain", *pretrain_args(data, "crash", "--max_steps", str(more)))
    assert restored_steps(output(proc)) == [PRETRAIN_STEPS - 1]
    continued = event_losses(exp_dir)[-1]
    assert sorted(continued) == list(range(PRETRAIN_STEPS, more)), continued
