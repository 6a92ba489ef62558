"""Megatron-Core recipes: NeMo's own factories, with only what this library owns overridden.

Built on ``nemo.collections.llm.<model>.pretrain_recipe`` / ``finetune_recipe`` (never copies of
them). What we change: data, log dir (stable, for auto-resume), resume/restore, parallelism, batch
sizes, steps, learning rate, precision (opt-in FP8), and a preemption callback. Every
``nemo.collections.llm`` import of the project lives in ``recipes/``.
"""

from __future__ import annotations

import signal

import fiddle as fdl
import nemo_run as run

from recipes.config.models import get_model
from recipes.config.options import PRETRAIN_SPLIT, RecipeOptions
from recipes.conversion import hf_arch
from recipes.conversion.api import import_hf
from recipes.data.mmap_paths import parse_mmap_paths
from recipes.data.sft_tokens import NEMO_DATASET_KWARGS
from recipes.data.tokenizer import nemo_tokenizer
from recipes.mcore import train as mcore_train
from recipes.mcore.cpu import CPU_MODEL_CONFIG
from recipes.mcore.data import MockDataModule

TARGETS = {"pretrain": mcore_train.pretrain, "sft": mcore_train.finetune, "lora": mcore_train.finetune,
           "dora": mcore_train.finetune}

# --fp8_recipe name -> NeMo precision factory (nemo.collections.llm.recipes.precision.mixed_precision).
FP8_RECIPES = {  # keys: recipes.config.options.FP8_RECIPE_NAMES
    "delayed": "bf16_with_fp8_mixed",
    "tensorwise": "bf16_with_fp8_current_scaling_mixed",
    "current": "bf16_with_fp8_current_scaling_mixed",
    "mxfp8": "bf16_with_mxfp8_mixed",
    "blockwise": "bf16_with_fp8_subchannel_scaling_mixed",
}


def nemo_recipe_module(opts: RecipeOptions):
    from nemo.collections import llm

    return getattr(llm, get_model(opts.model).nemo_recipe)


def build_recipe(opts: RecipeOptions) -> run.Partial:
    """The training ``run.Partial`` for ``opts`` (pretrain, sft, lora or dora)."""
    module = nemo_recipe_module(opts)
    spec = get_model(opts.model)
    if opts.task == "pretrain":
        recipe = module.pretrain_recipe(dir=opts.results_dir, name=opts.experiment,
                                        num_nodes=opts.num_nodes, num_gpus_per_node=opts.num_gpus)
    else:
        recipe = module.finetune_recipe(dir=opts.results_dir, name=opts.experiment,
                                        num_nodes=opts.num_nodes, num_gpus_per_node=opts.num_gpus,
                                        peft_scheme=opts.peft or "none", seq_length=seq_length(opts),
                                        packed_sequence=opts.packed_sequence)
    for field_name, value in model_arch(opts).items():
        setattr(recipe.model.config, field_name, value)
    # Our target: NeMo's function behind the installed stack's adapters (and the CPU mode's replacements).
    fdl.update_callable(recipe, TARGETS[opts.task])
    _set_parallelism(recipe, opts)
    _set_data(recipe, opts)
    _set_training(recipe, opts)
    _set_logging_and_resume(recipe, opts)
    _set_precision(recipe, opts)
    if opts.cpu:
        cpu_recipe_settings(recipe)
    return recipe


def model_arch(opts: RecipeOptions) -> dict:
    """Model-config fields over NeMo's: the debug model's, or those of a local --hf_model_id folder
    (its weights are restored into this model, so it must have their shape; recipes.conversion.hf_arch)."""
    spec = get_model(opts.model)
    config = None if spec.is_debug or opts.nemo_model else hf_arch.read_config(opts.hf_model_id)
    return hf_arch.megatron_arch(config) if config else dict(spec.arch)


def cpu_recipe_settings(recipe: run.Partial) -> list[str]:
    """``--cpu`` (and ``--rehearse``): NeMo's Megatron path on CPU processes with gloo (recipes.mcore.cpu).

    Returns what changed, one phrase each (the rehearsal prints them)."""
    recipe.trainer.accelerator = "cpu"
    fused = sorted(name for name, value in CPU_MODEL_CONFIG.items() if getattr(recipe.model.config, name, None))
    for name, value in CPU_MODEL_CONFIG.items():
        setattr(recipe.model.config, name, value)
    changes = ["CPU (gloo): fused kernels off" + (f" ({', '.join(fused)})" if fused else "")]
    if recipe.trainer.plugins is not None:
        changes.append("precision: fp32 (bf16/FP8 kernels are GPU-only)")
    # fp32: CPUs without bf16 matrix units run a bf16 step of the tiny model ~30x slower (15 s vs 0.5 s).
    recipe.trainer.plugins = None
    recipe.optim.config.bf16 = False  # megatron-core's optimizer must agree with the fp32 parameters
    recipe.optim.config.fp16 = False
    if getattr(recipe.trainer.strategy, "pipeline_dtype", None) is not None:
        import torch

        recipe.trainer.strategy.pipeline_dtype = torch.float32  # activations between stages are fp32 too
    return changes


