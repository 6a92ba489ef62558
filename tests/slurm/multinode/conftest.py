"""Fixtures for the 2-node Slurm cluster with pyxis + enroot (tests/slurm/cluster_mn.sh, docs/slurm_testing.md).

``mn_cluster`` (session scope) uses a running 2-node cluster or starts one (root + apt); otherwise the test
is skipped with the reason, or fails with ``SLURM_TESTS_REQUIRED=1`` (CI). Unlike the single-node fixture it
changes nothing in ``os.environ``: the client wrappers (sbatch, squeue, ... entering the cluster's head
namespace) and ``SLURM_CONF`` go only into the environment of the processes a test starts
(``MnCluster.client_env``), so the single-node cluster, possibly running beside it, is never addressed by mistake.

Tests in ``multinode/`` get the ``multinode`` marker, those in ``test_mn_container*.py`` also ``container``
(besides the ``slurm`` marker every test under tests/slurm gets).
"""

from __future__ import annotations

import dataclasses
import os
import shutil
from pathlib import Path

import pytest

from mn_helpers import CLUSTER_MN_SH, cluster_mn_sh, parse_exports

HERE = Path(__file__).resolve().parent
START_TIMEOUT_S = 900  # a fresh machine installs ~40 packages and builds enroot and pyxis


@dataclasses.dataclass(frozen=True)
class MnCluster:
    conf: Path
    bin: Path  # the client wrappers
    nodes: tuple[str, ...] = ("mn1", "mn2")

    @property
    def state_dir(self) -> Path:
        return self.conf.parent.parent

    @property
    def log_dir(self) -> Path:
        return self.state_dir / "log"

    def client_env(self, base: dict[str, str] | None = None) -> dict[str, str]:
        """``base`` (default: this environment) with the wrappers first on PATH and this cluster's SLURM_CONF."""
        env = dict(os.environ if base is None else base)
        env["PATH"] = os.pathsep.join([str(self.bin), env.get("PATH", "")])
        env["SLURM_CONF"] = str(self.conf)
        return env


def _unavailable(reason: str, details: str = "") -> None:
    message = f"2-node Slurm cluster unavailable: {reason}"
    if os.environ.get("SLURM_TESTS_REQUIRED") == "1":
        pytest.fail(f"{message}\n{details}".rstrip(), pytrace=False)
    print(details)
    pytest.skip(message)


@pytest.fixture(scope="session")
def mn_cluster() -> MnCluster:
    rc, text = cluster_mn_sh("status", timeout=60)
    if rc != 0:
        if os.geteuid() != 0:
            _unavailable(f"not running and not root (uid {os.geteuid()}); start it with `sudo {CLUSTER_MN_SH} start`")
        if shutil.which("apt-get") is None and shutil.which("slurmctld") is None:
            _unavailable("not running, no Slurm installed and no apt-get to install it")
        if shutil.which("ip") is None and shutil.which("apt-get") is None:
            _unavailable("no `ip` (iproute2) for the network namespaces")
        rc, text = cluster_mn_sh("start", timeout=START_TIMEOUT_S)
        if rc != 0:
            lines = [line for line in text.strip().splitlines() if line.strip()]
            _unavailable(lines[-1] if lines else "(no output)", text)
    rc, text = cluster_mn_sh("env", timeout=30)
    env = parse_exports(text)
    if rc != 0 or "SLURM_CONF" not in env or "SLURM_MN_BIN" not in env:
        _unavailable(f"`cluster_mn.sh env` printed no SLURM_CONF/SLURM_MN_BIN: {text.strip()}", text)
    return MnCluster(conf=Path(env["SLURM_CONF"]), bin=Path(env["SLURM_MN_BIN"]))


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        path = Path(item.path).resolve()
        if HERE in path.parents:
            item.add_marker(pytest.mark.multinode)
            if path.name.startswith("test_mn_container"):
                item.add_marker(pytest.mark.container)
