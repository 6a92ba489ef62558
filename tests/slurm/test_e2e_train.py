"""End to end on the local Slurm cluster: a 2-process (torchrun) training job through the CLI, its status and
logs through NeMo-Run's API and ``python -m recipes.status``, and secrets reaching the job but no file.
"""

from __future__ import annotations

import hashlib
import json
import os

from e2e_helpers import e2e, sacct, submitted  # noqa: F401 (fixture)


def test_torchrun_training_job_checkpoints_and_reports_status(e2e):
    proc = e2e.sh("train", timeout=300)  # waits for the job: exit 0 on success
    jobs = submitted(proc.stdout)
    assert list(jobs) == ["pretrain"], proc.stdout
    job = jobs["pretrain"]
    assert sacct(job)["State"] == "COMPLETED"

    log_dir = e2e.results / "tiny_slurm"
    for step in (2, 4):
        meta = json.loads((log_dir / "checkpoints" / f"step={step:07d}" / "meta.json").read_text())
        assert meta == {"step": step, "world_size": 2}, meta
    assert (log_dir / "hf_model" / "model.safetensors").is_file()
    task_dir = e2e.task_dir("tiny_slurm", "pretrain")
    script = (task_dir.parent / "pretrain_sbatch.sh").read_text()
    assert "torchrun" in script and "--nproc-per-node 2" in script and "--gpus" not in script, script
    log = e2e.attempt_log("tiny_slurm", "pretrain", job, 0).read_text(errors="replace")
    assert "[default0]:" in log and "[default1]:" in log, "two ranks under torchrun"
    assert "max_steps=4` reached" in log

    # The CLI.
    assert "tiny_slurm" in e2e.sh("status_list").stdout.split()
    text = e2e.sh("status").stdout
    assert f"pretrain     SUCCEEDED    job {job:>10}" in text and "slurm COMPLETED, exit 0:0" in text, text
    states = json.loads(e2e.sh("status_json").stdout)
    assert states["pretrain"]["status"] == "SUCCEEDED" and states["pretrain"]["job_id"] == job, states
    assert states["pretrain"]["slurm"] == {"state": "COMPLETED", "exit_code": "0:0", "reason": "None", "attempts": 1}
    logs = e2e.sh("status_logs").stdout
    assert logs.startswith(f"==> attempt 0 (SLURM_RESTART_COUNT=0): {task_dir}/log-tiny_slurm-pretrain_{job}_0.out")
    assert "max_steps=4` reached" in logs and "==> batch script output:" in logs and "job exited with code 0" in logs

    # NeMo-Run's own API, in a fresh process with the same NEMORUN_HOME. Last: with a LocalTunnel, NeMo-Run's
    # Experiment.logs copies the srun log over the batch script's output file (sbatch_*.out).
    api = e2e.nemo_run(
        "import json, nemo_run as run\n"
        "exp = run.Experiment.from_title('tiny_slurm')\n"
        "info = exp.status(return_dict=True)\n"
        "rows = {k: {'status': v['status'].name, 'job_id': v['job_id']} for k, v in info.items()}\n"
        "print('STATUS', json.dumps(rows))\n"
        "exp.logs('pretrain')\n")
    info = json.loads(next(line for line in api.stdout.splitlines() if line.startswith("STATUS "))[7:])
    assert info == {"pretrain": {"status": "SUCCEEDED", "job_id": job}}, info
    assert "max_steps=4` reached" in api.stderr, "Experiment.logs prints the job log (to stderr)"
    e2e.assert_no_secret()


def test_hf_token_reaches_the_job_but_no_file(e2e):
    """A secret exported where the job is submitted is in the job's environment (sbatch --export=ALL) and in
    no file of the job or experiment folders. The job runs the submitting venv's Python (--packager none)
    even when the venv was not activated (its python called by path): the sbatch script puts its bin first."""
    out = e2e.root / "probe.json"
    venv = e2e.env.pop("VIRTUAL_ENV")
    not_activated = {**e2e.env, "PATH": os.pathsep.join(d for d in e2e.env["PATH"].split(os.pathsep)
                                                        if d != os.path.join(venv, "bin"))}
    e2e.nemo_run(f"import sys\nfrom e2e_helpers import submit_probe\nsys.exit(submit_probe({str(out)!r}, 'probe'))",
                 timeout=180, env=not_activated)
    seen = json.loads(out.read_text())
    assert seen["hf_token_len"] == len(e2e.secret)
    assert seen["hf_token_sha256"] == hashlib.sha256(e2e.secret.encode()).hexdigest()
    assert seen["executable"] == os.path.join(venv, "bin", "python") and seen["virtual_env"] == "", seen
    script = next((e2e.home / "experiments" / "probe").rglob("probe_sbatch.sh")).read_text()
    assert "HF_TOKEN" not in script
    e2e.assert_no_secret()
