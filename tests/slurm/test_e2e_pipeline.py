"""End to end on the local Slurm cluster: the CPU demo pipeline as one NeMo-Run experiment, every stage a job
submitted at once and chained by afterok (Slurm's own records say so), each stage's manifest written by its
job, and a rerun that finds every stage up to date and submits nothing."""

from __future__ import annotations

import json

from e2e_helpers import e2e, run, sacct, scontrol_job, submitted, wait_state  # noqa: F401 (fixture)

STAGES = ["preprocess", "prepare_sft", "pretrain", "finetune", "evaluate", "chat"]
PIPELINE = ("DEMO_DIR=$PWD/demo DEMO_STEPS=4 DEMO_LORA_STEPS=2 python -m recipes.pipeline recipes/pipelines/demo.yaml "
            "--executor slurm -a acct -p batch --cpu_partition debug --packager none --retries 1 -y "
            "pretrain.cpu=true finetune.cpu=true")


def test_demo_pipeline_is_one_experiment_chained_by_afterok(e2e):
    proc = e2e.sh(PIPELINE + " --detach", timeout=300)
    jobs = submitted(proc.stdout)
    assert list(jobs) == STAGES, proc.stdout
    ids = [jobs[stage] for stage in STAGES]
    # Submitted together: the later jobs wait on the one before them (checked before those can have started).
    for previous, job in zip(ids[2:], ids[3:]):
        assert scontrol_job(job)["Dependency"].startswith(f"afterok:{previous}"), scontrol_job(job)

    rows = {stage: wait_state(job, "COMPLETED", timeout=600) for stage, job in jobs.items()}
    for before, after in zip(STAGES, STAGES[1:]):
        assert rows[before]["End"] <= rows[after]["Start"], (before, after, rows)
    partitions = {stage: run("sacct", "-j", job, "-X", "-n", "-P", "-o", "Partition").stdout.strip()
                  for stage, job in jobs.items()}
    assert partitions == {s: "batch" if s in ("pretrain", "finetune") else "debug" for s in STAGES}, partitions
    task_dir = next(p for p in (e2e.home / "experiments" / "demo").glob("demo_*") if p.is_dir())
    for stage in STAGES:
        script = (task_dir / f"{stage}_sbatch.sh").read_text()
        assert "--gpus" not in script and "scontrol requeue" in script, script  # CPU only; --retries 1
        manifest = json.loads((e2e.root / "demo" / "pipeline" / f"{stage}.json").read_text())
        assert manifest["slurm_job_id"] == jobs[stage], "the stage's own job wrote its manifest"
    report = json.loads((e2e.root / "demo" / "results" / "demo_lora" / "eval" / "report.json").read_text())
    baseline = json.loads((e2e.root / "demo" / "results" / "demo_lora" / "eval" / "baseline.json").read_text())
    assert report["num_samples"] == baseline["num_samples"] > 0

    status = e2e.sh("python -m recipes.status demo").stdout
    for number, stage in enumerate(STAGES, 1):
        assert f"{number}/6 {stage:<12} DONE        job {jobs[stage]}" in status, status

    again = e2e.sh(PIPELINE, timeout=300)
    assert "every stage is up to date; nothing to run" in again.stdout and not submitted(again.stdout), again.stdout
    assert sacct(ids[-1])["State"] == "COMPLETED"
    e2e.assert_no_secret()
