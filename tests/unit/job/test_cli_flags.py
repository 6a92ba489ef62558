"""CLI parsing: every tutorial flag, short and long, with the tutorial's meaning."""

import subprocess
import sys

import pytest

from recipes.core.errors import UsageError
from recipes.job.cli import build_parser
from recipes.job.plan import make_plan
from testlib import REPO

SHORT_AND_LONG = [
    ("-E", "--experiment", "exp1", "experiment", "exp1"),
    ("-a", "--account", "acct", "account", "acct"),
    ("-p", "--partition", "batch", "partition", "batch"),
    ("-i", "--container_image", "nvcr.io/nvidia/nemo:25.09", "container_image", "nvcr.io/nvidia/nemo:25.09"),
    ("-N", "--num_nodes", "2", "num_nodes", 2),
    ("-G", "--num_gpus", "4", "num_gpus", 4),
    ("-M", "--model", "tiny", "model", "tiny"),
    ("-n", "--nemo_model", "ckpt", "nemo_model", "ckpt"),
    ("-s", "--seq_length", "4096", "seq_length", 4096),
    ("-g", "--global_batch_size", "64", "global_batch_size", 64),
    ("-m", "--micro_batch_size", "2", "micro_batch_size", 2),
    ("-T", "--tensor_model_parallel_size", "2", "tensor_model_parallel_size", 2),
    ("-P", "--pipeline_model_parallel_size", "2", "pipeline_model_parallel_size", 2),
    ("-C", "--context_parallel_size", "2", "context_parallel_size", 2),
    ("-D", "--dataset_path", "/data/x", "dataset_path", "/data/x"),
]


@pytest.mark.parametrize("entry", ["pretrain", "finetune"])
@pytest.mark.parametrize("short,long,value,dest,expected", SHORT_AND_LONG)
def test_short_and_long_flags(entry, short, long, value, dest, expected):
    parser = build_parser(entry)
    assert getattr(parser.parse_args([short, value]), dest) == expected
    assert getattr(parser.parse_args([long, value]), dest) == expected


@pytest.mark.parametrize("entry", ["pretrain", "finetune"])
def test_long_only_flags(entry):
    args = build_parser(entry).parse_args([
        "--executor", "slurm", "--hf_model_id", "meta-llama/Llama-3.1-8B", "--hf_token", "x", "--fp8",
        "--fp8_recipe", "mxfp8", "--max_steps", "7", "--lr", "1e-5", "--wandb", "--wandb_project", "proj",
        "--dryrun", "--detach", "--yes", "trainer.max_steps=10", "optim.config.lr=1e-5"])
    assert (args.executor, args.hf_model_id, args.hf_token, args.fp8, args.fp8_recipe) == (
        "slurm", "meta-llama/Llama-3.1-8B", "x", True, "mxfp8")
    assert (args.max_steps, args.lr, args.wandb, args.wandb_project) == (7, 1e-5, True, "proj")
    assert (args.dryrun, args.detach, args.yes) == (True, True, True)
    assert args.overrides == ["trainer.max_steps=10", "optim.config.lr=1e-5"]


def test_tutorial_spellings():
    parser = build_parser("finetune")
    args = parser.parse_args(["--model_size", "8B", "--max_steps", "None", "-y"])
    assert args.model == "8B" and args.max_steps is None and args.yes
    # `--nemo_model ${NEMO_MODEL}` with NEMO_MODEL empty: the shell drops the value.
    args = parser.parse_args(["--nemo_model", "--max_steps", "100"])
    assert args.nemo_model == "" and args.max_steps == 100  # given empty: see recipes.job.tutorial


def test_peft_choices_and_default():
    parser = build_parser("finetune")
    assert parser.parse_args([]).peft == "none"  # full finetuning, as the tutorial's finetune.py
    for scheme in ("none", "lora", "dora"):
        assert parser.parse_args(["--peft", scheme]).peft == scheme
    with pytest.raises(SystemExit) as exc:
        parser.parse_args(["--peft", "ia3"])
    assert exc.value.code == 2


def test_plan_resolves_tasks_and_defaults(isolated):
    plan = make_plan("finetune", build_parser("finetune").parse_args(["--peft", "none", "-M", "8B"]))
    assert plan.opts.task == "sft" and plan.opts.model == "llama31_8b"
    assert (plan.opts.tensor_model_parallel_size, plan.opts.global_batch_size) == (2, 128)  # NeMo's SFT default
    plan = make_plan("pretrain", build_parser("pretrain").parse_args(["--executor", "slurm", "-a", "a"]))
    assert plan.opts.num_gpus == 8 and plan.opts.context_parallel_size == 2 and plan.opts.max_steps == 100
    assert plan.opts.log_dir == str(isolated / "results" / "llama31_pretraining")


def test_tiny_on_cpu_uses_small_model_backend(isolated):
    plan = make_plan("pretrain", build_parser("pretrain").parse_args(["-M", "tiny"]))
    assert plan.opts.backend == "hf" and plan.cpu and plan.executor == "local" and plan.opts.num_gpus == 1
    plan = make_plan("pretrain", build_parser("pretrain").parse_args(["-M", "tiny", "-G", "2"]))
    assert plan.executor == "torchrun" and plan.settings.tasks_per_node == 2
    plan = make_plan("pretrain", build_parser("pretrain").parse_args(["-M", "tiny", "--executor", "slurm"]))
    assert plan.opts.backend == "megatron"  # a Slurm GPU job unless --cpu
    plan = make_plan("pretrain", build_parser("pretrain").parse_args(["-M", "tiny", "--executor", "slurm", "--cpu"]))
    assert plan.opts.backend == "hf" and not plan.settings.use_gpus


def test_site_settings_from_env_and_file(isolated, monkeypatch):
    site = isolated / "site.yaml"
    site.write_text("account: from_file\npartition: p_file\ncontainer_mounts: [/lustre:/lustre]\nsbatch: {qos: high}\n")
    monkeypatch.setenv("RECIPES_SITE_CONFIG", str(site))
    monkeypatch.setenv("RECIPES_PARTITION", "p_env")
    plan = make_plan("pretrain", build_parser("pretrain").parse_args(["--executor", "slurm"]))
    assert (plan.settings.account, plan.settings.partition) == ("from_file", "p_env")
    assert plan.settings.container_mounts == ["/lustre:/lustre"] and plan.settings.sbatch_params == {"qos": "high"}
    plan = make_plan("pretrain", build_parser("pretrain").parse_args(["--executor", "slurm", "-a", "flag"]))
    assert plan.settings.account == "flag"
    site.write_text("acount: typo\nsbatch: [not, a, mapping]\n")
    plan = make_plan("pretrain", build_parser("pretrain").parse_args([]))
    assert [p.split(": ", 1)[1][:22] for p in plan.problems] == ["unknown setting(s) aco", "sbatch must be a mappi"]


def test_help_is_fast_because_nothing_heavy_is_imported():
    code = ("import sys, runpy\nsys.argv=['recipes.pretrain','--help']\n"
            "try:\n    runpy.run_module('recipes.pretrain', run_name='__main__')\nexcept SystemExit:\n    pass\n"
            "heavy=[m for m in ('nemo','nemo_run','torch','transformers','megatron') if m in sys.modules]\n"
            "print('HEAVY', heavy)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO).stdout
    assert "--tensor_model_parallel_size" in out
    assert "HEAVY []" in out
