"""Helpers for the 2-node cluster's tests: cluster_mn.sh, and Slurm clients run with an explicit environment.

Every client call gets ``env`` (``MnCluster.client_env()``: the head-namespace wrappers first on PATH and
this cluster's SLURM_CONF), never this process's environment. Every wait is bounded.
"""

from __future__ import annotations

import subprocess
import tempfile
import time
from pathlib import Path

from e2e_helpers import parse_exports, wait_until  # noqa: F401 (re-exported: one helper each for both clusters)

import pytest

CLUSTER_MN_SH = Path(__file__).resolve().parent.parent / "cluster_mn.sh"
TERMINAL = {"COMPLETED", "FAILED", "CANCELLED", "TIMEOUT", "OUT_OF_MEMORY", "NODE_FAIL", "PREEMPTED",
            "BOOT_FAIL", "DEADLINE"}


def cluster_mn_sh(*args: str, timeout: float = 300) -> tuple[int, str]:
    """Run cluster_mn.sh; output goes through a file so that no daemon it starts holds a pipe we read."""
    with tempfile.TemporaryFile(mode="w+") as out:
        try:
            rc = subprocess.run(["bash", str(CLUSTER_MN_SH), *args], stdin=subprocess.DEVNULL, stdout=out,
                                stderr=subprocess.STDOUT, timeout=timeout, check=False).returncode
        except subprocess.TimeoutExpired:
            rc = 124
        out.seek(0)
        return rc, out.read()


def client(env: dict, *cmd: str, timeout: float = 30, check: bool = True, cwd=None) -> subprocess.CompletedProcess:
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL,
                          cwd=cwd)
    if check and proc.returncode != 0:
        raise AssertionError(f"{' '.join(cmd)} exited {proc.returncode}:\n{proc.stdout}{proc.stderr}")
    return proc




def sacct(env: dict, job: str) -> dict[str, str] | None:
    """The allocation's sacct row (State's first word, ExitCode, NodeList); None while not recorded."""
    out = client(env, "sacct", "-X", "-P", "-n", "-o", "JobID,State,ExitCode,NodeList", "-j", job, check=False).stdout
    for line in out.splitlines():
        fields = line.split("|")
        if len(fields) == 4 and fields[0] == job:
            return {"State": fields[1].split()[0], "ExitCode": fields[2], "NodeList": fields[3]}
    return None


def scontrol_job(env: dict, job: str) -> dict[str, str]:
    fields = {}
    for word in client(env, "scontrol", "show", "job", "-o", job).stdout.split():
        key, sep, value = word.partition("=")
        if sep:
            fields[key] = value
    return fields


def squeue_ids(env: dict) -> list[str]:
    return client(env, "squeue", "-h", "-o", "%i", check=False).stdout.split()


def wait_state(env: dict, job: str, states: str | set[str], timeout: float) -> dict[str, str]:
    """Poll sacct until ``job`` is in one of ``states``; fail early on another terminal state."""
    wanted = {states} if isinstance(states, str) else set(states)
    deadline, row = time.monotonic() + timeout, None
    while time.monotonic() < deadline:
        row = sacct(env, job)
        if row and row["State"] in wanted:
            return row
        if row and row["State"] in TERMINAL and job not in squeue_ids(env):
            break
        time.sleep(1)
    detail = client(env, "scontrol", "show", "job", "-o", job, check=False)
    pytest.fail(f"job {job}: wanted {sorted(wanted)} within {timeout:.0f} s; sacct: {row}\n{detail.stdout}{detail.stderr}")


def sbatch(env: dict, cwd: Path, *args: str) -> str:
    return client(env, "sbatch", "--parsable", f"--chdir={cwd}", *args, cwd=cwd).stdout.strip().split(";")[0]
