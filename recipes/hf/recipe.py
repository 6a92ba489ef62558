"""RecipeOptions -> ``nemo_run.Partial(recipes.hf.task.train, ...)`` for the small-model backend.

The Partial has NeMo's recipe shape (``trainer``, ``data``, ``optim.config``, ``optim.lr_scheduler``,
``log``, ``resume``, ``peft``, ``model``) so the same dotted overrides work on both backends.
"""

from __future__ import annotations

import os

import nemo_run as run

from recipes.config.models import ModelSpec, get_model
from recipes.config.options import RecipeOptions
from recipes.core.errors import UsageError
from recipes.data.tokenizer import in_hf_cache
from recipes.hf import config as C
from recipes.hf.task import train

# Real-model defaults follow NeMo's Llama recipes; the tiny debug model trains fast on a CPU instead.
REAL_LR = {"pretrain": 3e-4, "sft": 5e-6, "lora": 1e-4, "dora": 1e-4}
TINY_LR = {"pretrain": 1e-3, "sft": 1e-3, "lora": 2e-3, "dora": 2e-3}
NEMO_WARMUP = {"pretrain": 2000, "sft": 50, "lora": 50, "dora": 50}
NEMO_GBS = {"pretrain": 512, "sft": 128, "lora": 128, "dora": 128}


def build_recipe(opts: RecipeOptions) -> run.Partial:
    if opts.task not in REAL_LR:
        raise UsageError(f"--task {opts.task!r}: the hf backend trains {', '.join(REAL_LR)}")
    spec = get_model(opts.model)
    tiny = spec.is_debug
    seq_length = opts.seq_length or spec.default_seq_length
    gbs = opts.global_batch_size or (opts.micro_batch_size * opts.world_size if tiny else NEMO_GBS[opts.task])
    val_every = opts.val_check_interval or opts.max_steps
    lr = opts.lr or (TINY_LR if tiny else REAL_LR)[opts.task]
    return run.Partial(
        train,
        model=model_config(opts, spec),
        data=_data_config(opts, seq_length, gbs),
        trainer=run.Config(C.TrainerConfig, max_steps=opts.max_steps, val_check_interval=val_every,
                           limit_val_batches=4 if tiny else 32, log_every_n_steps=1 if tiny else 10,
                           devices=opts.num_gpus, num_nodes=opts.num_nodes),
        optim=run.Config(
            C.OptimConfig,
            config=run.Config(C.OptimizerConfig, lr=lr, min_lr=lr * 0.1,
                              weight_decay=0.1 if opts.task == "pretrain" else 0.01),
            lr_scheduler=run.Config(C.SchedulerConfig,
                                    warmup_steps=min(NEMO_WARMUP[opts.task], opts.max_steps // 10))),
        log=run.Config(C.LogConfig, log_dir=opts.log_dir,
                       ckpt=run.Config(C.CheckpointConfig, every_n_train_steps=opts.ckpt_every_n_steps or val_every)),
        resume=run.Config(C.ResumeConfig, resume_if_exists=True, resume_ignore_no_checkpoint=True),
        peft=_peft_config(opts, tiny),
        task=opts.task,
        seed=opts.seed,
    )


def model_config(opts: RecipeOptions, spec: ModelSpec) -> run.Config:
    """Weights: --nemo_model (only an HF directory), --hf_model_id (directory or cached hub id), or the tiny model."""
    path = None
    if opts.nemo_model:
        if not os.path.isfile(os.path.join(opts.nemo_model, "config.json")):
            raise UsageError(f"--nemo_model: {opts.nemo_model} is not a Hugging Face model directory (no config.json); "
                             "the hf backend loads HF weights: pass --hf_model_id DIR or use --backend megatron")
        path = opts.nemo_model
    elif opts.hf_model_id and not (spec.is_debug and opts.hf_model_id == spec.hf_id):
        path = _check_hf_source(opts.hf_model_id)
    elif not spec.is_debug:
        path = _check_hf_source(spec.hf_id)
    return run.Config(C.ModelConfig, name=spec.name, path=path, tokenizer=opts.tokenizer)


def _check_hf_source(source: str) -> str:
    if os.path.isdir(source):
        if not os.path.isfile(os.path.join(source, "config.json")):
            raise UsageError(f"--hf_model_id: {source} has no config.json; pass a Hugging Face causal-LM directory "
                             "(save_pretrained output)")
        return os.path.abspath(source)
    if source.startswith(("/", "./", "../", "~")) or not in_hf_cache(source, "config.json"):
        raise UsageError(f"--hf_model_id: {source} is neither a local model directory nor in the HF cache; "
                         f"download it (huggingface-cli download {source} --local-dir DIR) and pass --hf_model_id DIR")
    return source


def _data_config(opts: RecipeOptions, seq_length: int, gbs: int) -> run.Config:
    if not opts.dataset_path:
        kind = "an mmap prefix (python -m recipes.preprocess)" if opts.task == "pretrain" else \
            "a folder with training.jsonl/validation.jsonl (python -m recipes.prepare_sft)"
        raise UsageError(f"--dataset_path: required by the hf backend; pass {kind}")
    common = dict(seq_length=seq_length, global_batch_size=gbs, micro_batch_size=opts.micro_batch_size)
    if opts.task == "pretrain":
        return run.Config(C.MmapDataConfig, paths=opts.dataset_path, **common)
    return run.Config(C.SFTDataConfig, dataset_root=opts.dataset_path, **common)


def _peft_config(opts: RecipeOptions, tiny: bool) -> run.Config | None:
    if opts.task not in ("lora", "dora"):
        return None
    # `qlora` is read when RecipeOptions has it (the CLI's --qlora); peft.quantize_4bit=true works too.
    return run.Config(C.PeftConfig, method=opts.task, dim=8, alpha=16,  # NeMo's LoRA recipe (and tutorial 004)
                      quantize_4bit=bool(getattr(opts, "qlora", False)))
