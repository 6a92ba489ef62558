"""Fixes the Megatron CPU suite (tests/megatron) found, each pinned here at the recipe/plan level (seconds).

The end-to-end proofs (real runs through the CLI) are in tests/megatron; these say what changed.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

pytest.importorskip("nemo.collections.llm")

from recipes import finetune  # noqa: E402
from recipes.config.options import RecipeOptions  # noqa: E402
from recipes.megatron.recipe import build_recipe  # noqa: E402


def _hf_config(folder: Path, **sizes) -> Path:
    """An HF Llama ``config.json`` beside a complete (one-tensor) safetensors file: the plan reads only the
    shape, and validation only that the weights file is whole."""
    import torch
    from safetensors.torch import save_file

    config = dict(model_type="llama", architectures=["LlamaForCausalLM"], vocab_size=128256, hidden_size=64,
                  intermediate_size=256, num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2,
                  rope_theta=500000.0, rms_norm_eps=1e-5, tie_word_embeddings=False)
    config.update(sizes)
    folder.mkdir(parents=True)
    (folder / "config.json").write_text(json.dumps(config))
    save_file({"lm_head.weight": torch.zeros(1)}, str(folder / "model.safetensors"))
    return folder


def test_finetuning_from_random_weights_takes_the_data_tokenizer(tmp_path):
    # NeMo's finetune default ("model") reads the restored model's tokenizer: None without a restore.
    scratch = build_recipe(RecipeOptions(task="sft", model="tiny", results_dir=str(tmp_path), dataset_path="d"))
    assert scratch.resume.restore_config is None and scratch.tokenizer == "data"
    restored = build_recipe(RecipeOptions(task="lora", model="tiny", results_dir=str(tmp_path), dataset_path="d",
                                          nemo_model=str(tmp_path / "ckpt")))
    assert restored.tokenizer == "model"


def test_tensorboard_logs_live_in_the_experiment_directory(tmp_path):
    from recipes.launch.runrecord import task_fields

    recipe = build_recipe(RecipeOptions(task="pretrain", model="tiny", results_dir=str(tmp_path), experiment="exp"))
    # NeMo roots the logger at log_dir/<save_dir>: <results>/exp/tb_logs, not <results>/tb_logs/exp.
    assert (recipe.log.log_dir, recipe.log.tensorboard.save_dir, recipe.log.tensorboard.name) == \
        (str(tmp_path), "exp/tb_logs", "")
    # The run record (and recipes.status, which reads its losses there) names the experiment's directory.
    assert task_fields(recipe)["log_dir"] == str(tmp_path / "exp")


def test_the_architecture_of_a_local_hf_folder_is_the_model(tmp_path):
    folder = _hf_config(tmp_path / "hf", num_key_value_heads=4, tie_word_embeddings=True)
    recipe = build_recipe(RecipeOptions(task="sft", model="llama32_1b", results_dir=str(tmp_path), dataset_path="d",
                                        hf_model_id=str(folder)))
    config = recipe.model.config
    assert (config.num_layers, config.hidden_size, config.ffn_hidden_size, config.num_attention_heads,
            config.num_query_groups) == (2, 64, 256, 4, 4)
    assert config.share_embeddings_and_output_weights is True and config.rotary_base == 500000.0
    assert config.scale_factor == 1.0  # no rope_scaling in the folder: Llama 3.2's factor 32 would rescale RoPE
    scaled = _hf_config(tmp_path / "scaled", rope_scaling={"rope_type": "llama3", "factor": 16.0, "low_freq_factor": 2.0,
                                                           "high_freq_factor": 8.0,
                                                           "original_max_position_embeddings": 4096})
    config = build_recipe(RecipeOptions(task="sft", model="llama32_1b", results_dir=str(tmp_path), dataset_path="d",
                                        hf_model_id=str(scaled))).model.config
    assert (config.scale_factor, config.low_freq_factor, config.high_freq_factor, config.old_context_len) == \
        (16.0, 2.0, 8.0, 4096)


def test_cpu_accepts_a_small_hf_folder_and_refuses_a_big_one(isolated, sft_folder, capsys):
    small = _hf_config(isolated / "small")
    argv = ["-M", "llama32_1b", "--backend", "megatron", "--cpu", "-D", str(sft_folder), "--max_steps", "2",
            "--peft", "none", "--dryrun"]
    assert finetune.main([*argv, "--hf_model_id", str(small)]) == 0, capsys.readouterr().err
    capsys.readouterr()
    big = _hf_config(isolated / "big", hidden_size=2048, intermediate_size=8192, num_hidden_layers=16,
                     num_attention_heads=32, num_key_value_heads=8)  # Llama 3.2 1B's layers, untied head
    assert finetune.main([*argv, "--hf_model_id", str(big)]) == 2
    errors = [line for line in capsys.readouterr().err.splitlines() if "error:" in line]
    assert len(errors) == 1 and "--cpu: the Megatron backend runs on CPU for debug-size models only" in errors[0], errors
    assert "(1498M parameters)" in errors[0]


def test_kill_at_step_is_a_known_fault():
    from recipes.core.faults import parse_faults
    from recipes.mcore.faults import KillAtStep, callbacks_from_env

    assert [(f.action, f.step) for f in parse_faults("kill_at_step:3")] == [("kill_at_step", 3)]
    assert callbacks_from_env() == [] or isinstance(callbacks_from_env()[0], KillAtStep)


def test_cpu_tensor_parallelism_runs_without_sequence_parallelism(isolated, capsys):
    # megatron-core asserts "sequence parallel not supported by torch LayerNorm" when the model is built.
    from recipes import pretrain
    from recipes.job.cli import build_parser
    from recipes.job.plan import make_plan

    argv = ["-M", "tiny", "--backend", "megatron", "--cpu", "--executor", "torchrun", "-G", "2", "-T", "2",
            "--mock_data", "--max_steps", "2", "--dryrun"]
    plan = make_plan("pretrain", build_parser("pretrain").parse_args(argv))
    assert plan.opts.tensor_model_parallel_size == 2 and plan.opts.sequence_parallel is False
    assert pretrain.main([*argv, "--sequence_parallel"]) == 2
    errors = [line for line in capsys.readouterr().err.splitlines() if "error:" in line]
    assert len(errors) == 1 and "--sequence_parallel: not with --cpu" in errors[0], errors


def test_mock_data_gives_the_attention_mask_a_run_without_transformer_engine_needs(tmp_path):
    # NeMo 2.7.3's own setup passed create_attention_mask into the datasets' seed: no mask, seed 0/1.
    import fiddle as fdl
    import torch

    from recipes.data.tokenizer import nemo_tokenizer

    recipe = build_recipe(RecipeOptions(task="pretrain", model="tiny", results_dir=str(tmp_path), experiment="m",
                                        seq_length=16))
    recipe.data.tokenizer = nemo_tokenizer("llama3")
    data = fdl.build(recipe.data)
    data.create_attention_mask = True  # what NeMo sets without TE
    data.setup()
    sample = data._train_ds[0]
    assert data._train_ds.seed == 42 and sample["attention_mask"].shape == (1, 16, 16)
    assert torch.equal(sample["attention_mask"][0], torch.triu(torch.ones(16, 16, dtype=torch.bool), diagonal=1))


def test_cpu_refuses_context_parallelism(isolated, capsys):
    # megatron-core: "Context parallelism is only supported by TEDotProductAttention!" when the model is built.
    from recipes import pretrain

    assert pretrain.main(["-M", "tiny", "--backend", "megatron", "--cpu", "--executor", "torchrun", "-G", "2",
                          "-C", "2", "--mock_data", "--max_steps", "2", "--dryrun"]) == 2
    errors = [line for line in capsys.readouterr().err.splitlines() if "error:" in line]
    assert len(errors) == 1 and errors[0].endswith("use -C 1") and "-C/--context_parallel_size: 2" in errors[0], errors


def test_cpu_refuses_packed_sequences(isolated, sft_folder, capsys):
    # megatron-core: "Packed sequence is not supported by DotProductAttention" at the first step.
    assert finetune.main(["-M", "tiny", "--backend", "megatron", "--cpu", "--peft", "lora", "--packed_sequence",
                          "-m", "1", "-D", str(sft_folder), "--max_steps", "2", "--dryrun"]) == 2
    errors = [line for line in capsys.readouterr().err.splitlines() if "error:" in line]
    assert len(errors) == 1 and errors[0].startswith("recipes.finetune: error: --packed_sequence: needs Transformer"), errors
