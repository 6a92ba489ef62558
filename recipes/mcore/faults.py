"""``RECIPES_FAULT=kill_at_step:N`` for the Megatron backend: a test hook that SIGKILLs the training at an exact point.

Inert unless the variable names a ``kill_at_step`` fault (parsed by :mod:`recipes.core.faults`, which documents
every action). NeMo names a checkpoint by the step it logged last (``...-step=N-...``): the state after
N + 1 optimizer steps, saved in ``on_train_batch_end`` by the ModelCheckpoint callback, which Lightning runs
after every other callback. So the kill happens at the start of the next batch, once that save has
returned (saving is synchronous here): what a relaunch must resume from is exactly ``step=N``.

It fires only in a launch that started from scratch (global step 0): the relaunch, with the same
environment, resumes and runs on, as after a real crash and a Slurm requeue.
"""

from __future__ import annotations

import os
import signal

import lightning.pytorch as pl

from recipes.core.faults import FAULT_ENV, parse_faults

ACTION = "kill_at_step"


class KillAtStep(pl.Callback):
    def __init__(self, steps: set[int]):
        self.steps = steps
        self.fresh = False

    def on_train_start(self, trainer, pl_module) -> None:
        self.fresh = trainer.global_step == 0

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx: int) -> None:
        # global_step counts finished optimizer steps: N + 1 once checkpoint step=N is on disk.
        if self.fresh and trainer.global_step - 1 in self.steps:
            print(f"recipes: {FAULT_ENV}: SIGKILL after checkpoint step={trainer.global_step - 1}", flush=True)
            os.kill(os.getpid(), signal.SIGKILL)


def callbacks_from_env() -> list[pl.Callback]:
    """The fault callback ``RECIPES_FAULT`` asks for, or none (the normal case)."""
    steps = {f.step for f in parse_faults(os.environ.get(FAULT_ENV, "")) if f.action == ACTION}
    return [KillAtStep(steps)] if steps else []
