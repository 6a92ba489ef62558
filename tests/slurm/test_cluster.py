"""Tests against the real single-node Slurm cluster of tests/slurm/cluster.sh (docs/slurm_testing.md).

They check the behaviour the recipes and NeMo-Run's SlurmExecutor rely on: sbatch --parsable,
job states and exit codes through sacct, kill_invalid_depend for failed dependencies, requeue with
SLURM_RESTART_COUNT, srun steps inside a batch job, and the cluster script itself.
Every wait is bounded.
"""

from __future__ import annotations

import csv
import os
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

TERMINAL = {"COMPLETED", "FAILED", "CANCELLED", "TIMEOUT", "OUT_OF_MEMORY", "NODE_FAIL", "PREEMPTED", "BOOT_FAIL", "DEADLINE"}


CLUSTER_SH = Path(__file__).resolve().parent / "cluster.sh"


def run(*cmd: str, timeout: float = 30, check: bool = True) -> subprocess.CompletedProcess:
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL)
    if check and proc.returncode != 0:
        raise AssertionError(f"{' '.join(cmd)} exited {proc.returncode}:\n{proc.stdout}{proc.stderr}")
    return proc


def cluster_sh(*args: str, timeout: float = 300) -> tuple[int, str]:
    """Run cluster.sh with output through a file: daemons it starts must not inherit a pipe we read."""
    with tempfile.TemporaryFile(mode="w+") as out:
        rc = subprocess.run(
            ["bash", str(CLUSTER_SH), *args], stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT, timeout=timeout
        ).returncode
        out.seek(0)
        return rc, out.read()


def sbatch(*args: str, cwd: Path) -> str:
    out = run("sbatch", "--parsable", f"--chdir={cwd}", *args).stdout.strip()
    return out.split(";")[0]  # --parsable prints "jobid" or "jobid;cluster"


def sacct_job(jobid: str) -> tuple[str, str] | None:
    """(State, ExitCode) of the job allocation as sacct reports it, or None if not recorded yet."""
    out = run("sacct", "-P", "-n", "-o", "JobID,State,ExitCode", "-X", "-j", jobid, check=False).stdout
    for line in out.splitlines():
        fields = line.split("|")
        if len(fields) == 3 and fields[0] == jobid:
            return fields[1].split()[0], fields[2]  # "CANCELLED by 0" -> "CANCELLED"
    return None


def wait_for_state(jobid: str, states: set[str] | str, timeout: float) -> tuple[str, str]:
    """Poll sacct until the job is in one of `states`; return (state, exit_code).

    Fails early if the job reaches a terminal state that was not asked for.
    """
    wanted = {states} if isinstance(states, str) else set(states)
    deadline = time.monotonic() + timeout
    seen = None
    while time.monotonic() < deadline:
        seen = sacct_job(jobid)
        if seen is not None:
            if seen[0] in wanted:
                return seen
            if seen[0] in TERMINAL:
                break  # a finished job will not reach another state
        time.sleep(0.5)
    job = run("scontrol", "show", "job", "-o", jobid, check=False)
    pytest.fail(
        f"job {jobid}: wanted {sorted(wanted)} within {timeout:.0f} s, sacct says {seen}\n"
        f"scontrol: {job.stdout.strip()}{job.stderr.strip()}"
    )


def scontrol_job(jobid: str) -> dict[str, str]:
    out = run("scontrol", "show", "job", "-o", jobid).stdout
    fields = {}
    for word in out.split():
        key, sep, value = word.partition("=")
        if sep:
            fields[key] = value
    return fields


def wait_for_file_text(path: Path, text: str, timeout: float) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if path.exists() and text in (content := path.read_text()):
            return content
        time.sleep(0.2)
    pytest.fail(f"{path} did not show {text!r} within {timeout:.0f} s: {path.read_text() if path.exists() else '(missing)'}")


