"""Every command the README shows is run here, in README order, in a scratch folder.

Commands that need a GPU box or a cluster are the README's ``--dryrun`` forms; the scripts are run
by tests/unit/test_scripts.py; ``bash scripts/test.sh`` is CI itself (.ci/run).
"""

from __future__ import annotations

import os
import re
import shlex
from pathlib import Path

import pytest

from testlib import REPO, run_module

RUN_ELSEWHERE = {
    "bash scripts/demo.sh": "tests/unit/test_scripts.py::test_demo_main_job",
    "bash scripts/test.sh": ".ci/run",
    "bash scripts/setup.sh": "tests/unit/test_scripts.py::test_setup_is_idempotent",
    "bash scripts/setup.sh --container": "tests/unit/test_scripts.py::test_container_setup_keeps_the_stack",
    # A rehearsal launches NeMo twice (~1-2 min): run once, by the Megatron suite, with its effects checked.
    "python -m recipes.pretrain --executor slurm -a acct -p batch -i nvcr.io/nvidia/nemo:26.02 -N 2 -G 8 "
    "-D data/sample_text_document --dryrun --yes --rehearse":
        "tests/megatron/test_rehearse.py::test_readme_8b_slurm_command_rehearses_then_prints_the_sbatch_script",
}


def readme_commands() -> list[str]:
    """Shell commands in the README's ```bash blocks (continuations joined, comments dropped)."""
    text = (REPO / "README.md").read_text()
    commands = []
    for block in re.findall(r"```bash\n(.*?)```", text, flags=re.S):
        for line in block.replace("\\\n", " ").splitlines():
            line = re.sub(r"\s+#.*$", "", line).strip()
            if line and not line.startswith("#"):
                commands.append(re.sub(r"\s+", " ", line))
    return commands


def test_every_readme_command_is_accounted_for():
    commands = readme_commands()
    assert "bash scripts/demo.sh" in commands and "bash scripts/test.sh" in commands
    for command in commands:
        assert command in RUN_ELSEWHERE or command.startswith("python -m recipes."), command


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory):
    root = tmp_path_factory.mktemp("readme")
    (root / "recipes").symlink_to(REPO / "recipes")  # the README's paths are relative to the repo root
    return root


def test_readme_commands_run(sandbox):
    env = {"NEMORUN_HOME": str(sandbox / "nemorun_home"), "RECIPES_SITE_CONFIG": os.devnull,
           "RECIPES_RESULTS_DIR": str(sandbox / "results"), "HF_HUB_OFFLINE": "1"}
    for secret in ("HF_TOKEN", "WANDB_API_KEY"):
        env[secret] = ""
    for command in readme_commands():
        if command in RUN_ELSEWHERE:
            continue
        argv = shlex.split(command)
        assert argv[:2] == ["python", "-m"], command
        proc = run_module(argv[2], *argv[3:], env=env, cwd=sandbox)
        assert proc.returncode == 0, f"{command}\n{proc.stdout[-1500:]}\n{proc.stderr[-3000:]}"
        _check_effect(argv, sandbox, proc)


def _check_effect(argv: list[str], sandbox: Path, proc) -> None:
    """What each kind of command must leave behind."""
    module = argv[2]
    if module == "recipes.preprocess":
        assert (sandbox / "data" / "sample_text_document.idx").is_file()
    elif module == "recipes.prepare_sft":
        assert (sandbox / "data" / "sft" / "training.jsonl").is_file()
    elif module in ("recipes.pretrain", "recipes.finetune") and "--dryrun" not in argv:
        experiment = "llama31_pretraining" if module == "recipes.pretrain" else "llama31_finetuning"
        if "-E" in argv:
            experiment = argv[argv.index("-E") + 1]
        checkpoints = sandbox / "results" / experiment / "checkpoints"
        assert any(checkpoints.iterdir()), f"{argv}: no checkpoint written"
    elif "--dryrun" in argv and "slurm" in argv:
        assert "#SBATCH --account=acct" in proc.stdout and "srun" in proc.stdout
    elif module == "recipes.status" and len(argv) > 3:
        assert "pretrain" in proc.stdout
