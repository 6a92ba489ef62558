"""Fault injection for tests: ``RECIPES_FAULT`` makes a training process kill or signal itself at an exact point.

A test hook, not a feature: unset (the normal case) it does nothing. Values, comma-separated::

    kill_after_step:3   every rank SIGKILLs itself right after optimizer step 3 (before a checkpoint due at 3)
    term_after_step:3   rank 0 sends itself SIGTERM after step 3: the run saves step 3 and exits 143
    kill_in_save:4      rank 0 SIGKILLs itself while checkpoint 4 is written: half of its state file is on
                        disk in ``.tmp-step=0000004/``, nothing renamed
    kill_in_shard:2     ``recipes.preprocess --shards``: shard 2's process SIGKILLs itself once part of its
                        ``.bin`` is on disk (recipes.data.shards; the launch suffix does not apply)
    kill_at_step:3      Megatron backend (recipes.mcore.faults): every rank SIGKILLs itself once the checkpoint
                        named ``step=3`` is written, before the next step runs

A fault fires in the first launch of a ``log_dir`` (launch 0 of ``launches.jsonl``), or in the launch
named by ``@N`` (``kill_after_step:5@1``): a relaunch with the same environment (a Slurm requeue) runs on.
Unlike a timer, the point is exact, so a test knows which checkpoint the relaunch must resume from.
"""

from __future__ import annotations

import os
import re
import signal
from dataclasses import dataclass
from pathlib import Path

import lightning.pytorch as pl

from recipes.errors import UsageError

FAULT_ENV = "RECIPES_FAULT"
ACTIONS = ("kill_after_step", "term_after_step", "kill_in_save", "kill_in_shard", "kill_at_step")
_FAULT = re.compile(r"(\w+):(\d+)(?:@(\d+))?")


@dataclass(frozen=True)
class Fault:
    action: str
    step: int
    launch: int = 0


def parse_faults(text: str) -> list[Fault]:
    faults = []
    for item in filter(None, (part.strip() for part in text.split(","))):
        match = _FAULT.fullmatch(item)
        if not match or match.group(1) not in ACTIONS:
            raise UsageError(f"{FAULT_ENV}={text!r}: {item!r} is not ACTION:STEP[@LAUNCH] with ACTION one of "
                             f"{', '.join(ACTIONS)}; unset {FAULT_ENV} for a normal run")
        faults.append(Fault(match.group(1), int(match.group(2)), int(match.group(3) or 0)))
    return faults


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
