"""Every registered model × task builds on CPU and carries the documented values."""

import inspect
from pathlib import Path

import pytest

pytest.importorskip("nemo.collections.llm")

import nemo_run as run  # noqa: E402
from nemo.collections import llm  # noqa: E402

from recipes.backends.factories import FACTORIES  # noqa: E402
from recipes.config.models import MODELS, TINY_ARCH  # noqa: E402
from recipes.config.options import TASKS, RecipeOptions  # noqa: E402
from recipes.config.overrides import apply_overrides  # noqa: E402
from recipes.core.errors import UsageError  # noqa: E402
from recipes.megatron.recipe import build_recipe, mmap_paths_argument  # noqa: E402


def test_small_model_backend_factories_are_registered(tmp_path):
    from recipes.hf.train import train

    for task in TASKS:
        recipe = FACTORIES[f"tiny_{task}_hf"](dir=str(tmp_path), name="t")
        assert recipe.__fn_or_cls__ is train and recipe.task == task
        assert recipe.log.log_dir == str(tmp_path / "t") and recipe.resume.resume_if_exists


@pytest.mark.parametrize("model", sorted(MODELS))
@pytest.mark.parametrize("task", TASKS)
def test_every_registered_factory_builds(model, task, tmp_path):
    recipe = FACTORIES[f"{model}_{task}"](dir=str(tmp_path), name="exp", num_nodes=2, num_gpus_per_node=8)
    assert isinstance(recipe, run.Partial)
    nemo_fn = llm.pretrain if task == "pretrain" else llm.finetune
    # Our target calls NeMo's function behind the stack adapters; it takes exactly NeMo's arguments,
    # so NeMo's recipe shape (and every dotted override) is unchanged.
    assert recipe.__fn_or_cls__.__name__ == nemo_fn.__name__
    assert recipe.__fn_or_cls__.__module__ == "recipes.mcore.train"
    assert list(inspect.signature(recipe.__fn_or_cls__).parameters) == list(inspect.signature(nemo_fn).parameters)
    assert (recipe.trainer.num_nodes, recipe.trainer.devices) == (2, 8)
    assert recipe.log.log_dir == str(tmp_path) and recipe.log.name == "exp"
    assert recipe.resume.resume_if_exists is True and recipe.resume.resume_ignore_no_checkpoint is True
    tp, pp, cp = MODELS[model].default_parallelism(task)
    strategy = recipe.trainer.strategy
    assert (strategy.tensor_model_parallel_size, strategy.pipeline_model_parallel_size,
            strategy.context_parallel_size) == (tp, pp, cp)
    assert strategy.ckpt_async_save is False  # NeMo 2.7 async IO needs a module mcore 0.16 removed
    callbacks = [c.__fn_or_cls__.__name__ for c in recipe.trainer.callbacks]
    assert "PreemptionCallback" in callbacks
    if task in ("lora", "dora"):
        assert recipe.peft.__fn_or_cls__.__name__ == ("LoRA" if task == "lora" else "DoRA")
        assert (recipe.peft.dim, recipe.peft.alpha) == ((16, 32) if model == "llama31_70b" else (8, 16))
    else:
        assert getattr(recipe, "peft", None) is None
    if MODELS[model].is_debug:
        assert recipe.model.config.num_layers == TINY_ARCH["num_layers"]
        assert recipe.model.config.hidden_size == TINY_ARCH["hidden_size"]


@pytest.mark.parametrize("model", [m for m in MODELS if not MODELS[m].is_debug])
def test_registry_defaults_match_nemo(model):
    module = getattr(llm, MODELS[model].nemo_recipe)
    for task, kwargs in (("pretrain", None), ("sft", "none"), ("lora", "lora")):
        recipe = module.pretrain_recipe() if kwargs is None else module.finetune_recipe(peft_scheme=kwargs)
        s = recipe.trainer.strategy
        assert MODELS[model].default_parallelism(task) == (
            s.tensor_model_parallel_size, s.pipeline_model_parallel_size, s.context_parallel_size), (model, task)
        assert MODELS[model].default_seq_length_for(task) == recipe.data.seq_length


def test_pretrain_options_reach_the_recipe(tmp_path):
    opts = RecipeOptions(task="pretrain", model="llama31_8b", results_dir=str(tmp_path), experiment="cpt",
                         num_nodes=2, num_gpus=8, seq_length=4096, max_steps=50, global_batch_size=64,
                         micro_batch_size=2, lr=1e-4, tensor_model_parallel_size=2, context_parallel_size=1,
                         dataset_path="0.3 /d/a_text_document 0.7 /d/b_text_document", fp8=True, fp8_recipe="tensorwise",
                         nemo_model=str(tmp_path / "ckpt"), ckpt_every_n_steps=25)
    recipe = build_recipe(opts)
    assert recipe.model.config.seq_length == recipe.data.seq_length == 4096
    assert recipe.data.paths == ["0.3", "/d/a_text_document", "0.7", "/d/b_text_document"]
    assert (recipe.data.global_batch_size, recipe.data.micro_batch_size) == (64, 2)
    assert recipe.trainer.max_steps == 50 and recipe.optim.config.lr == 1e-4
    assert recipe.trainer.strategy.tensor_model_parallel_size == 2
    assert recipe.trainer.plugins.__fn_or_cls__.__name__ == "MegatronMixedPrecision"
    assert recipe.trainer.plugins.fp8_recipe == "tensorwise"
    assert recipe.resume.restore_config.path == str(tmp_path / "ckpt")
    assert recipe.log.ckpt.every_n_train_steps == 25
    assert recipe.optim.lr_scheduler.warmup_steps < 50


