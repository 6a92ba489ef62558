"""The tutorials' command lines (NeMo-Tutorial 001/002, pretraining and finetuning, local and Slurm)
resolve to the training their scripts ran, or print one line per difference with the flag that
restores the tutorial's behaviour.

The expected values are the tutorial scripts' own (``pretraining/pretrain.py``, ``finetuning/finetune.py``
of wcks13589/NeMo-Tutorial, quoted below), and NeMo's recipe values where the scripts kept them.
"""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from recipes.job.cli import build_parser
from recipes.job.plan import make_plan
from recipes.job.validate import validate
from recipes.megatron.recipe import build_recipe
from testlib import files_containing, run_module, write_mmap, write_nemo_checkpoint, write_sft_folder

pytest.importorskip("nemo.collections.llm")

# pretrain.py: `parser.add_argument("--lr", type=float, default=1e-5)`, applied as recipe.optim.config.lr.
TUTORIAL_PRETRAIN_LR = 1e-5
# finetune.py: `parser.add_argument("--lr", type=float, default=5e-6)` (NeMo's full-SFT rate too).
TUTORIAL_FINETUNE_LR = 5e-6
DOCS, DOC_TOKENS = 50, 40
# Made per run: the git packager ships this committed file with the job, so a literal would be found there.
TOKEN = "hf_" + __import__("secrets").token_hex(12)  # the corpus written below: 50 documents of 40 tokens


@pytest.fixture
def tutorial_tree(isolated, monkeypatch):
    """The tutorial's working tree: a NeMo checkpoint folder, preprocessed data, data/alpaca."""
    monkeypatch.setenv("NEMO_HOME", str(isolated / "nemo_home"))
    write_nemo_checkpoint(isolated / "nemo_ckpt" / "Llama-3.1-8B-Instruct")
    write_mmap(isolated / "data/custom_dataset/preprocessed/wikinews_text_document",
               [[128000 + (i % 5)] * DOC_TOKENS for i in range(DOCS)])
    write_sft_folder(isolated / "data" / "alpaca", rows=300)
    return isolated


def tutorial_pretrain_argv(executor: str) -> list[str]:
    """001's pretraining command (JOB_NAME=llama31_pretraining, 1 node × 8 GPUs, TP 2, GBS 2048, 100 steps)."""
    slurm = ["-a", "root", "-p", "defq", "-i", "nvcr.io/nvidia/nemo:dev"] if executor == "slurm" else []
    return ["--executor", executor, *slurm, "--experiment", "llama31_pretraining", "--num_nodes", "1",
            "--num_gpus", "8", "--model_size", "8B", "--hf_model_id", "meta-llama/Llama-3.1-8B-Instruct",
            "--nemo_model", "nemo_ckpt/Llama-3.1-8B-Instruct", "--hf_token", TOKEN,
            "--max_steps", "100", "--global_batch_size", "2048", "--tensor_model_parallel_size", "2",
            "--pipeline_model_parallel_size", "1", "--context_parallel_size", "1",
            "--dataset_path", "data/custom_dataset/preprocessed/", "--dryrun"]


def tutorial_finetune_argv(executor: str, nemo_model: list[str]) -> list[str]:
    """001/002's finetuning command (`--nemo_model ${NEMO_MODEL}` with NEMO_MODEL empty drops the value)."""
    slurm = ["-a", "root", "-p", "defq", "-i", "nvcr.io/nvidia/nemo:dev"] if executor == "slurm" else []
    return ["--executor", executor, *slurm, "--experiment", "llama31_finetuning", "--num_nodes", "1",
            "--num_gpus", "8", "--model_size", "8B", "--hf_model_id", "meta-llama/Llama-3.1-8B-Instruct",
            "--hf_token", TOKEN, *nemo_model, "--max_steps", "100",
            "--global_batch_size", "128", "--tensor_model_parallel_size", "2", "--pipeline_model_parallel_size", "1",
            "--context_parallel_size", "1", "--dataset_path", "data/alpaca", "--dryrun"]


def resolve(entry: str, argv: list[str]):
    plan = make_plan(entry, build_parser(entry).parse_args(argv))
    assert validate(plan) == []
    return plan, build_recipe(plan.opts)