def seq_length(opts: RecipeOptions) -> int:
    return opts.seq_length or get_model(opts.model).default_seq_length_for(opts.task, opts.packed_sequence)


def tokenizer_name(opts: RecipeOptions) -> str:
    """The debug model uses the bundled Llama 3 tokenizer (offline), as on the small-model backend."""
    spec = get_model(opts.model)
    return opts.tokenizer or opts.hf_model_id or ("llama3" if spec.is_debug else spec.hf_id)


def _set_parallelism(recipe: run.Partial, opts: RecipeOptions) -> None:
    strategy = recipe.trainer.strategy
    strategy.tensor_model_parallel_size = opts.tensor_model_parallel_size
    strategy.pipeline_model_parallel_size = opts.pipeline_model_parallel_size
    strategy.context_parallel_size = opts.context_parallel_size
    # NeMo 2.7's async checkpoint IO imports a module megatron-core 0.16 removed; sync saving works
    # everywhere (override with trainer.strategy.ckpt_async_save=true on a stack where it works).
    strategy.ckpt_async_save = False
    if opts.sequence_parallel is not None:
        strategy.sequence_parallel = opts.sequence_parallel
    if opts.tensor_model_parallel_size == 1:
        strategy.sequence_parallel = False
    if opts.pipeline_model_parallel_size == 1:
        strategy.virtual_pipeline_model_parallel_size = None
    elif getattr(strategy, "pipeline_dtype", None) is None:
        import torch

        # megatron-core asserts it with PP > 1; NeMo's recipes set it only where their default PP is > 1.
        strategy.pipeline_dtype = torch.bfloat16
    recipe.trainer.num_nodes = opts.num_nodes
    recipe.trainer.devices = opts.num_gpus


def _hf_tokenizer_config(opts: RecipeOptions):
    return run.Config(nemo_tokenizer, name=tokenizer_name(opts))


def _set_data(recipe: run.Partial, opts: RecipeOptions) -> None:
    from nemo.collections import llm

    length = seq_length(opts)
    batch = dict(seq_length=length, micro_batch_size=opts.micro_batch_size,
                 global_batch_size=opts.global_batch_size or recipe.data.global_batch_size)
    if opts.task == "pretrain":
        recipe.model.config.seq_length = length
        recipe.data = run.Config(
            llm.PreTrainingDataModule, paths=mmap_paths_argument(_mmap_pairs(opts)),
            tokenizer=_hf_tokenizer_config(opts), split=PRETRAIN_SPLIT, seed=opts.seed,
            index_mapping_dir=f"{opts.log_dir}/index_mapping", **batch,
        ) if opts.dataset_path else run.Config(MockDataModule, tokenizer=_hf_tokenizer_config(opts), **batch)
        return
    packed = None
    if opts.packed_sequence:
        from nemo.collections.llm.gpt.data.packed_sequence import PackedSequenceSpecs

        packed = run.Config(PackedSequenceSpecs, packed_sequence_size=length)

    # The tokenization the small-model backend shares (BOS added, unlike NeMo's default).
    recipe.data = run.Config(llm.FineTuningDataModule, dataset_root=opts.dataset_path, seed=opts.seed,
                             tokenizer=_hf_tokenizer_config(opts), packed_sequence_specs=packed,
                             dataset_kwargs=dict(NEMO_DATASET_KWARGS), **batch)


def _mmap_pairs(opts: RecipeOptions) -> list[tuple[float, str]]:
    """The blend planning parsed (``opts.data``), else ``opts.dataset_path`` parsed here (factories, scripts)."""
    pairs = getattr(opts.data, "pairs", None)
    return list(pairs) if pairs is not None else parse_mmap_paths(opts.dataset_path)


def mmap_paths_argument(pairs: list[tuple[float, str]]):
    """``PreTrainingDataModule.paths``: one prefix, or the flat weighted list ``["0.3", a, "0.7", b]``."""
    if len(pairs) == 1:
        return pairs[0][1]
    return [item for weight, prefix in pairs for item in (str(weight), prefix)]


