"""End to end on the local Slurm cluster: requeue and resume of training jobs submitted with the CLI.

* a job whose attempt exits non-zero (SIGTERM to its steps: save, exit 143) with ``--retries 1`` requeues
  itself, and ``scontrol requeue`` restarts it again; each attempt resumes from the last checkpoint and
  the job finishes at max_steps, repeating at most the steps after that checkpoint;
* ``--signal TERM@60`` with ``--time 00:02:00``: Slurm signals the job before its time limit (up to 60 s
  earlier than asked), the ranks save a checkpoint and the job requeues and resumes; ``scancel`` then
  ends it as CANCELLED with no process left behind.
"""

from __future__ import annotations

import json

import sys
from pathlib import Path

from e2e_helpers import (checkpoint_steps, e2e, job_processes, logged_steps,  # noqa: F401 (fixture)
                         process_kind, scontrol_job, squeue_state, wait_state, wait_until)

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "unit" / "hf"))
from hf_helpers import launch_records, metric_rows, trained_steps  # noqa: E402


def _wait_requeued(job: str, attempt: int, timeout: float) -> None:
    """Until Slurm holds the job for its next attempt (``Restarts=attempt``, not running)."""
    def held():
        fields = scontrol_job(job)
        return fields.get("Restarts") == str(attempt) and fields.get("JobState") in ("PENDING", "REQUEUED")
    wait_until(held, timeout, f"job {job} to be requeued (Restarts={attempt})")


def test_failed_or_requeued_attempts_resume_from_the_last_checkpoint(e2e):
    job = e2e.submit("requeue", "pretrain")
    log_dir = e2e.results / "tiny_requeue"
    logs = [e2e.attempt_log("tiny_requeue", "pretrain", job, n) for n in range(3)]

    # Attempt 0: SIGTERM to the job's steps (not the batch script): save, exit 143; --retries 1 requeues.
    wait_until(lambda: len(logged_steps(logs[0])) >= 4, 120, "attempt 0 to log 4 steps")
    e2e.sh("term_steps", job=job)
    _wait_requeued(job, 1, 90)
    steps0, ckpt0 = logged_steps(logs[0]), checkpoint_steps(log_dir)
    assert ckpt0 and ckpt0[-1] == steps0[-1], f"the signal saved the step in progress: {steps0} {ckpt0}"
    batch = e2e.batch_log("tiny_requeue", "pretrain", job)
    assert "job exited with code 143" in batch.read_text().splitlines(), "a non-zero exit (143) makes it requeue"

    # Attempt 1: resumes right after that checkpoint; then `scontrol requeue` from outside.
    wait_until(lambda: len(logged_steps(logs[1])) >= 3, 120, "attempt 1 to log 3 steps")
    steps1 = logged_steps(logs[1])
    assert steps1[0] == ckpt0[-1] + 1, (steps1, ckpt0)
    e2e.sh("scontrol_requeue", job=job)
    _wait_requeued(job, 2, 90)
    steps1, ckpt1 = logged_steps(logs[1]), checkpoint_steps(log_dir)

    # Attempt 2 finishes; every step after the checkpoint it resumed from, none before it, is run again.
    row = wait_state(job, "COMPLETED", timeout=150)
    steps2 = logged_steps(logs[2])
    assert steps2[0] == ckpt1[-1] + 1 and steps2[-1] == 16, (steps2, ckpt1)
    repeated = set(steps2) & set(steps0 + steps1)
    assert all(ckpt1[-1] < s <= steps1[-1] for s in repeated), (repeated, ckpt1)
    records = launch_records(log_dir)  # the run's own records: where each attempt resumed and started
    assert [(r["slurm_restart_count"], r["resumed_step"], r["first_step"]) for r in records] == \
        [(0, None, 1), (1, ckpt0[-1], ckpt0[-1] + 1), (2, ckpt1[-1], ckpt1[-1] + 1)], records
    trained = trained_steps(log_dir)
    assert trained[1][0] == ckpt0[-1] + 1 and trained[2] == list(range(ckpt1[-1] + 1, 17)), trained
    assert sorted(metric_rows(log_dir, "train_loss")) == list(range(1, 17)), "the current curve: each step once"
    assert (log_dir / "hf_model" / "config.json").is_file()
    assert scontrol_job(job)["Restarts"] == "2" and row["ExitCode"] == "0:0"
    lines = batch.read_text().splitlines()  # the batch script's output, all attempts (--open-mode=append)
    assert [line for line in lines if line.startswith("job exited with code")] == \
        ["job exited with code 143", "job exited with code 0"], "attempt 1 was killed by the requeue"
    assert any("DUE TO JOB REQUEUE" in line for line in lines)

    states = json.loads(e2e.sh("python -m recipes.status tiny_requeue --json").stdout)
    assert states["pretrain"]["status"] == "SUCCEEDED" and states["pretrain"]["slurm"]["attempts"] == 3, states
    shown = e2e.sh("requeue_logs").stdout
    for n in range(3):
        assert f"==> attempt {n} (SLURM_RESTART_COUNT={n}): {logs[n]} <==" in shown
    assert f"step {steps2[0]}/16" in shown.split("==> attempt 2")[1]
    e2e.assert_no_secret()


def test_signal_before_time_limit_saves_and_requeues_and_scancel_cleans_up(e2e):
    job = e2e.submit("signal", "pretrain")
    log_dir = e2e.results / "tiny_signal"
    logs = [e2e.attempt_log("tiny_signal", "pretrain", job, n) for n in range(2)]

    # --time 2 min, --signal TERM@60: Slurm sends SIGTERM 60-90 s before the limit (30-60 s after the start).
    # torchrun passes it to both ranks; they save at the end of the current step and exit; the job requeues.
    wait_until(lambda: logs[1].is_file(), 200, "the job to be signalled and requeued")
    steps0, ckpts = logged_steps(logs[0]), checkpoint_steps(log_dir)
    assert steps0 and steps0[-1] < 5000
    assert ckpts == [steps0[-1]], f"the only checkpoint is the one the signal made: {ckpts}, steps {steps0[-3:]}"
    attempt0 = logs[0].read_text(errors="replace")
    assert "Received 15 death signal, shutting down workers" in attempt0, "torchrun got SIGTERM and passed it on"
    meta = json.loads((log_dir / "checkpoints" / f"step={ckpts[0]:07d}" / "meta.json").read_text())
    assert meta["world_size"] == 2
    assert scontrol_job(job)["Restarts"] == "1"

    wait_until(lambda: logged_steps(logs[1]), 120, "attempt 1 to log a step")
    assert logged_steps(logs[1])[0] == ckpts[0] + 1, "attempt 1 resumes after the signal's checkpoint"

    # scancel: the job ends CANCELLED and none of its processes (batch shell, srun, torchrun, ranks) is left.
    processes = job_processes(job)
    kinds = [process_kind(p) for p in processes]
    assert kinds.count("torchrun") == 1 and kinds.count("rank") == 2 and "batch" in kinds, processes
    e2e.sh("scancel", job=job)
    row = wait_state(job, "CANCELLED", timeout=60)
    wait_until(lambda: squeue_state(job) == "", 90, f"job {job} to leave squeue")
    wait_until(lambda: not job_processes(job), 60, f"no process of job {job} left: {job_processes(job)}")
    assert row["State"] == "CANCELLED"
    status = e2e.sh("signal_status").stdout
    assert "CANCELLED" in status and "slurm CANCELLED" in status, status
    e2e.assert_no_secret()
