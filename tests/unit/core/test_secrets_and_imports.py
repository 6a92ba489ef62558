"""Secrets never reach a file, a log or a child's command line; `recipes` is this repository's."""

import os
import re

import recipes
from testlib import REPO, files_containing, run_module, write_mmap

SENTINEL = "hf_SENTINEL_do_not_leak_7f3a9c"
WANDB_SENTINEL = "wandb_SENTINEL_5e1d"


def test_recipes_imports_from_this_repository():
    # torchtune's wheel (and others) also ship a top-level `recipes` package.
    assert recipes.__file__.startswith(str(REPO / "recipes"))
    proc = run_module("recipes.pretrain", "--help")
    assert proc.returncode == 0 and "--tensor_model_parallel_size" in proc.stdout


def test_slurm_dryrun_with_token_in_env_and_flag_leaks_nothing(tmp_path):
    write_mmap(tmp_path / "data" / "wiki_text_document", [[1, 2, 3]] * 4)
    env = {"NEMORUN_HOME": str(tmp_path / "home"), "RECIPES_SITE_CONFIG": os.devnull,
           "HF_TOKEN": SENTINEL, "WANDB_API_KEY": WANDB_SENTINEL}
    proc = run_module("recipes.finetune", "--executor", "slurm", "-a", "acct", "-i", "nvcr.io/nvidia/nemo:25.09",
                      "-G", "8", "-T", "2", "--peft", "none", "-D", str(tmp_path / "data"),
                      "--hf_model_id", "meta-llama/Llama-3.1-8B-Instruct", "--hf_token", SENTINEL, "--wandb",
                      "--env", f"WANDB_API_KEY={WANDB_SENTINEL}", "--env", "NCCL_DEBUG=WARN",
                      "--results_dir", str(tmp_path / "results"), "--packager", "none", "--dryrun", "--yes",
                      env=env, cwd=tmp_path)
    # The folder has no training.jsonl: validation fails first; make it valid and retry.
    assert proc.returncode == 2 and "training.jsonl" in proc.stderr
    (tmp_path / "data" / "training.jsonl").write_text('{"input": "a", "output": "b"}\n')
    proc = run_module(*[a for a in proc.args[2:]], env=env, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "export HF_TOKEN instead" in proc.stderr, "--hf_token warns that command lines are visible"
    script = next((tmp_path / "home").rglob("*_sbatch.sh")).read_text()
    assert "export NCCL_DEBUG=WARN" in script
    for secret in (SENTINEL, WANDB_SENTINEL):
        assert secret not in proc.stdout and secret not in proc.stderr
        assert files_containing(tmp_path, secret) == []
    assert not re.search(r"(HF_TOKEN|WANDB_API_KEY)=", script)


def test_local_run_passes_the_token_by_name_and_writes_it_nowhere(tmp_path):
    """A real local training run (tiny model, CPU) with the token in the environment and on the command line."""
    from testlib import write_sft_folder

    data = write_sft_folder(tmp_path / "sft", rows=6)
    env = {"NEMORUN_HOME": str(tmp_path / "home"), "RECIPES_SITE_CONFIG": os.devnull,
           "HF_TOKEN": SENTINEL, "WANDB_API_KEY": WANDB_SENTINEL}
    proc = run_module("recipes.finetune", "-M", "tiny", "--peft", "lora", "-D", str(data), "--max_steps", "2",
                      "-s", "64", "--hf_token", SENTINEL, "--results_dir", str(tmp_path / "results"), "--yes",
                      env=env, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert (tmp_path / "results" / "llama31_finetuning" / "hf_adapter").is_dir()
    for secret in (SENTINEL, WANDB_SENTINEL):
        assert secret not in proc.stdout and secret not in proc.stderr
        assert files_containing(tmp_path, secret) == []
