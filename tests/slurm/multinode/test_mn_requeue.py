"""Requeue and resume of a 2-node training job submitted with the CLI.

Attempt 0: SIGTERM to the job's steps on both nodes; the ranks save the step in progress, the attempt exits
non-zero and ``--retries`` requeues the job. Attempt 1 runs on both nodes again and starts right after that
checkpoint; then one node's training process is killed (SIGKILL, no save): the step fails, srun ends the other
node's part, and ``--retries`` requeues once more. Attempt 2 resumes from the newest checkpoint and finishes.
"""

from __future__ import annotations

import os
import signal

from e2e_helpers import checkpoint_steps, logged_steps, metrics_steps, submitted
from mn_e2e import MN, mn_e2e, wait_ranks  # noqa: F401 (fixture)
from mn_helpers import client, scontrol_job, wait_state, wait_until

EXP = "mn_requeue"
REQUEUE = (f"python -m recipes.pretrain {MN} -N 2 -G 1 -D data/sample_text_document -E {EXP} --max_steps 10 -s 64 "
           "--ckpt_every_n_steps 2 --retries 2 --detach -y")


def _wait_requeued(env, job: str, attempt: int) -> None:
    def held():
        fields = scontrol_job(env, job)
        return fields.get("Restarts") == str(attempt) and fields.get("JobState") in ("PENDING", "REQUEUED")
    wait_until(held, 120, f"job {job} to be requeued (Restarts={attempt})")


def _on_both_nodes(ranks) -> bool:
    return sorted(r["host"] for r in ranks) == ["mn1", "mn2"] and {r["world_size"] for r in ranks} == {"2"}


def test_sigterm_and_a_killed_node_requeue_and_resume_on_both_nodes(mn_e2e):
    env = mn_e2e.env
    job = submitted(mn_e2e.sh(REQUEUE).stdout)["pretrain"]
    log_dir = mn_e2e.results / EXP
    logs = [mn_e2e.attempt_log(EXP, "pretrain", job, n) for n in range(3)]

    assert _on_both_nodes(wait_ranks(job, 2, timeout=240))
    wait_until(lambda: len(logged_steps(logs[0])) >= 3, 240, "attempt 0 to log 3 steps")
    client(env, "scancel", "--signal=TERM", job)
    _wait_requeued(env, job, 1)
    steps0, ckpt0 = logged_steps(logs[0]), checkpoint_steps(log_dir)
    assert ckpt0 and ckpt0[-1] == steps0[-1], f"SIGTERM saved the step in progress: {steps0} {ckpt0}"

    ranks = wait_ranks(job, 2, timeout=240)
    assert _on_both_nodes(ranks), ranks
    wait_until(lambda: len(logged_steps(logs[1])) >= 2, 240, "attempt 1 to log 2 steps")
    assert logged_steps(logs[1])[0] == ckpt0[-1] + 1, "attempt 1 resumes after attempt 0's checkpoint"
    victim = next(r for r in ranks if r["host"] == "mn2")
    os.kill(int(victim["pid"]), signal.SIGKILL)
    _wait_requeued(env, job, 2)
    steps1, ckpt1 = logged_steps(logs[1]), checkpoint_steps(log_dir)

    row = wait_state(env, job, "COMPLETED", timeout=400)
    steps2 = logged_steps(logs[2])
    assert steps2[0] == ckpt1[-1] + 1 and steps2[-1] == 10, (steps1, ckpt1, steps2)
    assert set(steps0 + steps1 + steps2) == set(range(1, 11)) and sorted(set(metrics_steps(log_dir))) == list(range(1, 11))
    assert scontrol_job(env, job)["Restarts"] == "2" and row["ExitCode"] == "0:0"
    exits = [line for line in mn_e2e.batch_log(EXP, "pretrain", job).read_text().splitlines()
             if line.startswith("job exited with code")]
    assert len(exits) == 3 and exits[0] != "job exited with code 0" and exits[1] != "job exited with code 0" \
        and exits[2] == "job exited with code 0", exits
    mn_e2e.assert_no_secret()
