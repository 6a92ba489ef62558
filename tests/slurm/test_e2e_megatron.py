"""End to end on the local Slurm cluster: NeMo's real Megatron path (``--backend megatron --cpu``) killed and requeued.

``--env RECIPES_FAULT=kill_at_step:3`` (recipes/mcore/faults.py) reaches the job through the sbatch script. In
attempt 0 the training process SIGKILLs itself once NeMo's checkpoint ``step=3`` is on disk (NeMo names a
checkpoint by the last logged step: ``step=3`` holds the state after 4 optimizer steps). ``--retries 1`` makes the
batch script requeue the job; attempt 1 (the variable is still set, but a resumed run is not fresh) must restore
that checkpoint through NeMo's AutoResume and train to ``max_steps``. Oracles: Slurm's accounting (``sacct -D``:
every run of the job), Lightning's own restore line in attempt 1's log, and the trainer state (``global_step``)
stored inside the final checkpoint, read with torch (NeMo keeps only the newest ``-last``).
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import torch

from e2e_helpers import DOC_COMMANDS, e2e, run, scontrol_job, wait_state  # noqa: F401 (fixture)

pytestmark = pytest.mark.megatron

EXP = "mega_requeue"
MAX_STEPS = 6
JOB = DOC_COMMANDS["megatron_requeue"]  # as docs/slurm_testing.md shows it
RESTORED = re.compile(r"Restored all states from the checkpoint at (\S+)")
ITERATION = re.compile(r"^Training epoch 0, iteration (\d+)/\d+ \|", re.M)


def sacct_runs(job: str) -> list[tuple[str, str]]:
    """(State, ExitCode) of every run of ``job``, oldest first (``-D``: requeued runs too)."""
    out = run("sacct", "-D", "-X", "-P", "-n", "-o", "JobID,State,ExitCode", "-j", job).stdout
    return [(f[1].split()[0], f[2]) for f in (line.split("|") for line in out.splitlines()) if f[0] == job]


def iterations(log: str) -> list[int]:
    return [int(n) for n in ITERATION.findall(log)]


def global_step(checkpoint: Path) -> int:
    """The trainer state Lightning stored in a NeMo distributed checkpoint (not its folder name)."""
    return torch.load(checkpoint / "weights" / "common.pt", weights_only=False, map_location="cpu")["global_step"]


def test_killed_megatron_job_is_requeued_and_resumes_from_its_checkpoint(e2e):
    job = e2e.submit(JOB, "pretrain")
    # A few minutes alone; 9 under a load of 20.
    row = wait_state(job, {"COMPLETED", "FAILED", "CANCELLED", "TIMEOUT"}, timeout=900)
    logs = [e2e.attempt_log(EXP, "pretrain", job, n) for n in range(2)]
    texts = [log.read_text(errors="replace") if log.is_file() else "" for log in logs]
    assert row["State"] == "COMPLETED", (row, texts[-1][-4000:] or texts[0][-4000:])

    # Slurm: a run the batch script requeued after its non-zero exit (SIGKILL: 137), then a completed one.
    assert scontrol_job(job)["Restarts"] == "1"
    runs = sacct_runs(job)
    assert runs == [("REQUEUED", "0:0"), ("COMPLETED", "0:0")], runs
    batch = e2e.batch_log(EXP, "pretrain", job).read_text().splitlines()
    assert [line for line in batch if line.startswith("job exited with code")][-1] == "job exited with code 0"

    # Attempt 0 died right after checkpoint step=3; attempt 1 restored exactly that one (Lightning's message).
    assert "RECIPES_FAULT: SIGKILL after checkpoint step=3" in texts[0], texts[0][-3000:]
    assert not RESTORED.search(texts[0]), "attempt 0 started from scratch"
    restored = RESTORED.findall(texts[1])
    assert len(restored) == 1 and "step=3-" in restored[0], (restored, texts[1][-3000:])
    # NeMo's per-step lines (0-based iterations): attempt 0 ran 0..3, attempt 1 went on at 4, not from 0.
    assert iterations(texts[0]) == [0, 1, 2, 3] and iterations(texts[1]) == [4, 5], (iterations(texts[0]),
                                                                                    iterations(texts[1]))
    assert "RECIPES_FAULT" not in texts[1], "the resumed attempt ran on"

    # The newest -last checkpoint holds the state at max_steps.
    last = sorted((e2e.results / EXP / "checkpoints").glob("*-last"), key=global_step)
    assert last and global_step(last[-1]) == MAX_STEPS, [p.name for p in last]
    e2e.assert_no_secret()