def _set_training(recipe: run.Partial, opts: RecipeOptions) -> None:
    from nemo.lightning.pytorch.callbacks import PreemptionCallback

    recipe.trainer.max_steps = opts.max_steps
    if get_model(opts.model).is_debug:
        recipe.trainer.limit_val_batches = 4  # as the small-model backend: seconds, not minutes, on a CPU
    if opts.val_check_interval:
        recipe.trainer.val_check_interval = opts.val_check_interval
    elif recipe.trainer.val_check_interval and recipe.trainer.val_check_interval > opts.max_steps:
        recipe.trainer.val_check_interval = opts.max_steps
    if opts.lr is not None:
        recipe.optim.config.lr = opts.lr
        scheduler = getattr(recipe.optim, "lr_scheduler", None)
        if scheduler is not None and hasattr(scheduler, "min_lr"):
            scheduler.min_lr = opts.lr * 0.1
    scheduler = getattr(recipe.optim, "lr_scheduler", None)
    if scheduler is not None and getattr(scheduler, "warmup_steps", 0) >= opts.max_steps:
        scheduler.warmup_steps = max(1, opts.max_steps // 10)
    callbacks = list(recipe.trainer.callbacks or [])
    callbacks.append(run.Config(PreemptionCallback, sig=int(signal.SIGTERM)))
    recipe.trainer.callbacks = callbacks


def _set_logging_and_resume(recipe: run.Partial, opts: RecipeOptions) -> None:
    from nemo import lightning as nl

    # log_dir/name with resume_if_exists -> no per-launch version folder: <results>/<experiment>.
    recipe.log.log_dir = _abs(opts.results_dir)
    recipe.log.name = opts.experiment
    recipe.log.use_datetime_version = False
    if recipe.log.tensorboard is not None:
        # NeMo roots it at log_dir, beside the experiments: <results>/<experiment>/tb_logs keeps it with its run.
        recipe.log.tensorboard.save_dir = f"{opts.experiment}/tb_logs"
        recipe.log.tensorboard.name = ""
    if opts.ckpt_every_n_steps:
        recipe.log.ckpt.every_n_train_steps = opts.ckpt_every_n_steps
        recipe.log.ckpt.train_time_interval = None  # Lightning refuses both triggers together
    # NeMo's end-of-training `-last` checkpoint is weights-only by default: a relaunch with a larger
    # --max_steps would resume from it and fail on the missing optimizer state.
    recipe.log.ckpt.save_optim_on_train_end = True
    if opts.wandb:
        from lightning.pytorch.loggers import WandbLogger

        recipe.log.wandb = run.Config(WandbLogger, project=opts.wandb_project or opts.experiment,
                                      name=opts.wandb_name or opts.experiment)
    restore = _restore_config(opts)
    recipe.resume = run.Config(nl.AutoResume, resume_if_exists=True, resume_ignore_no_checkpoint=True,
                               restore_config=restore)
    if opts.task != "pretrain" and restore is None:
        # NeMo's finetune takes the tokenizer from the restored model ("model"); from random weights there
        # is none (AttributeError on its vocab_size), so the data module's, the same tokenizer, is used.
        recipe.tokenizer = "data"


def _abs(path: str) -> str:
    from pathlib import Path

    return str(Path(path).expanduser().absolute())


def _restore_config(opts: RecipeOptions):
    """Starting weights when no checkpoint of this experiment exists yet (AutoResume prefers those)."""
    from nemo import lightning as nl

    if opts.nemo_model:
        return run.Config(nl.RestoreConfig, path=_abs(opts.nemo_model), load_optim_state=False)
    if opts.hf_model_id:
        # The import task of the same experiment writes there (local folders too: see import_to_nemo_cache).
        return run.Config(nl.RestoreConfig, path=opts.import_dir)
    if opts.task != "pretrain" and not get_model(opts.model).is_debug:
        return run.Config(nl.RestoreConfig, path=f"nemo://{get_model(opts.model).hf_id}")
    return None


def _set_precision(recipe: run.Partial, opts: RecipeOptions) -> None:
    if not opts.fp8:
        return
    from nemo.collections.llm.recipes.precision import mixed_precision

    recipe.trainer.plugins = getattr(mixed_precision, FP8_RECIPES[opts.fp8_recipe])()


def import_task(opts: RecipeOptions) -> run.Partial:
    """HF -> NeMo import run before training when only ``--hf_model_id`` names the starting weights.

    Writes to NeMo's model cache (``opts.import_dir``, resolved at planning and mounted into containers),
    where the restore path of the training task points.
    Our converter, not ``llm.import_ckpt``: it reads the architecture from the source and runs on
    CPU nodes and without Transformer Engine.
    """
    return run.Partial(import_to_nemo_cache, source=opts.hf_model_id, target=opts.import_dir)


def import_to_nemo_cache(source: str, target: str | None = None) -> str:
    """Import ``source`` into ``target`` (default ``$NEMO_HOME/models/<source>``) unless it is already there."""
    from pathlib import Path

    from nemo.lightning.resume import NEMO_MODELS_CACHE


    target = Path(target) if target else Path(NEMO_MODELS_CACHE) / source.lstrip("/")
    if (target / "context").is_dir() and (target / "weights").is_dir():
        print(f"{source}: already imported at {target}")
        return str(target)
    return str(import_hf(source, target))
