"""build_recipe's shape and defaults, NeMo-style overrides, serialization, and its one-line errors."""

from __future__ import annotations

import pickle

import pytest

from hf_helpers import options
from recipes.core.errors import UsageError

OVERRIDES = {
    "trainer.max_steps": 7, "trainer.val_check_interval": 3, "trainer.limit_val_batches": 2,
    "trainer.log_every_n_steps": 5, "trainer.precision": "32-true", "trainer.devices": 2, "trainer.num_nodes": 1,
    "data.global_batch_size": 16, "data.micro_batch_size": 4, "data.seq_length": 64, "optim.config.lr": 5e-4,
    "optim.config.weight_decay": 0.0, "optim.lr_scheduler.warmup_steps": 2, "log.log_dir": "/tmp/elsewhere",
    "log.ckpt.every_n_train_steps": 3, "resume.resume_if_exists": False, "peft.dim": 4, "peft.alpha": 8,
    "peft.quantize_4bit": True, "model.path": "/models/llama",
}


def test_lora_recipe_has_nemo_shape_and_tiny_defaults(tmp_path, sft_dir):
    from recipes.hf.recipe import build_recipe
    from recipes.hf.train import train

    recipe = build_recipe(options(tmp_path, "lora", sft_dir))
    assert recipe.__fn_or_cls__ is train
    assert recipe.task == "lora" and recipe.seed == 1234
    assert recipe.model.name == "tiny" and recipe.model.path is None
    assert (recipe.data.dataset_root, recipe.data.seq_length) == (str(sft_dir), 32)
    assert (recipe.data.global_batch_size, recipe.data.micro_batch_size) == (4, 2)
    assert recipe.optim.config.lr == 2e-3 and recipe.peft.method == "lora" and not recipe.peft.quantize_4bit
    assert recipe.log.log_dir == str(tmp_path / "lora_run") and recipe.resume.resume_if_exists


def test_every_documented_override_path_applies(tmp_path, sft_dir):
    import fiddle as fdl

    from recipes.hf.recipe import build_recipe
    from recipes.config.overrides import apply_overrides

    recipe = apply_overrides(build_recipe(options(tmp_path, "dora", sft_dir)),
                             [f"{key}={value}" for key, value in OVERRIDES.items()])
    built = fdl.build(recipe)
    for key, value in OVERRIDES.items():
        node = built.keywords[key.split(".")[0]]
        for name in key.split(".")[1:]:
            node = getattr(node, name)
        assert node == value, key


def test_recipe_survives_nemo_run_serialization_and_pickle(tmp_path, corpus):
    import fiddle as fdl
    from nemo_run.core.serialization.zlib_json import ZlibJSONSerializer

    from recipes.hf.recipe import build_recipe

    recipe = build_recipe(options(tmp_path, "pretrain", corpus, seq_length=None, lr=None))
    serializer = ZlibJSONSerializer()
    again = serializer.deserialize(serializer.serialize(recipe))
    assert again == recipe
    built = fdl.build(again)
    assert built.keywords["data"].paths == str(corpus) and built.keywords["data"].seq_length == 256
    assert built.keywords["optim"].config.lr == 1e-3 and built.keywords["peft"] is None
    pickle.loads(pickle.dumps(built.keywords))


def test_hf_directory_model_and_its_tokenizer(tmp_path, sft_dir, tokenizer):
    from recipes.hf.config import ModelConfig
    from recipes.hf.modeling import build_model, tokenizer_source
    from recipes.hf.recipe import build_recipe

    model_dir = tmp_path / "hf_tiny"
    build_model(ModelConfig(), seed=1).save_pretrained(model_dir)
    tokenizer.save_pretrained(model_dir)
    recipe = build_recipe(options(tmp_path, "sft", sft_dir, hf_model_id=str(model_dir)))
    assert recipe.model.path == str(model_dir)
    assert tokenizer_source(ModelConfig(path=str(model_dir))) == str(model_dir)
    assert build_recipe(options(tmp_path, "sft", sft_dir, nemo_model=str(model_dir))).model.path == str(model_dir)


@pytest.mark.parametrize("changes, flag", [
    ({"nemo_model": "/nowhere/model.nemo"}, "--nemo_model"),
    ({"hf_model_id": "/nowhere/llama"}, "--hf_model_id"),
    ({"dataset_path": None}, "--dataset_path"),
    ({"task": "qat"}, "--task"),
])
def test_bad_options_are_one_line_usage_errors(tmp_path, sft_dir, changes, flag):
    from recipes.hf.recipe import build_recipe

    opts = options(tmp_path, "sft", sft_dir)
    with pytest.raises(UsageError) as err:
        build_recipe(opts.replace(**changes))
    assert str(err.value).startswith(flag) and "\n" not in str(err.value)
