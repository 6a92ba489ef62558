"""The small-model backend's training run on Lightning: the body of :func:`recipes.hf.task.train`.

Imports torch, Lightning and transformers at module level: only the training process loads it.
"""

from __future__ import annotations

import os
import warnings
from dataclasses import dataclass
from pathlib import Path

import lightning.pytorch as pl
import torch
from lightning.fabric.plugins.environments import LightningEnvironment, SLURMEnvironment, TorchElasticEnvironment
from lightning.pytorch.callbacks import TQDMProgressBar
from lightning.pytorch.loggers import TensorBoardLogger

from recipes.core.errors import UsageError
from recipes.hf.callbacks import LaunchRecord, MetricsFile, Throughput, interactive
from recipes.hf.checkpointing import StepCheckpoint, last_checkpoint, remove_incomplete
from recipes.hf.config import (LogConfig, MmapDataConfig, ModelConfig, OptimConfig, PeftConfig, RequeueExit,
                               ResumeConfig, SFTDataConfig, TrainerConfig, TrainResult)
from recipes.hf.datamodule import StepDataModule, gradient_accumulation
from recipes.hf.faults import FaultInjection
from recipes.hf.modeling import build_model, export_hf, load_tokenizer_for
from recipes.hf.module import CausalLMModule


@dataclass
class World:
    devices: int
    num_nodes: int
    accelerator: str
    precision: str
    strategy: str

    @property
    def size(self) -> int:
        return self.devices * self.num_nodes


