"""Every command docs/pipeline.md shows is run: the dry-runs here, the others by the tests named below."""

from __future__ import annotations

import re
import shlex

from test_pipeline_dryrun import TUTORIAL_DRYRUN
from testlib import REPO, run_module

RUN_ELSEWHERE = {
    TUTORIAL_DRYRUN: "tests/unit/pipelines/test_pipeline_dryrun.py::test_tutorial_on_slurm_dryrun_gives_each_stage_its_resources",
    "python -m recipes.status demo": "tests/unit/test_scripts.py::test_demo_main_job (after scripts/demo.sh)",
}


def doc_commands() -> list[str]:
    text = (REPO / "docs" / "pipeline.md").read_text()
    return [line.strip() for block in re.findall(r"```bash\n(.*?)```", text, flags=re.S)
            for line in block.splitlines() if line.strip()]


def test_documented_commands_run(isolated):
    (isolated / "recipes").symlink_to(REPO / "recipes")
    commands = doc_commands()
    assert set(RUN_ELSEWHERE) <= set(commands), set(RUN_ELSEWHERE) - set(commands)
    ran = 0
    for command in commands:
        if command in RUN_ELSEWHERE:
            continue
        proc = run_module(*shlex.split(command)[2:], cwd=isolated, env={"DEMO_DIR": str(isolated / "demo")})
        assert proc.returncode == 0, f"{command}\n{proc.stderr[-3000:]}"
        ran += 1
        if "finetune.max_steps=150" in command:
            header = next(line for line in proc.stdout.splitlines() if line.startswith("# ---- stage 4/6 finetune"))
            assert "--max_steps 150" in header, header
        if "--executor slurm" in command:
            scripts = re.findall(r"^# ---- sbatch script of stage (\w+):", proc.stdout, flags=re.M)
            assert scripts == ["preprocess", "prepare_sft", "pretrain", "finetune", "evaluate", "chat"], scripts
            assert proc.stdout.count("#SBATCH --account=acct") == 6
    assert ran == 2
