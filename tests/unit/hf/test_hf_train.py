"""Each task trains a few CPU steps through build_recipe -> train: the loss falls and the run leaves its files."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from hf_helpers import metric_rows


def _assert_learns(opts, result):
    losses = metric_rows(opts.log_dir, "train_loss")
    assert sorted(losses) == list(range(1, opts.max_steps + 1))
    assert losses[opts.max_steps] < losses[1] - 0.05, losses
    assert result.global_step == opts.max_steps
    assert result.train_loss == pytest.approx(losses[opts.max_steps])
    val = metric_rows(opts.log_dir, "val_loss")
    assert sorted(val) == [3, 6] and val[6] < val[3], val
    assert list((Path(opts.log_dir) / "tb_logs").glob("events.out.tfevents.*"))
    meta = json.loads((Path(opts.checkpoint_dir) / "step=0000006" / "meta.json").read_text())
    assert meta == {"step": 6, "world_size": 1}


def test_pretrain_learns_and_exports_hf_model(pretrain_run):
    opts, result = pretrain_run
    _assert_learns(opts, result)
    exported = Path(result.exported["model"])
    assert exported == Path(opts.log_dir) / "hf_model"
    assert (exported / "config.json").is_file() and (exported / "tokenizer.json").is_file()
    # every 3 steps (the validation interval) and at the end; the two newest are kept
    assert sorted(p.name for p in Path(opts.checkpoint_dir).iterdir()) == ["step=0000003", "step=0000006"]


def test_sft_learns_answer_tokens(sft_run):
    _assert_learns(*sft_run)


@pytest.mark.parametrize("run_name", ["lora_run", "dora_run"])
def test_peft_learns_and_saves_only_the_adapter(run_name, request):
    import torch

    opts, result = request.getfixturevalue(run_name)
    _assert_learns(opts, result)
    adapter = json.loads((Path(result.exported["adapter"]) / "adapter_config.json").read_text())
    assert adapter["use_dora"] is (opts.task == "dora")
    assert adapter["base_model_name_or_path"] == result.exported["base"] == str(Path(opts.log_dir) / "hf_base")
    state = torch.load(Path(result.checkpoint) / "state.ckpt", map_location="cpu", weights_only=False)
    assert state["state_dict"] and all("lora_" in key for key in state["state_dict"])
    # hf_base is the very base the adapter was trained on: the tiny model's seeded random init
    from safetensors.torch import load_file

    from recipes.hf.config import ModelConfig
    from recipes.hf.modeling import build_model

    saved = load_file(Path(result.exported["base"]) / "model.safetensors")
    for name, tensor in build_model(ModelConfig(name="tiny"), seed=opts.seed).state_dict().items():
        assert torch.equal(saved[name], tensor), name


def test_qlora_on_cpu_is_a_usage_error(tmp_path, sft_dir, capsys):
    from hf_helpers import options, options_json
    from recipes.hf.train import main

    opts = options(tmp_path, "lora", sft_dir)
    code = main(["--options", options_json(opts), "--set", "peft.quantize_4bit=true"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1
    assert "QLoRA" in err[0] and "CUDA" in err[0]


def test_bench_script_reports_tokens_per_s(capsys):
    import importlib.util

    from testlib import REPO

    spec = importlib.util.spec_from_file_location("bench_train", REPO / "scripts" / "bench_train.py")
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    assert bench.main(["--steps", "3", "--warmup", "1", "--seq_length", "16", "--micro_batch_size", "1",
                       "--tasks", "lora", "--devices", "cpu"]) == 0
    (row,) = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert row["device"] == "cpu" and row["task"] == "lora" and row["timed_steps"] == 2 and row["tokens_per_s"] > 0