@pytest.mark.parametrize("executor", ["local", "slurm"])
def test_tutorial_pretraining(tutorial_tree, executor, monkeypatch):
    monkeypatch.delenv("HF_TOKEN", raising=False)
    plan, recipe = resolve("pretrain", tutorial_pretrain_argv(executor))
    assert plan.opts.task == "pretrain"
    # pretrain.py: recipe.optim.config.lr = args.lr (1e-5 by default): continual pretraining's rate.
    assert recipe.optim.config.lr == TUTORIAL_PRETRAIN_LR
    assert recipe.trainer.max_steps == 100 and recipe.data.global_batch_size == 2048
    assert recipe.model.config.seq_length == recipe.data.seq_length == 8192  # -s default 8192
    strategy = recipe.trainer.strategy
    assert (strategy.tensor_model_parallel_size, strategy.pipeline_model_parallel_size,
            strategy.context_parallel_size) == (2, 1, 1)
    assert strategy.sequence_parallel is True  # pretrain.py: strategy.sequence_parallel = True
    # pretrain.py restores --nemo_model (load_model_state=True, load_optim_state=False).
    restore = recipe.resume.restore_config
    assert restore.path == str(tutorial_tree / "nemo_ckpt" / "Llama-3.1-8B-Instruct") and not restore.load_optim_state
    # -D is the folder: every .bin/.idx pair in it (pretrain.py globs *.bin).
    assert recipe.data.paths == str(tutorial_tree / "data/custom_dataset/preprocessed/wikinews_text_document")
    assert not plan.needs_import  # -n given: no HF import


@pytest.mark.parametrize("executor", ["local", "slurm"])
def test_tutorial_finetuning_continues_from_pretraining(tutorial_tree, executor, monkeypatch):
    """finetune.py without a NEMO_MODEL: `find_latest_checkpoint(".../llama31_pretraining/checkpoints")`."""
    monkeypatch.delenv("HF_TOKEN", raising=False)
    ckpts = tutorial_tree / "results" / "llama31_pretraining" / "checkpoints"
    older = ckpts / "model_name=0--val_loss=1.90-step=49-consumed_samples=100.0-last"
    newer = ckpts / "model_name=0--val_loss=1.55-step=99-consumed_samples=200.0-last"
    unfinished = ckpts / "model_name=0--val_loss=1.50-step=149-consumed_samples=300.0-last"
    for path in (older, newer, unfinished):
        write_nemo_checkpoint(path)
    (ckpts / (unfinished.name + "-unfinished")).touch()  # NeMo's marker of a save in progress
    import os
    import time
    now = time.time()
    for age, path in ((30, older), (20, newer), (10, unfinished)):
        os.utime(path, (now - age, now - age))

    plan, recipe = resolve("finetune", tutorial_finetune_argv(executor, ["--nemo_model"]))
    assert plan.opts.task == "sft"  # finetune.py's --peft default None: full finetuning
    assert recipe.peft is None or "peft" not in str(recipe.peft)
    assert recipe.optim.config.lr == TUTORIAL_FINETUNE_LR
    assert recipe.trainer.max_steps == 100 and recipe.data.global_batch_size == 128
    assert recipe.trainer.strategy.tensor_model_parallel_size == 2 and recipe.trainer.strategy.sequence_parallel
    assert recipe.resume.restore_config.path == str(newer)
    assert any("newest checkpoint of llama31_pretraining" in note for note in plan.notes)
    # What the project does differently says so, with the flag that gives the tutorial's behaviour.
    assert any("--packed_sequence" in note for note in plan.notes)
    assert any("-s 8192" in note for note in plan.notes)
    assert any("--template llama3" in note for note in plan.notes)


def test_tutorial_finetuning_without_pretraining_checkpoint(tutorial_tree):
    plan, recipe = resolve("finetune", tutorial_finetune_argv("local", ["--nemo_model"]))
    assert recipe.resume.restore_config.path == plan.opts.import_dir  # the imported --hf_model_id
    assert plan.needs_import
    assert any("no checkpoint of llama31_pretraining" in note for note in plan.notes)


def test_restoring_flags_give_the_tutorial_values(tutorial_tree):
    """The flags the notes name reproduce the tutorial script's finetuning setup (seq 8192, packed)."""
    argv = tutorial_finetune_argv("local", []) + ["-s", "8192", "--packed_sequence"]
    plan, recipe = resolve("finetune", argv)
    assert recipe.data.seq_length == 8192
    assert recipe.data.packed_sequence_specs.packed_sequence_size == 8192
    assert not any("--packed_sequence" in note or "-s 8192" in note for note in plan.notes)


