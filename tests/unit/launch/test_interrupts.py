"""A local run stops with its launcher: Ctrl-C saves a checkpoint and says how to resume, a second
Ctrl-C aborts, and a launcher killed outright leaves no training process behind.

Real runs of the tiny model through ``python -m recipes.pretrain`` and NeMo-Run's local executor; each
signal is sent once the first complete checkpoint exists (a deterministic event, no sleeps).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from testlib import REPO, write_mmap

from recipes.hf.checkpointing import complete_checkpoints
from recipes.launch.jobcontrol import LAUNCHER_ENV

EXPERIMENT = "intr"


@pytest.fixture
def launch(isolated):
    data = write_mmap(isolated / "data" / "toks_text_document", [[128000, *range(5, 60), 128001]] * 40)
    started = []

    def start() -> subprocess.Popen:
        cmd = [sys.executable, "-m", "recipes.pretrain", "-M", "tiny", "--backend", "hf", "-E", EXPERIMENT,
               "-D", str(data), "--max_steps", "100000", "--ckpt_every_n_steps", "2", "-s", "32", "--yes"]
        out = open(isolated / "launcher.log", "w")
        proc = subprocess.Popen(cmd, cwd=isolated, stdout=out, stderr=subprocess.STDOUT, text=True,
                                env={**os.environ, "PYTHONPATH": str(REPO)}, start_new_session=True)
        started.append(proc)
        return proc

    yield start
    for proc in started:  # a failed assertion must not leave a trainer behind either
        for pid in job_pids(proc.pid):
            os.kill(pid, signal.SIGKILL)
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def job_pids(launcher: int) -> list[int]:
    """Processes started for this launcher: they carry its pid in their environment."""
    needle = f"{LAUNCHER_ENV}={launcher}\0".encode()
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and int(entry.name) != launcher:
            try:
                if needle in (entry / "environ").read_bytes():
                    pids.append(int(entry.name))
            except OSError:
                continue
    return pids


def wait_for(predicate, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


def checkpoints(root: Path) -> list[int]:
    return [step for step, _ in complete_checkpoints(root / "results" / EXPERIMENT / "checkpoints")]


def test_first_ctrl_c_stops_with_a_checkpoint_and_the_resume_command(launch, isolated):
    proc = launch()
    first = wait_for(lambda: checkpoints(isolated), 600, "the first checkpoint")[-1]
    assert job_pids(proc.pid), "the training job runs in its own process"
    proc.send_signal(signal.SIGINT)
    assert proc.wait(timeout=300) == 1
    log = (isolated / "launcher.log").read_text()
    assert "SIGINT: stopping the job gracefully" in log, log[-3000:]
    assert "task pretrain stopped by signal (SIGINT); resume with: python -m recipes.pretrain -M tiny" in log
    assert "ended FAILED" not in log
    assert checkpoints(isolated)[-1] >= first  # the SIGTERM made it save where it stopped
    assert not job_pids(proc.pid), "no training process outlives the launcher"

    status = subprocess.run([sys.executable, "-m", "recipes.status", EXPERIMENT], cwd=isolated, text=True,
                            capture_output=True, env={**os.environ, "PYTHONPATH": str(REPO)})
    assert status.returncode == 0, status.stderr
    assert "STOPPED" in status.stdout and "resume with: python -m recipes.pretrain" in status.stdout
    metrics = [json.loads(line) for line in (isolated / "results" / EXPERIMENT / "metrics.jsonl").open()]
    last = [row for row in metrics if "train_loss" in row][-1]
    assert f"step {last['step']:>4}/100000".replace(" ", "") in status.stdout.replace(" ", "")


def test_second_ctrl_c_aborts(launch, isolated):
    proc = launch()
    wait_for(lambda: checkpoints(isolated), 600, "the first checkpoint")
    for pid in job_pids(proc.pid):  # frozen, so that the graceful stop cannot finish before the second Ctrl-C
        os.kill(pid, signal.SIGSTOP)
    proc.send_signal(signal.SIGINT)
    wait_for(lambda: "stopping the job gracefully" in (isolated / "launcher.log").read_text(), 60, "the first stop")
    proc.send_signal(signal.SIGINT)
    assert proc.wait(timeout=120) == 1
    log = (isolated / "launcher.log").read_text()
    assert "SIGINT again: aborting the job (SIGKILL)" in log, log[-3000:]
    assert "task pretrain stopped by signal" in log and "ended FAILED" not in log
    assert not job_pids(proc.pid)


def test_a_killed_launcher_leaves_no_trainer(launch, isolated):
    proc = launch()
    wait_for(lambda: checkpoints(isolated), 600, "the first checkpoint")
    jobs = job_pids(proc.pid)
    assert jobs
    proc.kill()  # SIGKILL: no handler runs in the launcher
    proc.wait()
    wait_for(lambda: not job_pids(proc.pid), 120, f"the job processes {jobs} to stop")
