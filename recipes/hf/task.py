"""The small-model backend's task function: train a Hugging Face causal LM with Lightning.

``recipes.hf.recipe.build_recipe`` wraps :func:`train` in a ``nemo_run.Partial``; NeMo-Run runs it
in-process, under torchrun (one process per device, DDP: gloo on CPU, nccl on GPU), or on Slurm.
``python -m recipes.hf.train`` (:mod:`recipes.hf.train`) runs the same recipe without NeMo-Run.

Exit status: 0 when done; ``REQUEUE_EXIT_CODE`` (143, :class:`recipes.hf.config.RequeueExit`) after
SIGTERM/SIGUSR1 made it save a checkpoint and stop early: relaunching the same command resumes from that checkpoint.
"""

from __future__ import annotations

from recipes.core.errors import UsageError
from recipes.hf.config import (LogConfig, MmapDataConfig, ModelConfig, OptimConfig, PeftConfig, ResumeConfig,
                               SFTDataConfig, TrainerConfig, TrainResult)

TASKS = ("pretrain", "sft", "lora", "dora")


def train(model: ModelConfig, data: MmapDataConfig | SFTDataConfig, trainer: TrainerConfig, optim: OptimConfig,
          log: LogConfig, resume: ResumeConfig, peft: PeftConfig | None = None, task: str = "pretrain",
          seed: int = 1234) -> TrainResult:
    """Train (and export) as the recipe says; the run itself is :func:`recipes.hf.fit.fit`."""
    if task not in TASKS:
        raise UsageError(f"task {task!r}: choose one of {', '.join(TASKS)}")
    from recipes.hf import fit  # torch, Lightning, transformers (seconds): loaded by the training process only

    return fit.fit(model, data, trainer, optim, log, resume, peft, task, seed)