def test_max_steps_none_is_one_epoch_of_pretraining_data(tutorial_tree):
    argv = tutorial_pretrain_argv("local")
    argv[argv.index("--max_steps") + 1] = "None"
    argv[argv.index("--global_batch_size") + 1] = "8"
    argv += ["-s", "16"]
    plan, recipe = resolve("pretrain", argv)
    # Worked by hand: 50 documents × 40 tokens, the training split's 900 of 1000 parts, samples of 16 tokens,
    # 8 per step (the tutorial meant one epoch; it counted 2 bytes per token, these files hold int32).
    train_tokens = DOCS * DOC_TOKENS * 900 // 1000
    assert recipe.trainer.max_steps == math.ceil(train_tokens / (16 * 8)) == 15
    assert any("one epoch" in note for note in plan.notes)


def test_max_steps_absent_is_one_epoch_of_finetuning_rows(tutorial_tree):
    argv = [a for a in tutorial_finetune_argv("local", []) if a not in ("--max_steps", "100")]
    plan, recipe = resolve("finetune", argv)
    assert recipe.trainer.max_steps == math.ceil(300 / 128) == 3  # 300 rows in training.jsonl, GBS 128


def test_tutorial_spellings(tutorial_tree, monkeypatch):
    """--fp8_recipe delayed_scaling, --wandb_name and --wandb_token of the tutorial scripts."""
    monkeypatch.delenv("WANDB_API_KEY", raising=False)
    argv = tutorial_pretrain_argv("local") + ["--fp8", "--fp8_recipe", "delayed_scaling", "--wandb",
                                              "--wandb_project", "proj", "--wandb_name", "run-1",
                                              "--wandb_token", "wandb_secret_value_0123456789"]
    plan, recipe = resolve("pretrain", argv)
    # pretrain.py: delayed_scaling -> bf16_with_fp8_mixed(); WandbLogger(project=..., name=args.wandb_name)
    from nemo.collections.llm.recipes.precision.mixed_precision import bf16_with_fp8_mixed

    assert recipe.trainer.plugins == bf16_with_fp8_mixed()
    assert recipe.log.wandb.project == "proj" and recipe.log.wandb.name == "run-1"
    import os
    # Handed on by name when the job launches (recipes.core.secrets.adopt), never in the recipe; planning
    # itself leaves the environment alone.
    assert plan.secrets["WANDB_API_KEY"][0] == "wandb_secret_value_0123456789" and "WANDB_API_KEY" not in os.environ
    assert "wandb_secret_value" not in str(recipe)


def test_tiny_debug_model_prints_no_tutorial_notes(isolated):
    write_sft_folder(isolated / "sft")
    plan = make_plan("finetune", build_parser("finetune").parse_args(["-M", "tiny", "-D", str(isolated / "sft"),
                                                                      "--max_steps", "2"]))
    assert not any("tutorial" in note for note in plan.notes)


def test_hf_backend_lora_shape_is_nemos(isolated):
    """LoRA dim 8 / alpha 16: NeMo's LoRA recipe and the 004 tutorial's lora_r 8, lora_alpha 16."""
    from recipes.hf.recipe import build_recipe as build_hf

    write_sft_folder(isolated / "sft")
    plan = make_plan("finetune", build_parser("finetune").parse_args(
        ["-M", "tiny", "--backend", "hf", "--peft", "lora", "-D", str(isolated / "sft"), "--max_steps", "2"]))
    recipe = build_hf(plan.opts)
    assert (recipe.peft.dim, recipe.peft.alpha) == (8, 16)


def test_tutorial_dryrun_through_the_cli(tutorial_tree):
    import os

    env = {k: v for k, v in os.environ.items() if k != "HF_TOKEN"}
    proc = run_module("recipes.finetune", *tutorial_finetune_argv("slurm", ["--nemo_model"]), env=env,
                      cwd=tutorial_tree)
    assert proc.returncode == 0, proc.stderr
    assert "#SBATCH" in proc.stdout and "note: sequences are not packed" in proc.stderr
    assert TOKEN not in proc.stdout
    assert not files_containing(tutorial_tree / "nemorun_home", TOKEN)
