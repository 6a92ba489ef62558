"""Multi-node training through the project's CLI and NeMo-Run's generated sbatch on the 2-node cluster.

``-N 2 -G 1 --cpu``: one gloo rank per node under torchrun with the c10d rendezvous. The job's own processes
say where they run (their environment's RANK/WORLD_SIZE/SLURMD_NODENAME, the hostname of their UTS
namespace); the losses equal those of the same training as 2 ranks on one node (the oracle: data parallelism
is topology-independent), and the checkpoints are the same files as that run's, written once.
"""

from __future__ import annotations

import json

import pytest

from e2e_helpers import checkpoint_steps, metrics_steps, submitted
from mn_e2e import MN, mn_e2e, wait_ranks  # noqa: F401 (fixture)
from mn_helpers import scontrol_job, wait_state

TRAIN = f"python -m recipes.pretrain {MN} -D data/sample_text_document --max_steps 4 -s 64 --ckpt_every_n_steps 2 -y"
TWO_NODES = f"{TRAIN} -N 2 -G 1 -E mn_two_nodes --detach"
ONE_NODE = f"{TRAIN} -N 1 -G 2 -E mn_one_node --detach"


def _losses(log_dir) -> list[float]:
    rows = [json.loads(line) for line in (log_dir / "metrics.jsonl").read_text().splitlines() if line.strip()]
    return [row["train_loss"] for row in rows if "train_loss" in row]


def _checkpoint_files(log_dir) -> list[str]:
    folder = log_dir / "checkpoints"
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file())


def test_two_node_job_has_world_size_two_on_two_hosts_and_matches_one_node(mn_e2e):
    env = mn_e2e.env
    job = submitted(mn_e2e.sh(TWO_NODES).stdout)["pretrain"]
    ranks = wait_ranks(job, 2, timeout=240)
    assert [(r["rank"], r["world_size"]) for r in ranks] == [("0", "2"), ("1", "2")], ranks
    assert sorted(r["host"] for r in ranks) == ["mn1", "mn2"], f"one rank on each node: {ranks}"
    assert all(r["host"] == r["node"] for r in ranks), ranks
    assert {r["master"] for r in ranks} == {ranks[0]["host"]}, "both ranks rendezvous at rank 0's host"
    wait_state(env, job, "COMPLETED", timeout=300)
    assert scontrol_job(env, job)["NodeList"] == "mn[1-2]"
    two = mn_e2e.results / "mn_two_nodes"
    assert metrics_steps(two) == [1, 2, 3, 4] and checkpoint_steps(two) == [2, 4]
    for step in (2, 4):
        assert json.loads((two / "checkpoints" / f"step={step:07d}" / "meta.json").read_text())["world_size"] == 2

    single = submitted(mn_e2e.sh(ONE_NODE).stdout)["pretrain"]
    wait_state(env, single, "COMPLETED", timeout=300)
    one = mn_e2e.results / "mn_one_node"
    assert _losses(two) == pytest.approx(_losses(one), rel=1e-5), "same losses as 2 ranks on one node"
    assert _checkpoint_files(two) == _checkpoint_files(one), "the same checkpoint files: written once, by rank 0"
    mn_e2e.assert_no_secret()
