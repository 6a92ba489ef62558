"""NeMo's real Megatron path (``--backend megatron --cpu``) across the 2 nodes, killed and requeued.

``-N 2 -G 1``: one gloo rank per node under torchrun, data parallel 2 (global batch 2). ``--env
RECIPES_FAULT=kill_at_step:3`` (recipes/mcore/faults.py): in attempt 0 every rank SIGKILLs itself once NeMo's
checkpoint ``step=3`` (the state after 4 optimizer steps) is on disk; srun ends the step and ``--retries 1``
requeues the job. Attempt 1 runs on both nodes again, restores that checkpoint through NeMo's AutoResume and
trains to ``max_steps``. Oracles: the training processes themselves (their UTS hostname and RANK, read from
/proc), Slurm's accounting of every run (``sacct -D``: state and node list), Lightning's restore line and NeMo's
per-step lines in each attempt's log, and the trainer state stored in the final checkpoint (read with torch).
"""

from __future__ import annotations

import re

import pytest
import torch

from e2e_helpers import submitted
from mn_e2e import MN, mn_e2e, wait_ranks  # noqa: F401 (fixture)
from mn_helpers import client, scontrol_job, wait_state, wait_until

pytestmark = pytest.mark.megatron

EXP = "mn_megatron"
MAX_STEPS = 6
JOB = (f"python -m recipes.pretrain {MN} --backend megatron -N 2 -G 1 -D data/sample_text_document -E {EXP} "
       f"--max_steps {MAX_STEPS} -g 2 --ckpt_every_n_steps 2 --retries 1 --env RECIPES_FAULT=kill_at_step:3 "
       "--detach -y")
RESTORED = re.compile(r"Restored all states from the checkpoint at (\S+)")
ITERATION = re.compile(r"Training epoch 0, iteration (\d+)/\d+ \|")
FAULT = "RECIPES_FAULT: SIGKILL after checkpoint step=3"


def _on_both_nodes(ranks) -> bool:
    return sorted((r["host"], r["world_size"]) for r in ranks) == [("mn1", "2"), ("mn2", "2")] and \
        sorted(r["rank"] for r in ranks) == ["0", "1"]


def _runs(env, job: str) -> list[tuple[str, str]]:
    """(State, NodeList) of every run of ``job``, oldest first (``-D``: requeued runs too)."""
    out = client(env, "sacct", "-D", "-X", "-P", "-n", "-o", "JobID,State,NodeList", "-j", job).stdout
    return [(f[1].split()[0], f[2]) for f in (line.split("|") for line in out.splitlines()) if f[0] == job]


def test_megatron_job_on_two_nodes_is_requeued_and_resumes_on_both(mn_e2e):
    env = mn_e2e.env
    job = submitted(mn_e2e.sh(JOB).stdout)["pretrain"]
    logs = [mn_e2e.attempt_log(EXP, "pretrain", job, n) for n in range(2)]

    assert _on_both_nodes(wait_ranks(job, 2, timeout=240)), "attempt 0: one rank on each node"
    wait_until(lambda: logs[1].is_file(), 600, "attempt 0 to be killed and the job requeued")
    assert _on_both_nodes(wait_ranks(job, 2, timeout=240)), "attempt 1: one rank on each node again"
    row = wait_state(env, job, {"COMPLETED", "FAILED", "CANCELLED", "TIMEOUT"}, timeout=600)
    texts = [log.read_text(errors="replace") for log in logs]
    assert row["State"] == "COMPLETED", (row, texts[1][-4000:])

    assert scontrol_job(env, job)["Restarts"] == "1"
    assert _runs(env, job) == [("REQUEUED", "mn[1-2]"), ("COMPLETED", "mn[1-2]")], _runs(env, job)
    assert texts[0].count(FAULT) == 2, "both ranks were killed after checkpoint step=3"
    assert not RESTORED.search(texts[0]), "attempt 0 started from scratch"
    restored = set(RESTORED.findall(texts[1]))
    assert len(restored) == 1 and "step=3-" in restored.pop(), texts[1][-3000:]
    # NeMo's per-step lines (0-based iterations): attempt 1 went on at 4, after the 4 steps of attempt 0.
    steps = [sorted({int(n) for n in ITERATION.findall(text)}) for text in texts]
    assert steps == [[0, 1, 2, 3], [4, 5]], steps

    last = [torch.load(p / "weights" / "common.pt", weights_only=False, map_location="cpu")["global_step"]
            for p in (mn_e2e.results / EXP / "checkpoints").glob("*-last")]
    assert max(last, default=None) == MAX_STEPS, last
    mn_e2e.assert_no_secret()
