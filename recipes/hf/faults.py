"""The small-model backend's faults (``RECIPES_FAULT``, grammar in :mod:`recipes.core.faults`): a Lightning callback
firing ``kill_after_step``, ``term_after_step`` and ``kill_in_save`` at their exact points."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import lightning.pytorch as pl

from recipes.core.faults import FAULT_ENV, Fault, parse_faults


class FaultInjection(pl.Callback):
    """Fires the faults of ``RECIPES_FAULT``; ``launch`` is set by the launch record at train start."""

    def __init__(self, faults: list[Fault], accumulation: int):
        self.faults, self.accumulation = faults, accumulation
        self.launch: int | None = None

    @classmethod
    def from_env(cls, accumulation: int) -> FaultInjection:
        return cls(parse_faults(os.environ.get(FAULT_ENV, "")), accumulation)

    def _due(self, action: str, step: int) -> bool:
        return any(f.action == action and f.step == step and f.launch == self.launch for f in self.faults)

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx: int) -> None:
        if not self.faults or (batch_idx + 1) % self.accumulation:
            return
        step = trainer.global_step
        if self._due("kill_after_step", step):
            os.kill(os.getpid(), signal.SIGKILL)
        if trainer.is_global_zero and self._due("term_after_step", step):
            os.kill(os.getpid(), signal.SIGTERM)  # handled at once: the checkpoint callback (next) saves this step

    def in_save(self, state_file: Path, step: int) -> None:
        """Called by rank 0 between writing a checkpoint's state file and completing the checkpoint."""
        if self._due("kill_in_save", step):
            os.truncate(state_file, state_file.stat().st_size // 2)  # a write cut half way
            os.kill(os.getpid(), signal.SIGKILL)
