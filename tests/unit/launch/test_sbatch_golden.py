"""The dry-run writes the exact sbatch script NeMo-Run would submit; compared with golden files.

Runs the real CLI in a subprocess, as a user would. Regenerate after an intended change:
``UPDATE_GOLDEN=1 python -m pytest tests/unit/launch/test_sbatch_golden.py``.
"""

import os
import re
from pathlib import Path

import pytest

from testlib import REPO, run_module, write_mmap

GOLDEN = REPO / "tests" / "golden"
IMAGE = "nvcr.io/nvidia/nemo:25.09"


def normalise(text: str, tmp: Path) -> str:
    text = text.replace(str(tmp), "<TMP>")
    text = re.sub(r"(llama31_pretraining)_\d{10,}", r"\1_<ID>", text)
    return re.sub(r"--rdzv-id \d+", "--rdzv-id <RDZV>", text)


def dryrun(tmp: Path, nodes: int) -> tuple[str, str]:
    """(sbatch script written, stdout) of the slurm dry-run for ``nodes`` × 8 GPUs."""
    work = tmp / f"n{nodes}"
    write_mmap(work / "data" / "wiki_text_document", [[1, 2, 3, 4]] * 4)
    env = {"NEMORUN_HOME": str(work / "home"), "RECIPES_SITE_CONFIG": os.devnull,
           "RECIPES_RESULTS_DIR": str(work / "results")}
    proc = run_module("recipes.pretrain", "--executor", "slurm", "-a", "acct", "-p", "batch", "-i", IMAGE,
                      "-N", str(nodes), "-G", "8", "-D", str(work / "data" / "wiki_text_document"),
                      "--packager", "none", "--dryrun", "--yes", env=env, cwd=work)
    assert proc.returncode == 0, proc.stderr[-3000:]
    scripts = list((work / "home" / "experiments").rglob("pretrain_sbatch.sh"))
    assert len(scripts) == 1, "the dry-run keeps exactly one sbatch script"
    return normalise(scripts[0].read_text(), work), normalise(proc.stdout, work)


@pytest.fixture(scope="module")
def scripts(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("sbatch")
    return {nodes: dryrun(tmp, nodes) for nodes in (1, 2)}


@pytest.mark.parametrize("nodes", [1, 2])
def test_sbatch_matches_golden(nodes, scripts):
    script, stdout = scripts[nodes]
    assert script in stdout, "the dry-run prints the script it wrote"
    assert "_target_: recipes.mcore.train.pretrain" in stdout, "and the resolved recipe as YAML"
    golden = GOLDEN / f"pretrain_{nodes}node_8gpu_container.sbatch"
    if os.environ.get("UPDATE_GOLDEN"):
        golden.write_text(script)
    assert script == golden.read_text()


def test_sbatch_content_is_what_a_cluster_needs(scripts):
    script, _ = scripts[2]
    assert "#SBATCH --nodes=2" in script and "#SBATCH --account=acct" in script
    assert "#SBATCH --gpus-per-node=8" in script and "#SBATCH --partition=batch" in script
    assert "--nnodes 2 --nproc-per-node 8" in script
    assert f"--container-image {IMAGE}" in script
    mounts = re.search(r"--container-mounts (\S+)", script).group(1).split(",")
    assert "<TMP>/data:<TMP>/data" in mounts
    assert "<TMP>/results:<TMP>/results" in mounts, "checkpoints must be on a mounted, stable path"
    assert "scontrol requeue" in script and "--mpi=pmi2" in script
