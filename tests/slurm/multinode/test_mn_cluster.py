"""The 2-node cluster of tests/slurm/cluster_mn.sh: two nodes with their own hostname and address, traffic
only inside the namespaces it made, pyxis loaded, and start/stop that are idempotent and leave nothing behind."""

from __future__ import annotations

import os
import re
import shlex
import socket
import subprocess
import sys
from pathlib import Path

from e2e_helpers import REPO
from mn_helpers import cluster_mn_sh, client, sbatch, scontrol_job, wait_state

NAMESPACES = ("rsmn-head", "rsmn-1", "rsmn-2")
DAEMONS = ("slurmd", "slurmctld", "slurmdbd", "mariadbd", "munged")


def _netns() -> set[str]:
    out = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True, check=True).stdout
    return {line.split()[0] for line in out.splitlines() if line.strip()}


def _live_daemon(pid: int) -> bool:
    """A running (not zombie: PID 1 may reap late) process with a daemon's name."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return False
    fields = dict(line.split(":", 1) for line in status.splitlines() if ":" in line)
    return fields["Name"].strip() in DAEMONS and fields["State"].split()[0] not in ("Z", "X")


def _routes() -> str:
    return subprocess.run(["ip", "route", "show"], capture_output=True, text=True, check=True).stdout


def _refused_here(port: int) -> bool:
    """Nothing of the cluster listens in this (the root) network namespace."""
    with socket.socket() as sock:
        sock.settimeout(2)
        return sock.connect_ex(("127.0.0.1", port)) != 0


def test_two_nodes_with_their_own_names_addresses_and_pyxis(mn_cluster, tmp_path):
    env = mn_cluster.client_env()
    hosts_before = Path("/etc/hosts").read_bytes()
    nodes = client(env, "sinfo", "-h", "-N", "-o", "%N %T").stdout.split("\n")
    assert sorted(line.split()[0] for line in nodes if line) == ["mn1", "mn2"]

    # One task per node reports what it sees: the hostname, its address, and how it resolves the others.
    out = client(env, "srun", "-N2", "--ntasks-per-node=1", "-l", "sh", "-c",
                 "echo $(hostname) $(hostname --ip-address) $SLURM_NODEID $(getent hosts mnhead mn1 mn2 | wc -l)",
                 timeout=60, cwd=tmp_path).stdout
    rows = sorted(line.split(":", 1)[1].split() for line in out.strip().splitlines())
    assert rows == [["mn1", "10.200.0.11", "0", "3"], ["mn2", "10.200.0.12", "1", "3"]], out
    assert Path("/etc/hosts").read_bytes() == hosts_before, "the machine's /etc/hosts is never edited"

    # The root namespace reaches none of it: the ports are closed here, the subnet is unreachable.
    assert _refused_here(7817) and _refused_here(7818), "slurmctld/slurmd listen only inside their namespaces"
    assert "unreachable 10.200.0.0/24" in _routes()
    direct = subprocess.run(["/usr/bin/sinfo", "-h"], env={**env, "SLURM_CONF": str(mn_cluster.conf)},
                            capture_output=True, text=True, timeout=60)
    assert direct.returncode != 0, "a client outside the head namespace cannot reach slurmctld"

    # pyxis is loaded (srun knows its options) and a 2-node batch job runs.
    assert "--container-image" in client(env, "srun", "--help").stdout
    job = sbatch(env, tmp_path, "-N2", "--ntasks-per-node=1", "--wrap", "srun hostname")
    wait_state(env, job, "COMPLETED", timeout=60)
    assert scontrol_job(env, job)["NodeList"] == "mn[1-2]"  # (sacct may still show the first node alone)


def test_start_and_stop_are_idempotent_and_leave_nothing(mn_cluster):
    env = mn_cluster.client_env()
    rc, text = cluster_mn_sh("start", timeout=120)
    assert rc == 0 and text.strip() == f"cluster: up (SLURM_CONF={mn_cluster.conf})", text  # already up: no-op
    pid_files = sorted((mn_cluster.state_dir / "run").glob("*.pid")) + [mn_cluster.state_dir / "munge/munged.pid"]
    pids = [int(p.read_text()) for p in pid_files]
    assert len(pids) == 6 and all(Path(f"/proc/{pid}").exists() for pid in pids)

    rc, text = cluster_mn_sh("stop", timeout=180)
    assert rc == 0 and "cluster: stopped" in text, text
    assert not [pid for pid in pids if _live_daemon(pid)], "every daemon of ours is gone"
    assert not _netns() & set(NAMESPACES) and "10.200.0.0/24" not in _routes()
    rc, text = cluster_mn_sh("stop", timeout=60)
    assert rc == 0, text
    rc, _ = cluster_mn_sh("status", timeout=60)
    assert rc == 1

    rc, text = cluster_mn_sh("start", timeout=300)
    assert rc == 0, text
    assert set(NAMESPACES) <= _netns()
    job = sbatch(env, Path(os.getcwd()), "-N2", "--wrap", "true", "-o", "/dev/null")
    wait_state(env, job, "COMPLETED", timeout=60)
    assert scontrol_job(env, job)["NodeList"] == "mn[1-2]"


# The commands of the 2-node section of docs/slurm_testing.md, as the tests run them.
DOC_SECTION = "## The 2-node cluster with pyxis containers"
DOC_COMMANDS = [
    "tests/slurm/cluster_mn.sh start", "tests/slurm/cluster_mn.sh status", "tests/slurm/cluster_mn.sh stop",
    'eval "$(tests/slurm/cluster_mn.sh env)" && PATH="$SLURM_MN_BIN:$PATH" sinfo -h -N -o %N',
    "python -m pytest -m multinode tests/slurm/multinode", "python -m pytest -m container tests/slurm/multinode",
    'python -m pytest -m "slurm and not multinode" tests/slurm',
]


def _doc_commands() -> list[str]:
    text = (REPO / "docs" / "slurm_testing.md").read_text()
    section = text[text.index(DOC_SECTION):text.index("## End-to-end tests")]
    return [" ".join(line.split("#", 1)[0].split()) for block in re.findall(r"```bash\n(.*?)```", section, re.S)
            for line in block.splitlines() if line.strip()]


def test_docs_show_the_commands_that_work(mn_cluster):
    assert _doc_commands() == DOC_COMMANDS
    env = {k: v for k, v in os.environ.items() if k != "SLURM_CONF"}
    out = subprocess.run(["bash", "-c", DOC_COMMANDS[3]], cwd=REPO, env=env, capture_output=True, text=True,
                         timeout=60)
    assert out.returncode == 0 and out.stdout.split() == ["mn1", "mn2"], out.stderr
    # The three suites select what the doc says (collected only: the tests themselves run in this session).
    picked = {}
    for line in DOC_COMMANDS[4:]:
        args = shlex.split(line)[1:]
        proc = subprocess.run([sys.executable, *args, "--collect-only", "-q", "-p", "no:cacheprovider"], cwd=REPO,
                              capture_output=True, text=True, timeout=300)
        picked[line] = {row.split("::")[0] for row in proc.stdout.splitlines() if "::" in row}
    mn, box, single = picked.values()
    here = "tests/slurm/multinode/"
    assert {here + f for f in ("test_mn_cluster.py", "test_mn_train.py", "test_mn_requeue.py",
                               "test_mn_container.py", "test_mn_megatron.py")} == mn
    assert box == {here + "test_mn_container.py"}
    assert single and not any(path.startswith(here) for path in single), single
