"""End to end on the local Slurm cluster: a 2-rank torchrun training job killed at exact points resumes.

``RECIPES_FAULT`` (recipes/core/faults.py) reaches the job through sbatch's environment. Attempt 0: both ranks
SIGKILL themselves after step 4 (checkpoint 3 is the last). Attempt 1: rank 0 SIGKILLs itself while writing
checkpoint 6. ``--retries 2`` requeues the job after each failure. The run's own records show that attempt 1
resumed from checkpoint 3 and attempt 2 from checkpoint 3 again (the cut save of 6 was removed), each first
training the checkpoint's step + 1; the losses and weights equal an uninterrupted local run's.
"""

from __future__ import annotations

import sys
from pathlib import Path
from types import SimpleNamespace

from e2e_helpers import TINY, checkpoint_steps, e2e, logged_steps, scontrol_job, wait_state  # noqa: F401 (fixture)

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "unit" / "hf"))
from hf_helpers import assert_same_run, launch_records, metric_rows, trained_steps  # noqa: E402

FLAGS = f"{TINY} -D data/sample_text_document --max_steps 8 -s 64 -g 2 --ckpt_every_n_steps 3 -y"
JOB = f"python -m recipes.pretrain --executor slurm -a acct -p batch -G 2 -E tiny_faults {FLAGS} --retries 2 " \
      "--detach trainer.enable_progress_bar=false"
# The same global batch (-g 2) on one local process: the reference curve.
# Local: --packager is Slurm-only (refused elsewhere, recipes.job.support).
REFERENCE = ("python -m recipes.pretrain -G 1 -E tiny_reference " + FLAGS.replace(" --packager none", "")
             + " trainer.enable_progress_bar=false")


def test_killed_after_a_step_and_during_a_save_the_requeued_job_resumes_from_the_last_complete_checkpoint(e2e):
    job = e2e.submit(JOB, "pretrain", env={"RECIPES_FAULT": "kill_after_step:4,kill_in_save:6@1"})
    e2e.sh(REFERENCE, timeout=400)  # uninterrupted, one local process (same global batch), meanwhile
    row = wait_state(job, {"COMPLETED", "FAILED", "CANCELLED", "TIMEOUT"}, timeout=400)
    log_dir = e2e.results / "tiny_faults"
    logs = [e2e.attempt_log("tiny_faults", "pretrain", job, n) for n in range(3)]
    assert row["State"] == "COMPLETED" and scontrol_job(job)["Restarts"] == "2", (row, logs[-1].read_text()[-3000:])

    records = launch_records(log_dir)
    assert [(r["slurm_restart_count"], r["world_size"], r["resumed_step"], r["first_step"]) for r in records] == \
        [(0, 2, None, 1), (1, 2, 3, 4), (2, 2, 3, 4)], records
    assert records[2]["removed_incomplete"] == [".tmp-step=0000006"], "the save cut by the kill"
    assert trained_steps(log_dir) == {0: [1, 2, 3, 4], 1: [4, 5, 6], 2: [4, 5, 6, 7, 8]}
    for attempt, record in enumerate(records):  # each attempt's own log agrees
        assert logged_steps(logs[attempt])[0] == record["first_step"], attempt
    assert checkpoint_steps(log_dir) == [6, 8]

    final = SimpleNamespace(global_step=8, train_loss=metric_rows(log_dir, "train_loss")[8])
    reference = SimpleNamespace(log_dir=e2e.results / "tiny_reference")
    assert_same_run(SimpleNamespace(log_dir=log_dir), final, reference, 8, rel=1e-4)
    e2e.assert_no_secret()
