"""The per-test world of the 2-node e2e tests: the project's CLI against the 2-node cluster.

Reuses the single-node e2e world (``e2e_helpers.make_e2e``: own folder, NEMORUN_HOME, sentinel HF_TOKEN, the
session's shared data) and adds this cluster's client wrappers and SLURM_CONF to the CLI's environment only.
Job ids of the two test clusters overlap, so a job's processes are matched by SLURM_JOB_ID *and*
SLURM_CLUSTER_NAME.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path
from types import SimpleNamespace

import pytest

from e2e_helpers import E2E, _workdir, make_e2e, shared_data
from mn_helpers import client, squeue_ids, wait_until

CLUSTER_NAME = "recipesmn"
MN = "--executor slurm -a acct -p batch --cpu -M tiny --packager none"


@pytest.fixture
def mn_e2e(mn_cluster, request) -> E2E:
    root = _workdir(f"recipes-mn-{request.node.name[:40]}-")
    world = make_e2e(root, SimpleNamespace(env={"SLURM_CONF": str(mn_cluster.conf)}), shared_data())
    world.env = mn_cluster.client_env(world.env)
    yield world
    cancel_leftovers(world)
    if os.environ.get("RECIPES_E2E_KEEP") != "1":
        shutil.rmtree(root, ignore_errors=True)


def cancel_leftovers(world: E2E) -> None:
    out = client(world.env, "squeue", "-h", "-o", "%i %Z", check=False).stdout
    ids = [line.split()[0] for line in out.splitlines() if len(line.split()) == 2 and Path(line.split()[1]) == world.root]
    if ids:
        client(world.env, "scancel", *ids, check=False)
        wait_until(lambda: not set(ids) & set(squeue_ids(world.env)), 90, f"left-over jobs {ids} to go")


def _environ(pid: str) -> dict[str, str]:
    raw = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
    return dict(item.decode(errors="replace").split("=", 1) for item in raw if b"=" in item)


def job_ranks(job: str) -> list[dict[str, str]]:
    """The training processes of ``job`` (torchrun's workers: RANK set), each with what it sees itself:
    its environment's RANK/WORLD_SIZE/SLURMD_NODENAME and the hostname of its own UTS namespace."""
    ranks = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            env = _environ(proc.name)
            if env.get("SLURM_JOB_ID") != job or env.get("SLURM_CLUSTER_NAME") != CLUSTER_NAME or "RANK" not in env:
                continue
            cmdline = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            if "nemo_run.core.runners.fdl_runner" not in cmdline or "torchrun" in cmdline:
                continue
            host = subprocess.run(["nsenter", f"--uts=/proc/{proc.name}/ns/uts", "hostname"], capture_output=True,
                                  text=True, timeout=10).stdout.strip()
        except (OSError, subprocess.SubprocessError):  # gone meanwhile
            continue
        ranks.append({"pid": proc.name, "host": host, "rank": env["RANK"], "world_size": env.get("WORLD_SIZE", ""),
                      "node": env.get("SLURMD_NODENAME", ""), "master": env.get("MASTER_ADDR", "")})
    return sorted(ranks, key=lambda r: r["rank"])


def wait_ranks(job: str, count: int, timeout: float) -> list[dict[str, str]]:
    return wait_until(lambda: (lambda r: r if len(r) == count else None)(job_ranks(job)), timeout,
                      f"{count} training processes of job {job}")
