"""The Megatron recipes' target functions: NeMo's ``llm.pretrain`` / ``llm.finetune``, after the stack checks.

A recipe built by ``recipes.megatron.recipe`` is ``run.Partial(recipes.mcore.train.pretrain, model=..., data=...,
trainer=..., log=..., resume=..., optim=...)`` with exactly NeMo's arguments, so dotted overrides and
NeMo-Run see NeMo's recipe shape. In the training process these functions apply the adapters the
installed stack needs (:mod:`recipes.mcore.compat`) and, when the trainer runs on the CPU
(``--backend megatron --cpu``), enter :func:`recipes.mcore.cpu.cpu_training`; then they call NeMo.
"""

from __future__ import annotations

import contextlib
import os
import sys
from typing import Any, Optional

from recipes.core.faults import FAULT_ENV
from recipes.mcore import compat
from recipes.mcore.cpu import cpu_training
from recipes.mcore.faults import callbacks_from_env


def _on_cpu(trainer) -> bool:
    from lightning.pytorch.accelerators import CPUAccelerator

    return isinstance(getattr(trainer, "accelerator", None), CPUAccelerator)


def _prepared(trainer, optim):
    for name in compat.apply(optim):
        print(f"recipes: stack adapter applied: {name}", file=sys.stderr, flush=True)
    _add_fault_hooks(trainer)
    if _on_cpu(trainer):
        return cpu_training()
    return contextlib.nullcontext()


def _add_fault_hooks(trainer) -> None:
    """RECIPES_FAULT (tests only; recipes.mcore.faults): nothing is added when it is unset."""
    if os.environ.get(FAULT_ENV):
        trainer.callbacks[0:0] = callbacks_from_env()


def pretrain(model: Any, data: Any, trainer: Any, log: Any = None, resume: Any = None, optim: Any = None):
    """``nemo.collections.llm.pretrain`` with this library's stack checks (see the module docstring)."""
    from nemo.collections import llm

    with _prepared(trainer, optim):
        return llm.pretrain(model=model, data=data, trainer=trainer, log=log, resume=resume, optim=optim)


def finetune(model: Any, data: Any, trainer: Any, log: Any = None, resume: Any = None, optim: Any = None,
             peft: Any = None, tokenizer: Optional[str] = "model"):
    """``nemo.collections.llm.finetune`` with this library's stack checks (see the module docstring)."""
    from nemo.collections import llm

    with _prepared(trainer, optim):
        return llm.finetune(model=model, data=data, trainer=trainer, log=log, resume=resume, optim=optim,
                            peft=peft, tokenizer=tokenizer)
