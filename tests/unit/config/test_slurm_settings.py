"""One Slurm-settings resolver (recipes.config.slurm_settings) for training, preprocessing and pipelines: the same
bad setting gets the same line from each; a CPU-only task's executor comes from the executor module; the
checks that read the repository and the job directory are reported with every other problem."""

from __future__ import annotations

import pytest
from bad_inputs_helpers import run_bad

from executors import cpu_task_executor
from executors.settings import ExecutorSettings
from recipes import pretrain
from recipes.config.slurm_settings import ACCOUNT_REQUIRED, launch_problems
from recipes.job.cli import build_parser
from recipes.job.plan import make_plan
from recipes.pipelines import command as pipeline
from recipes.preprocessing import command as preprocess

BAD_PARTITION = "-p/--partition: 'a;b' is not a Slurm name; use letters, digits, '_', '.', '-'"


def _messages(lines: list[str]) -> set[str]:
    return {line.split("error: ", 1)[1].split(": ", 1)[-1] if line.split("error: ", 1)[1].startswith("stage ")
            else line.split("error: ", 1)[1] for line in lines}


def test_training_preprocessing_and_pipelines_word_a_bad_slurm_setting_alike(isolated, mmap_prefix, capsys):
    """No account, a partition that would break the #SBATCH line: the three commands, the same two lines."""
    (isolated / "text.jsonl").write_text('{"text": "a"}\n')
    (isolated / "p.yaml").write_text("stages:\n  preprocess: {input: text.jsonl, output-prefix: out/t}\n")
    slurm = ["--executor", "slurm", "-p", "a;b", "--packager", "none"]
    found = {
        "pretrain": run_bad(pretrain.main, ["-M", "tiny", "--backend", "hf", "--cpu", "-D", str(mmap_prefix), *slurm],
                            capsys, isolated),
        "preprocess": run_bad(preprocess.main, ["--input", "text.jsonl", "--output-prefix", "out/t", *slurm],
                              capsys, isolated),
        "pipeline": run_bad(pipeline.main, ["p.yaml", *slurm], capsys, isolated),
    }
    for command, lines in found.items():
        assert {ACCOUNT_REQUIRED, BAD_PARTITION} <= _messages(lines), (command, lines)
        assert sum(ACCOUNT_REQUIRED in line for line in lines) == 1, (command, lines)


def test_a_negative_retry_count_is_worded_as_every_numeric_flag(isolated, mmap_prefix, capsys):
    (isolated / "p.yaml").write_text("stages:\n  preprocess: {input: text.jsonl, output-prefix: out/t}\n")
    (isolated / "text.jsonl").write_text('{"text": "a"}\n')
    slurm = ["--executor", "slurm", "-a", "acct", "--packager", "none", "--retries", "-1"]
    train = run_bad(pretrain.main, ["-M", "tiny", "--backend", "hf", "--cpu", "-D", str(mmap_prefix), *slurm],
                    capsys, isolated)
    piped = run_bad(pipeline.main, ["p.yaml", *slurm], capsys, isolated)
    assert [line.split("error: ", 1)[1] for line in train] == ["--retries -1: must be at least 0"]
    assert [line.split("error: ", 1)[1] for line in piped] == ["--retries -1: must be at least 0"]


def test_late_checks_are_reported_with_the_validation_problems(isolated, mmap_prefix, capsys, monkeypatch):
    """A job directory NeMo-Run would mangle is refused together with a validation problem, one line each."""
    monkeypatch.setenv("NEMORUN_HOME", str(isolated / "nemo_run"))
    lines = run_bad(pretrain.main, ["-M", "tiny", "--backend", "hf", "--cpu", "-D", str(mmap_prefix), "--executor",
                                    "slurm", "-a", "acct", "--packager", "none", "--max_steps", "0"], capsys, isolated)
    messages = [line.split("error: ", 1)[1] for line in lines]
    assert "--max_steps: 0 must be > 0" in messages, messages
    assert any(m.startswith("NeMo-Run would rewrite '/nemo_run'") for m in messages), messages


def test_a_dry_run_only_warns_of_a_late_check(isolated, mmap_prefix, monkeypatch):
    """As before: a dry-run shows what would be submitted; the warning is printed before it (recipes.launch.experiment)."""
    monkeypatch.setenv("NEMORUN_HOME", str(isolated / "nemo_run"))
    argv = ["-M", "tiny", "--backend", "hf", "--cpu", "-D", str(mmap_prefix), "--executor", "slurm", "-a", "acct",
            "--packager", "none"]
    plan = make_plan("pretrain", build_parser("pretrain").parse_args(argv + ["--dryrun"]))
    assert launch_problems(plan) == [] and plan.warnings[0].startswith("NeMo-Run would rewrite '/nemo_run'")
    plan = make_plan("pretrain", build_parser("pretrain").parse_args(argv))
    problems = launch_problems(plan)
    assert len(problems) == 1 and problems[0].startswith("NeMo-Run would rewrite") and plan.warnings == []


def _settings() -> ExecutorSettings:
    return ExecutorSettings(nodes=2, gpus_per_node=8, account="acct", partition="gpu", cpu_partition="cpu",
                            container_image="img.sqsh", container_mounts=["/d:/d"], packager="none")


def test_slurm_cpu_task_is_one_task_on_the_cpu_partition_without_gpus():
    executor = cpu_task_executor("slurm", _settings())
    assert (executor.nodes, executor.ntasks_per_node, executor.partition) == (1, 1, "cpu")
    assert executor.gpus_per_node is None and executor.gpus_per_task is None and executor.gres is None
    assert executor.launcher is None and executor.container_image == "img.sqsh"
    settings = _settings()
    settings.cpu_partition = None
    assert cpu_task_executor("slurm", settings).partition == "gpu", "no CPU partition: the job's own"


@pytest.mark.parametrize("name", ["local", "torchrun", "docker"])
def test_other_executors_run_a_cpu_task_as_one_process_without_gpus(name):
    executor = cpu_task_executor(name, _settings())
    assert executor.ntasks_per_node == 1 and executor.launcher is None
    assert getattr(executor, "num_gpus", 0) == 0