def test_finetune_data_and_starting_weights(tmp_path):
    opts = RecipeOptions(task="sft", model="llama31_8b", results_dir=str(tmp_path), dataset_path=str(tmp_path),
                         hf_model_id="meta-llama/Llama-3.1-8B-Instruct", global_batch_size=128,
                         tensor_model_parallel_size=2, packed_sequence=True)
    recipe = build_recipe(opts)
    assert recipe.data.__fn_or_cls__ is llm.FineTuningDataModule
    assert recipe.data.dataset_root == str(tmp_path) and recipe.data.seq_length == 4096
    assert recipe.data.packed_sequence_specs.packed_sequence_size == 4096
    # Where NeMo itself resolves nemo://meta-llama/Llama-3.1-8B-Instruct (its model cache), by absolute path
    # so that the import task and training agree inside a container too.
    from nemo.lightning.resume import NEMO_MODELS_CACHE

    assert recipe.resume.restore_config.path == str(Path(NEMO_MODELS_CACHE) / "meta-llama/Llama-3.1-8B-Instruct")


def test_mmap_paths_argument_forms(tmp_path):
    for name in ("a", "b"):
        (tmp_path / f"{name}_text_document.bin").touch()
        (tmp_path / f"{name}_text_document.idx").touch()
    from recipes.data.mmap_paths import parse_mmap_paths

    assert mmap_paths_argument(parse_mmap_paths(str(tmp_path / "a_text_document.bin"))) == str(tmp_path / "a_text_document")
    assert mmap_paths_argument(parse_mmap_paths(str(tmp_path))) == ["0.5", str(tmp_path / "a_text_document"),
                                                                    "0.5", str(tmp_path / "b_text_document")]


def test_dotted_overrides(tmp_path):
    recipe = build_recipe(RecipeOptions(task="lora", model="tiny", results_dir=str(tmp_path), global_batch_size=8))
    apply_overrides(recipe, ["trainer.max_steps=10", "optim.config.lr=1e-5", "trainer.val_check_interval=None",
                             "peft.dim=16", "data.seq_length=128", "trainer.strategy.ckpt_async_save=False"])
    assert recipe.trainer.max_steps == 10 and recipe.optim.config.lr == 1e-5
    assert recipe.trainer.val_check_interval is None and recipe.peft.dim == 16 and recipe.data.seq_length == 128
    assert recipe.trainer.strategy.ckpt_async_save is False  # "False" is false (the tutorials' bug)
    for bad in ("trainer.nope.x=1", "not a key=1", "trainer.max_steps"):
        with pytest.raises(UsageError, match="override"):
            apply_overrides(recipe, [bad])


def test_tiny_is_the_same_model_on_both_backends(tmp_path):
    """The Megatron debug Llama's shape and RoPE frequencies equal those transformers computes for the small-model
    backend's tiny config (no rope_scaling). NeMo's Llama 3.2 recipe would rescale RoPE by 32 otherwise."""
    import torch
    from nemo.collections.common.parts.utils import apply_rope_scaling
    from transformers.models.llama.modeling_llama import LlamaRotaryEmbedding

    from recipes.config.models import get_model, hf_llama_config

    config = FACTORIES["tiny_pretrain"](dir=str(tmp_path), name="t").model.config
    hf = hf_llama_config(get_model("tiny"))
    assert (config.num_layers, config.hidden_size, config.ffn_hidden_size, config.num_attention_heads,
            config.num_query_groups, config.rotary_base) == (
        hf.num_hidden_layers, hf.hidden_size, hf.intermediate_size, hf.num_attention_heads, hf.num_key_value_heads,
        hf.rope_theta)
    dim = config.hidden_size // config.num_attention_heads
    unscaled = 1.0 / (config.rotary_base ** (torch.arange(0, dim, 2, dtype=torch.float32) / dim))  # RoFormer's
    nemo = apply_rope_scaling(unscaled, scale_factor=config.scale_factor, low_freq_factor=config.low_freq_factor,
                              high_freq_factor=config.high_freq_factor, old_context_len=config.old_context_len)
    assert torch.allclose(nemo, LlamaRotaryEmbedding(hf).inv_freq, rtol=1e-6)
