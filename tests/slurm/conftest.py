"""Fixtures for tests against a real single-node Slurm cluster (see docs/slurm_testing.md).

``slurm_cluster`` (session scope) makes sure the cluster of ``tests/slurm/cluster.sh`` is up:
it uses a running one, or starts one when we are root and apt-get is available, and otherwise
skips the test with the reason. It puts ``SLURM_CONF`` into ``os.environ`` so that ``sbatch``,
``sacct``, ... run by the tests (and by NeMo-Run through a LocalTunnel) reach this cluster.
The cluster is left running afterwards; ``tests/slurm/cluster.sh stop`` stops it.
``slurm_gpu_cluster`` (module scope) is a second cluster whose node advertises stand-in GPUs.

Set ``SLURM_TESTS_REQUIRED=1`` (CI) to fail instead of skip when the cluster cannot be started.
Every test collected under ``tests/slurm`` gets the ``slurm`` marker.
"""

from __future__ import annotations

import dataclasses
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from e2e_helpers import parse_exports

from recipes.launch.remote import children_env

HERE = Path(__file__).resolve().parent
CLUSTER_SH = HERE / "cluster.sh"
START_TIMEOUT_S = 900  # first start may install ~30 Debian packages
GPU_STATE = "/tmp/recipes-slurm-gpu"  # slurm_gpu_cluster's state dir (the shared one is /tmp/recipes-slurm)
GPUS = 2


@dataclasses.dataclass(frozen=True)
class SlurmCluster:
    """The running test cluster: the environment a client process needs, and where things live."""

    env: dict[str, str]  # e.g. {"SLURM_CONF": "/tmp/recipes-slurm/etc/slurm.conf"}
    state_dir: Path
    node: str

    @property
    def conf(self) -> Path:
        return Path(self.env["SLURM_CONF"])

    @property
    def log_dir(self) -> Path:
        return self.state_dir / "log"


def _cluster_sh(*args: str, timeout: float, env: dict[str, str] | None = None) -> tuple[int, str]:
    """Run cluster.sh (``env``: SLURM_TEST_* for another cluster); output goes through a file so that no
    daemon can hold a pipe open."""
    with tempfile.TemporaryFile(mode="w+") as out:
        try:
            proc = subprocess.run(
                ["bash", str(CLUSTER_SH), *args],
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                env={**os.environ, **(env or {})},
                timeout=timeout,
                check=False,
            )
            rc = proc.returncode
        except subprocess.TimeoutExpired:
            rc = 124
        out.seek(0)
        text = out.read()
    if rc == 124:
        text += f"\ncluster.sh {' '.join(args)}: timed out after {timeout:.0f} s"
    return rc, text


def _last_line(text: str) -> str:
    lines = [line for line in text.strip().splitlines() if line.strip()]
    return lines[-1] if lines else "(no output)"


def _unavailable(reason: str, details: str = "") -> None:
    message = f"local Slurm cluster unavailable: {reason}"
    if os.environ.get("SLURM_TESTS_REQUIRED") == "1":
        pytest.fail(f"{message}\n{details}".rstrip(), pytrace=False)
    print(message)
    if details:
        print(details)
    pytest.skip(message)


def _ensure_cluster(env: dict[str, str] | None = None) -> tuple[SlurmCluster, bool]:
    """(the cluster of cluster.sh under ``env``, whether this call started it); skips or fails if it cannot."""
    started = False
    rc, text = _cluster_sh("status", timeout=60, env=env)
    if rc != 0:
        if os.geteuid() != 0:
            _unavailable(f"not running and not root (uid {os.geteuid()}); start it with `sudo {CLUSTER_SH} start`")
        if shutil.which("apt-get") is None and shutil.which("slurmctld") is None:
            _unavailable("not running, no Slurm installed and no apt-get to install it")
        rc, text = _cluster_sh("start", timeout=START_TIMEOUT_S, env=env)
        if rc != 0:
            _unavailable(_last_line(text), text)
        started = True

    rc, text = _cluster_sh("env", timeout=30, env=env)
    client_env = parse_exports(text)
    if rc != 0 or "SLURM_CONF" not in client_env:
        _unavailable(f"`cluster.sh env` gave no SLURM_CONF: {_last_line(text)}", text)
    conf = Path(client_env["SLURM_CONF"])
    node = subprocess.run(["hostname", "-s"], capture_output=True, text=True, check=True).stdout.strip()
    return SlurmCluster(env=client_env, state_dir=conf.parent.parent, node=node), started


@pytest.fixture(scope="session")
def slurm_cluster() -> Iterator[SlurmCluster]:
    cluster, _ = _ensure_cluster()
    with children_env(cluster.env):
        yield cluster


@pytest.fixture(scope="module")
def slurm_gpu_cluster() -> Iterator[SlurmCluster]:
    """A second cluster (its own state dir and ports) whose node advertises GPUS stand-in GPUs, so that jobs
    asking for GPUs are scheduled and accounted here. For the module's tests only (``os.environ`` points at it
    meanwhile); stopped afterwards when this fixture started it. The shared cluster is never touched."""
    env = {"SLURM_TEST_STATE": GPU_STATE, "SLURM_TEST_GPUS": str(GPUS)}
    cluster, started = _ensure_cluster(env)
    gres = subprocess.run(["sinfo", "-h", "-N", "-o", "%G"], capture_output=True, text=True, timeout=30,
                          env={**os.environ, **cluster.env}).stdout.split()
    if f"gpu:{GPUS}" not in gres:
        pytest.fail(f"{GPU_STATE} runs without {GPUS} GPUs (sinfo: {gres}); stop it with "
                    f"`SLURM_TEST_STATE={GPU_STATE} {CLUSTER_SH} stop`, the fixture restarts it", pytrace=False)
    try:
        with children_env(cluster.env):
            yield cluster
    finally:
        if started:
            _cluster_sh("stop", timeout=180, env=env)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        if HERE in Path(item.path).resolve().parents:
            item.add_marker(pytest.mark.slurm)