def resolve_world(trainer: TrainerConfig) -> World:
    """Devices from the launcher: torchrun's LOCAL_WORLD_SIZE, srun's task layout (the recipe's values), else local."""
    use_gpu = trainer.accelerator in ("auto", "gpu", "cuda") and torch.cuda.is_available()
    if "LOCAL_WORLD_SIZE" in os.environ:
        devices = int(os.environ["LOCAL_WORLD_SIZE"])
        num_nodes = max(1, int(os.environ.get("WORLD_SIZE", devices)) // devices)
    elif "SLURM_NTASKS" in os.environ and int(os.environ["SLURM_NTASKS"]) > 1:
        devices, num_nodes = trainer.devices, trainer.num_nodes  # srun starts one task per device
    else:
        devices = min(trainer.devices, torch.cuda.device_count()) if use_gpu else 1
        num_nodes = 1
    precision = trainer.precision
    if precision is None:
        precision = "bf16-mixed" if use_gpu and torch.cuda.is_bf16_supported() else "32-true"
    strategy = "ddp" if devices * num_nodes > 1 else "auto"
    return World(max(1, devices), num_nodes, "gpu" if use_gpu else "cpu", precision, strategy)


def cluster_plugins() -> list:
    """The launcher, named explicitly: torchrun (also inside a Slurm allocation), srun, or none.

    Under srun, Lightning's own auto-requeue is off: it would `scontrol requeue` on SIGUSR1 by itself,
    while requeueing is left to NeMo-Run's script and our exit code. Naming the environment also keeps
    Lightning from warning about an unused `srun` on machines that have one.
    """
    if TorchElasticEnvironment.detect():
        return [TorchElasticEnvironment()]
    if "SLURM_NTASKS" in os.environ and os.environ.get("SLURM_JOB_NAME") not in ("bash", "interactive"):
        return [SLURMEnvironment(auto_requeue=False)]
    return [LightningEnvironment()]


def fit(model: ModelConfig, data: MmapDataConfig | SFTDataConfig, trainer: TrainerConfig, optim: OptimConfig,
          log: LogConfig, resume: ResumeConfig, peft: PeftConfig | None = None, task: str = "pretrain",
          seed: int = 1234) -> TrainResult:
    world = resolve_world(trainer)
    accumulation = gradient_accumulation(data.global_batch_size, data.micro_batch_size, world.size)
    pl.seed_everything(seed, workers=True, verbose=False)
    tokenizer = load_tokenizer_for(model)
    datamodule = StepDataModule(data, tokenizer, seed, trainer.max_steps, trainer.limit_val_batches)
    module = CausalLMModule(build_model(model, seed, peft), optim, trainer.max_steps, accumulation, seed)
    ckpt_path, removed = _resume_path(log, resume)
    pl_trainer, ckpt = _lightning_trainer(trainer, log, world, accumulation, datamodule.has_validation(world.size),
                                          removed)
    with warnings.catch_warnings():
        # Lightning warns that a mid-epoch resume of a plain DataLoader is unreliable; ours restarts at
        # the exact batch because its sampler is a function of the restored global step.
        warnings.filterwarnings("ignore", message=".*resuming from a checkpoint that ended before the epoch.*")
        pl_trainer.fit(module, datamodule=datamodule, ckpt_path=ckpt_path)
    if ckpt.stopped_by_signal and pl_trainer.global_step < trainer.max_steps:
        raise RequeueExit()
    exported = export_hf(module.model, tokenizer, log.log_dir, model, seed) if pl_trainer.is_global_zero else {}
    pl_trainer.strategy.barrier("hf_export")
    metrics = pl_trainer.callback_metrics
    return TrainResult(pl_trainer.global_step, module.step_metrics.get("train_loss"),
                       float(metrics["val_loss"]) if "val_loss" in metrics else None,
                       str(ckpt.last_saved) if ckpt.last_saved else None, exported)


def _resume_path(log: LogConfig, resume: ResumeConfig) -> tuple[str | None, list[str]]:
    """The checkpoint to resume from, and the interrupted saves removed (rank 0 removes them)."""
    ckpt_dir = Path(log.log_dir) / "checkpoints"
    removed = []
    if int(os.environ.get("RANK", os.environ.get("SLURM_PROCID", "0"))) == 0:
        removed = remove_incomplete(ckpt_dir)  # saves cut by a kill; the other ranks only read complete ones
    if not resume.resume_if_exists:
        return None, removed
    path = last_checkpoint(ckpt_dir)
    if path is None and not resume.resume_ignore_no_checkpoint:
        raise UsageError(f"resume.resume_if_exists: no complete checkpoint in {ckpt_dir}; "
                         "set resume.resume_ignore_no_checkpoint=true to start from scratch")
    return (str(path) if path else None), removed  # Lightning logs "Restoring states from the checkpoint path at ..."


def _lightning_trainer(cfg: TrainerConfig, log: LogConfig, world: World, accumulation: int, validate: bool,
                       removed_incomplete: list[str]):
    faults = FaultInjection.from_env(accumulation)  # RECIPES_FAULT: a test hook, inert when unset
    launch = LaunchRecord(log.log_dir, removed_incomplete, faults)
    ckpt = StepCheckpoint(str(Path(log.log_dir) / "checkpoints"), log.ckpt.every_n_train_steps,
                          log.ckpt.keep_last_n, accumulation, faults)
    # Order matters: the launch is numbered first; a fault fires before the step's checkpoint.
    metrics = MetricsFile(log.log_dir, accumulation, cfg.log_every_n_steps, launch)
    callbacks = [launch, Throughput(accumulation), metrics, faults, ckpt]
    progress_bar = cfg.enable_progress_bar and interactive()  # log files get one line per step instead
    if progress_bar:
        callbacks.append(TQDMProgressBar(refresh_rate=1))
    val_every = min(cfg.val_check_interval, cfg.max_steps)
    pl_trainer = pl.Trainer(
        accelerator=world.accelerator, devices=world.devices, num_nodes=world.num_nodes, strategy=world.strategy,
        precision=world.precision, max_steps=cfg.max_steps, max_epochs=-1,
        accumulate_grad_batches=accumulation, gradient_clip_val=cfg.gradient_clip_val or None,
        val_check_interval=val_every * accumulation,  # Lightning counts micro-batches
        check_val_every_n_epoch=None, limit_val_batches=cfg.limit_val_batches if validate else 0,
        num_sanity_val_steps=0, log_every_n_steps=cfg.log_every_n_steps, use_distributed_sampler=False,
        logger=TensorBoardLogger(save_dir=log.log_dir, name="tb_logs", version=""),
        enable_checkpointing=False, enable_progress_bar=progress_bar, enable_model_summary=False,
        callbacks=callbacks, default_root_dir=log.log_dir, plugins=cluster_plugins())
    return pl_trainer, ckpt