def test_status_and_env(slurm_cluster):
    rc, status = cluster_sh("status")
    assert rc == 0 and "cluster: up" in status, status
    rc, env = cluster_sh("env")
    assert f"export SLURM_CONF={slurm_cluster.conf}" in env
    assert os.environ["SLURM_CONF"] == str(slurm_cluster.conf)
    assert slurm_cluster.conf.is_file()
    # The shell usage shown in docs/slurm_testing.md, from an environment without SLURM_CONF.
    env = {k: v for k, v in os.environ.items() if k != "SLURM_CONF"}
    shell = f'eval "$({CLUSTER_SH} env)" && sinfo -h -o %P'
    proc = subprocess.run(["bash", "-c", shell], env=env, capture_output=True, text=True, timeout=30)
    assert proc.returncode == 0 and "batch*" in proc.stdout.split(), proc.stdout + proc.stderr


def _daemon_pids(state_dir: Path) -> dict[str, str]:
    return {p.name: p.read_text().strip() for p in sorted(state_dir.rglob("*.pid")) if p.is_file()}


def test_start_when_up_restarts_nothing(slurm_cluster):
    """A second start leaves the running daemons alone: the same pids before and after."""
    state_dir = slurm_cluster.conf.parent.parent  # $SLURM_TEST_STATE (the conf is in its etc/)
    before = _daemon_pids(state_dir)
    assert {"slurmctld.pid", "slurmd.pid"} <= set(before), before
    rc, out = cluster_sh("start")
    assert rc == 0 and "cluster: up" in out, out
    assert _daemon_pids(state_dir) == before


def test_partitions(slurm_cluster):
    partitions = run("sinfo", "-h", "-o", "%P %a").stdout.split("\n")
    assert "batch* up" in partitions
    assert "debug up" in partitions


def test_job_completes(slurm_cluster, tmp_path):
    jobid = sbatch("--account=acct", "-J", "ok", "-o", "out.txt", "--wrap", "echo hello from $SLURM_JOB_ID", cwd=tmp_path)
    assert jobid.isdigit()
    assert wait_for_state(jobid, "COMPLETED", timeout=30) == ("COMPLETED", "0:0")
    assert (tmp_path / "out.txt").read_text().strip() == f"hello from {jobid}"
    account = run("sacct", "-P", "-n", "-X", "-o", "Account", "-j", jobid).stdout.strip()
    assert account == "acct"


def test_unknown_account_is_not_enforced(slurm_cluster, tmp_path):
    jobid = sbatch("--account=no_such_account", "-p", "debug", "--wrap", "true", cwd=tmp_path)
    assert wait_for_state(jobid, "COMPLETED", timeout=30) == ("COMPLETED", "0:0")


def test_failing_job_reports_exit_code(slurm_cluster, tmp_path):
    jobid = sbatch("-J", "fails", "--wrap", "exit 3", cwd=tmp_path)
    assert wait_for_state(jobid, "FAILED", timeout=30) == ("FAILED", "3:0")


def test_afterok_on_failed_job_is_cancelled(slurm_cluster, tmp_path):
    parent = sbatch("-J", "parent", "--wrap", "sleep 1; exit 1", cwd=tmp_path)
    child = sbatch("-J", "child", f"--dependency=afterok:{parent}", "--wrap", "touch child_ran", cwd=tmp_path)
    assert wait_for_state(parent, "FAILED", timeout=30)[0] == "FAILED"
    # kill_invalid_depend: cancelled instead of PENDING (DependencyNeverSatisfied) forever.
    assert wait_for_state(child, "CANCELLED", timeout=30)[0] == "CANCELLED"
    assert not (tmp_path / "child_ran").exists()


