"""Atomic step checkpoints, auto-resume, and SIGTERM/SIGUSR1 -> save and exit for requeue.

Layout under ``<log_dir>/checkpoints/``::

    step=0000010/state.ckpt   Lightning checkpoint: weights (PEFT: adapter only), optimizer, LR scheduler,
                              loop counters (the data position is a function of the step), RNG states
    step=0000010/meta.json    written last; a directory without it is not a checkpoint
    .tmp-step=0000020/        a save in progress (or cut by a kill): ignored and removed on relaunch

A save goes to ``.tmp-step=N``, is fsync'ed, then renamed to ``step=N``: a rename is atomic, so a
kill at any moment leaves either the previous or the new checkpoint complete.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import threading
from pathlib import Path

import lightning.pytorch as pl

from recipes.hf.config import REQUEUE_EXIT_CODE  # noqa: F401  (re-exported: the exit status callers test)

STATE_FILE, META_FILE, TMP_PREFIX = "state.ckpt", "meta.json", ".tmp-"
_STEP_DIR = re.compile(r"^step=(\d+)$")


def step_dirname(step: int) -> str:
    return f"step={step:07d}"


def complete_checkpoints(ckpt_dir: str | Path) -> list[tuple[int, Path]]:
    """(step, directory) of every complete checkpoint, oldest first."""
    ckpt_dir = Path(ckpt_dir)
    if not ckpt_dir.is_dir():
        return []
    found = []
    for child in ckpt_dir.iterdir():
        match = _STEP_DIR.match(child.name)
        if match and (child / META_FILE).is_file() and (child / STATE_FILE).is_file():
            found.append((int(match.group(1)), child))
    return sorted(found)


def last_checkpoint(ckpt_dir: str | Path) -> Path | None:
    found = complete_checkpoints(ckpt_dir)
    return found[-1][1] / STATE_FILE if found else None


def remove_incomplete(ckpt_dir: str | Path) -> list[str]:
    """Delete the saves a kill interrupted; their names, for the launch record."""
    removed = sorted(Path(ckpt_dir).glob(TMP_PREFIX + "*"))
    for child in removed:
        shutil.rmtree(child, ignore_errors=True)
    return [child.name for child in removed]


def _fsync_path(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class StepCheckpoint(pl.Callback):
    """Save every ``every_n_steps`` optimizer steps, at the end, and at the first step end after a signal."""

    def __init__(self, ckpt_dir: str, every_n_steps: int, keep_last_n: int, accumulation: int, faults=None):
        self.ckpt_dir, self.every = Path(ckpt_dir), max(1, every_n_steps)
        self.keep_last_n, self.accumulation, self.faults = max(1, keep_last_n), accumulation, faults
        self.signal_received: int | None = None
        self.stopped_by_signal = False
        self._last_saved = -1
        self._in_batch_end = False

    @property
    def last_saved(self) -> Path | None:
        return self.ckpt_dir / step_dirname(self._last_saved) if self._last_saved >= 0 else None

    def on_train_start(self, trainer, pl_module) -> None:
        # Installed after Lightning's own handlers (which would stop mid-accumulation without saving);
        # Lightning puts the previous handlers back at teardown.
        if threading.current_thread() is threading.main_thread():  # Python only allows it there
            for signum in (signal.SIGTERM, signal.SIGUSR1):
                signal.signal(signum, self._on_signal)
        self._last_saved = trainer.global_step if last_checkpoint(self.ckpt_dir) else -1

    def _on_signal(self, signum, frame) -> None:
        self.signal_received = signum

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx: int) -> None:
        if (batch_idx + 1) % self.accumulation:
            return  # mid-step: a checkpoint must fall on an optimizer-step boundary
        # Every rank must agree to stop, or the ranks that go on would hang in the next collective.
        stop = trainer.strategy.reduce_boolean_decision(self.signal_received is not None, all=False)
        if stop or trainer.global_step % self.every == 0:
            self._in_batch_end = True
            try:
                self.save(trainer)
            finally:
                self._in_batch_end = False
        if stop:
            self.stopped_by_signal = True
            trainer.should_stop = True

    def on_load_checkpoint(self, trainer, pl_module, checkpoint: dict) -> None:
        # Runs before Lightning restores its loops. They count micro-batches, and a step holds GBS / (MBS x world)
        # of them: restate the counters for this launch's world size, so a checkpoint of 1 rank resumes on 2.
        batches = checkpoint["global_step"] * self.accumulation
        progress = checkpoint["loops"]["fit_loop"]["epoch_loop.batch_progress"]
        for part in ("total", "current"):
            progress[part].update(ready=batches, started=batches, processed=batches, completed=batches)

    def on_save_checkpoint(self, trainer, pl_module, checkpoint: dict) -> None:
        if not self._in_batch_end:
            return
        # Saved from on_train_batch_end, before Lightning books the batch as completed and the step as
        # logged. Book them, or a restart would replay one micro-batch and misalign gradient accumulation.
        loop = checkpoint["loops"]["fit_loop"]
        for part in ("total", "current"):
            progress = loop["epoch_loop.batch_progress"][part]
            progress["completed"] = progress["processed"]
        loop["epoch_loop.state_dict"]["_batches_that_stepped"] += 1

    def on_train_end(self, trainer, pl_module) -> None:
        if not self.stopped_by_signal:
            self.save(trainer)

    def save(self, trainer) -> None:
        step = trainer.global_step
        if step == self._last_saved:
            return
        final = self.ckpt_dir / step_dirname(step)
        tmp = self.ckpt_dir / (TMP_PREFIX + final.name)
        if trainer.is_global_zero:
            shutil.rmtree(tmp, ignore_errors=True)
            tmp.mkdir(parents=True)
        trainer.strategy.barrier("hf_ckpt_mkdir")
        trainer.save_checkpoint(tmp / STATE_FILE)  # collective; rank 0 writes
        if trainer.is_global_zero:
            if self.faults is not None:
                self.faults.in_save(tmp / STATE_FILE, step)  # RECIPES_FAULT=kill_in_save:N (tests)
            (tmp / META_FILE).write_text(json.dumps({"step": step, "world_size": trainer.world_size}))
            for path in (tmp / STATE_FILE, tmp / META_FILE, tmp):
                _fsync_path(path)
            replaced = self.ckpt_dir / f"{TMP_PREFIX}old-{final.name}"
            if final.exists():  # the same step saved by an earlier launch (resume off)
                final.rename(replaced)  # a .tmp- name: cleaned up if a kill comes before the rmtree
            tmp.rename(final)
            shutil.rmtree(replaced, ignore_errors=True)
            _fsync_path(self.ckpt_dir)
            for _, old in complete_checkpoints(self.ckpt_dir)[:-self.keep_last_n]:
                shutil.rmtree(old, ignore_errors=True)
        trainer.strategy.barrier("hf_ckpt_done")
        self._last_saved = step
