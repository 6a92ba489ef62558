"""2-node training in a pyxis + enroot container (``-i image.sqsh``), submitted with the CLI.

The image (mn_image.py) has busybox, the machine's Python and the virtualenv, its own PATH, and no Slurm
commands. Checked from the job's processes (their /proc entries: root, cwd, environment) while they run: both
ranks are inside the container, one on each node, with the image's PATH, HF_TOKEN by name, and the code of
NeMo-Run's git archive (``--packager git``). The automatic mounts (every data and results folder) are in the
sbatch script and let the job read its data and write its results; a SIGTERM makes the batch script, outside
the container where ``scontrol`` is, requeue the job, which resumes. A data path outside explicit
``--container_mounts`` is refused before anything is written.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
from pathlib import Path

import pytest

from e2e_helpers import REPO, checkpoint_steps, logged_steps, metrics_steps, submitted
from mn_e2e import CLUSTER_NAME, _environ, mn_e2e, wait_ranks  # noqa: F401 (fixture)
from mn_helpers import client, scontrol_job, wait_state, wait_until
from mn_image import build_image, image_path_entries

EXP = "mn_box"
BASE = ("python -m recipes.pretrain --executor slurm -a acct -p batch --cpu -M tiny -N 2 -G 1 -i {image} "
        "-D data/sample_text_document -s 64 -y")
CONTAINER = BASE + f" --packager git --allow_dirty -E {EXP} --max_steps 6 --ckpt_every_n_steps 2 --retries 1 --detach"
OUTSIDE = BASE + " --packager none -E mn_refused --max_steps 2 --container_mounts {root}/results:{root}/results"


@pytest.fixture(scope="module")
def image(tmp_path_factory) -> Path:
    return build_image(tmp_path_factory.mktemp("image") / "recipes-mn.sqsh")


def test_a_path_outside_the_mounts_is_refused_at_submission(mn_e2e, image):
    proc = mn_e2e.sh(OUTSIDE.format(image=image, root=mn_e2e.root), check=False)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    data = mn_e2e.root / "data"
    assert f"--container_mounts: {data} is outside every mount" in proc.stderr, proc.stderr
    assert "Traceback" not in proc.stderr
    assert not (mn_e2e.home / "experiments").exists() and not (mn_e2e.results / "mn_refused").exists()


def _batch_pid(job: str) -> str:
    """The batch script's shell (outside any container)."""
    for proc in Path("/proc").iterdir():
        try:
            env = _environ(proc.name) if proc.name.isdigit() else {}
            cmd = (proc / "cmdline").read_bytes() if env else b""
        except OSError:
            continue
        if env.get("SLURM_JOB_ID") == job and env.get("SLURM_CLUSTER_NAME") == CLUSTER_NAME and b"slurm_script" in cmd:
            return proc.name
    return ""


def _inside(pid: str, path: str) -> Path:
    return Path(f"/proc/{pid}/root{path}")


def test_two_node_job_runs_in_the_container_and_requeues_outside_it(mn_e2e, image):
    env = mn_e2e.env
    job = submitted(mn_e2e.sh(CONTAINER.format(image=image)).stdout)["pretrain"]
    script = next(mn_e2e.task_dir(EXP, "pretrain").parent.glob("pretrain_sbatch.sh")).read_text()
    mounts = re.search(r"--container-mounts (\S+)", script).group(1).split(",")
    for path in (mn_e2e.results, mn_e2e.root / "data"):
        assert any(str(path) == m.split(":")[0] or str(path).startswith(m.split(":")[0] + "/") for m in mounts), mounts
    assert f"--container-image {image}" in script

    ranks = wait_ranks(job, 2, timeout=300)
    assert sorted(r["host"] for r in ranks) == ["mn1", "mn2"] and {r["world_size"] for r in ranks} == {"2"}, ranks
    committed = subprocess.run(["git", "-C", str(REPO), "show", "HEAD:recipes/pretrain.py"], capture_output=True,
                               check=True).stdout
    for rank in ranks:
        pid = rank["pid"]
        assert _inside(pid, "/bin/busybox").is_file(), "the rank's root is the image's"
        assert not _inside(pid, "/usr/bin/scontrol").exists() and Path("/usr/bin/scontrol").exists()
        seen = _environ(pid)
        assert seen["PATH"] == image_path_entries(), "the image decides PATH inside the container"
        assert seen.get("HF_TOKEN") == mn_e2e.secret, "HF_TOKEN reaches the process inside by name"
        assert os.readlink(f"/proc/{pid}/cwd") == "/nemo_run/code"
        assert _inside(pid, "/nemo_run/code/recipes/pretrain.py").read_bytes() == committed, "git archive of HEAD"
        assert not _inside(pid, f"{REPO}/recipes").exists(), "the checkout itself is not in the container"

    log_dir, logs = mn_e2e.results / EXP, [mn_e2e.attempt_log(EXP, "pretrain", job, n) for n in range(2)]
    wait_until(lambda: len(logged_steps(logs[0])) >= 2, 240, "attempt 0 to log 2 steps")
    batch = _batch_pid(job)
    assert batch and _inside(batch, "/usr/bin/scontrol").exists(), "the batch script runs outside the container"
    client(env, "scancel", "--signal=TERM", job)
    wait_until(lambda: scontrol_job(env, job).get("Restarts") == "1", 120, "the job to be requeued")
    ckpt0 = checkpoint_steps(log_dir)
    assert ckpt0 and ckpt0[-1] == logged_steps(logs[0])[-1]

    wait_state(env, job, "COMPLETED", timeout=400)
    steps1 = logged_steps(logs[1])
    assert steps1[0] == ckpt0[-1] + 1 and steps1[-1] == 6, (ckpt0, steps1)
    assert sorted(set(metrics_steps(log_dir))) == list(range(1, 7)) and 6 in checkpoint_steps(log_dir)
    lines = mn_e2e.batch_log(EXP, "pretrain", job).read_text().splitlines()
    assert [line for line in lines if line.startswith("job exited with code")][-1] == "job exited with code 0"
    mn_e2e.assert_no_secret()