def test_requeue_restarts_job(slurm_cluster, tmp_path):
    script = tmp_path / "job.sh"
    script.write_text(
        "#!/bin/bash\n"
        'echo "restart=${SLURM_RESTART_COUNT:-0}"\n'
        'if [ "${SLURM_RESTART_COUNT:-0}" = 0 ]; then sleep 300; fi\n'
    )
    out = tmp_path / "requeue.out"
    jobid = sbatch("-J", "requeue", "--open-mode=append", f"-o{out}", str(script), cwd=tmp_path)
    try:
        wait_for_file_text(out, "restart=0", timeout=30)
        run("scontrol", "requeue", jobid)
        # cred_expire=10 lets the requeued job start again after ~15 s (the default 120 means ~2 min).
        assert wait_for_state(jobid, "COMPLETED", timeout=60) == ("COMPLETED", "0:0")
    finally:
        run("scancel", jobid, check=False)
    assert scontrol_job(jobid)["Restarts"] == "1"
    # slurmstepd also appends "*** JOB n ON node CANCELLED AT ... DUE TO JOB REQUEUE ***".
    lines = out.read_text().splitlines()
    assert [line for line in lines if line.startswith("restart=")] == ["restart=0", "restart=1"]


def test_srun_two_tasks_in_batch_job(slurm_cluster, tmp_path):
    jobid = sbatch(
        "-J", "steps", "--nodes=1", "--ntasks-per-node=2", "-o", "out.txt",
        "--wrap", "srun bash -c 'echo task=$SLURM_PROCID of $SLURM_NTASKS on $SLURMD_NODENAME'",
        cwd=tmp_path,
    )  # fmt: skip
    assert wait_for_state(jobid, "COMPLETED", timeout=30) == ("COMPLETED", "0:0")
    lines = sorted((tmp_path / "out.txt").read_text().split("\n"))
    node = slurm_cluster.node
    assert [line for line in lines if line] == [f"task=0 of 2 on {node}", f"task=1 of 2 on {node}"]
    steps = run("sacct", "-P", "-n", "-o", "JobID,State", "-j", jobid).stdout.split()
    assert f"{jobid}.0|COMPLETED" in steps


def test_sacct_parsable2_as_nemo_run_reads_it(slurm_cluster, tmp_path):
    """NeMo-Run's SlurmScheduler.describe() runs `sacct --parsable2 -j <id>` and reads it with csv."""
    jobid = sbatch("-J", "exp.task.main", "--wrap", "true", cwd=tmp_path)
    wait_for_state(jobid, "COMPLETED", timeout=30)
    out = run("sacct", "--parsable2", "-j", jobid).stdout.strip().split("\n")
    rows = list(csv.DictReader(out, delimiter="|"))
    assert {"JobID", "JobName", "State"} <= set(rows[0])
    main = [row for row in rows if row["JobID"] == jobid]
    assert len(main) == 1 and main[0]["State"] == "COMPLETED"


def test_stop_then_start_again(slurm_cluster, tmp_path):
    """Exercises `cluster.sh stop` and a restart from the kept state (runs last in this file)."""
    if os.geteuid() != 0:
        pytest.skip("stopping and starting the cluster needs root")
    rc, out = cluster_sh("stop", timeout=120)
    assert rc == 0 and "cluster: stopped" in out, out
    rc, out = cluster_sh("status")
    assert rc == 1 and "cluster: down" in out, out
    rc, out = cluster_sh("start")
    assert rc == 0, out
    rc, out = cluster_sh("status")
    assert rc == 0, out
    jobid = sbatch("--wrap", "true", cwd=tmp_path)
    assert wait_for_state(jobid, "COMPLETED", timeout=30)[0] == "COMPLETED"


def test_doctor_requires_pyxis_once_a_container_image_is_configured(slurm_cluster, isolated):
    """On the cluster (srun on PATH) the doctor's pyxis check follows what srun offers: this cluster has no
    pyxis plugin, so a configured container image is a FAIL (exit 1); with pyxis it is OK."""
    import json

    from testlib import run_module

    has_pyxis = "--container-image" in run("srun", "--help").stdout
    result = run_module("recipes.doctor", "--json", env={"RECIPES_CONTAINER_IMAGE": "nvcr.io/nvidia/nemo:26.02"},
                        timeout=300)
    checks = {check["name"]: check for check in json.loads(result.stdout)}
    assert checks["pyxis"]["status"] == ("OK" if has_pyxis else "FAIL")
    assert result.returncode == (0 if has_pyxis else 1)
