"""Callbacks: tokens/s in the progress bar, ``metrics.jsonl`` (+ a plain log line) for curves and Slurm logs,
and ``launches.jsonl``: which checkpoint each launch resumed from and the first step it trained."""

from __future__ import annotations

import json
import os
import sys
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import lightning.pytorch as pl

from recipes.hf.metrics import LAUNCHES_FILE, METRICS_FILE, read_launches


def interactive() -> bool:
    """A person watches stdout. Not in a Slurm job: NeMo-Run's SLURM_UNBUFFEREDIO makes stdout a pty there."""
    return sys.stdout.isatty() and "SLURM_JOB_ID" not in os.environ


class Throughput(pl.Callback):
    """Global tokens/s over the last optimizer step (smoothed), shown next to the bar's ETA."""

    def __init__(self, accumulation: int, smoothing: float = 0.3):
        self.accumulation, self.smoothing = accumulation, smoothing
        self._tokens, self._start, self.tokens_per_s = 0, None, None

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx: int) -> None:
        if batch_idx % self.accumulation == 0:
            self._tokens, self._start = 0, time.perf_counter()

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx: int) -> None:
        self._tokens += int(batch["attention_mask"].sum()) * trainer.world_size
        if (batch_idx + 1) % self.accumulation or self._start is None:
            return
        step_time = max(time.perf_counter() - self._start, 1e-9)
        rate, previous = self._tokens / step_time, self.tokens_per_s
        self.tokens_per_s = rate if previous is None else self.smoothing * rate + (1 - self.smoothing) * previous
        pl_module.step_metrics.update(tokens_per_s=self.tokens_per_s, step_time_s=step_time)
        pl_module.log("tokens_per_s", self.tokens_per_s, on_step=True, on_epoch=False, prog_bar=True,
                      batch_size=1, rank_zero_only=True)


class LaunchRecord(pl.Callback):
    """Rank 0 appends this launch to ``launches.jsonl`` once the checkpoint is restored; every rank learns its number.

    ``removed_incomplete``: the interrupted saves (``.tmp-*``) this launch deleted before resuming.
    """

    def __init__(self, log_dir: str, removed_incomplete: list[str], faults=None):
        self.path = Path(log_dir) / LAUNCHES_FILE
        self.removed_incomplete, self.faults = removed_incomplete, faults
        self.record: dict = {}

    def on_train_start(self, trainer, pl_module) -> None:
        record = None
        if trainer.is_global_zero:
            resumed = trainer.ckpt_path is not None
            record = {"launch": 1 + max((r.get("launch", -1) for r in read_launches(self.path.parent)), default=-1),
                      "resumed_from": str(trainer.ckpt_path) if resumed else None,
                      "resumed_step": trainer.global_step if resumed else None,
                      "first_step": trainer.global_step + 1, "max_steps": trainer.max_steps,
                      "world_size": trainer.world_size, "removed_incomplete": self.removed_incomplete,
                      "slurm_restart_count": _slurm_restart_count(), "pid": os.getpid(),
                      "time": datetime.now(timezone.utc).isoformat(timespec="seconds")}
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with open(self.path, "a") as handle:
                handle.write(json.dumps(record) + "\n")
        self.record = trainer.strategy.broadcast(record, src=0)
        if self.faults is not None:
            self.faults.launch = self.record["launch"]


def _slurm_restart_count() -> int | None:
    """The attempt of a Slurm job (Slurm sets SLURM_RESTART_COUNT only from the first requeue on); None outside."""
    if "SLURM_JOB_ID" not in os.environ:
        return None
    value = os.environ.get("SLURM_RESTART_COUNT", "0")
    return int(value) if value.isdigit() else None


class MetricsFile(pl.Callback):
    """Rank 0 appends a ``{"step", "launch", "train_loss", "lr", ...}`` row per step and ``{"step", "val_loss"}`` rows.

    Append-only: a resumed run's rows follow the earlier launches' (``read_metrics`` gives the current curve),
    so the file shows which launch trained each step. The plain log line comes every ``log_every_n_steps``.
    """

    def __init__(self, log_dir: str, accumulation: int, log_every_n_steps: int, launch: LaunchRecord):
        self.path = Path(log_dir) / METRICS_FILE
        self.accumulation, self.every, self.launch = accumulation, max(1, log_every_n_steps), launch
        self._started = None

    def on_train_start(self, trainer, pl_module) -> None:
        self._started = (time.perf_counter(), trainer.global_step)

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx: int) -> None:
        step = trainer.global_step
        if (batch_idx + 1) % self.accumulation:
            return
        metrics = dict(pl_module.step_metrics)
        self._write({"step": step, **metrics}, trainer)
        if step % self.every and step != trainer.max_steps:
            return
        if trainer.is_global_zero and not (interactive() and trainer.progress_bar_callback):
            # For log files (Slurm): the interactive bar already shows the same figures.
            print(self._log_line(step, trainer.max_steps, metrics), flush=True)

    def on_validation_end(self, trainer, pl_module) -> None:
        if "val_loss" in trainer.callback_metrics and not trainer.sanity_checking:
            self._write({"step": trainer.global_step, "val_loss": float(trainer.callback_metrics["val_loss"])},
                        trainer)

    def _write(self, row: dict, trainer) -> None:
        if trainer.is_global_zero:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with open(self.path, "a") as handle:
                handle.write(json.dumps({**row, "launch": self.launch.record.get("launch")}) + "\n")

    def _log_line(self, step: int, max_steps: int, metrics: dict) -> str:
        started, first_step = self._started
        per_step = (time.perf_counter() - started) / max(1, step - first_step)
        eta = timedelta(seconds=int(per_step * (max_steps - step)))
        shown = [f"{k} {metrics[k]:.4g}" for k in ("train_loss", "lr", "tokens_per_s") if k in metrics]
        parts = [f"step {step}/{max_steps}", *shown, f"eta {eta}"]
        return " | ".join(parts)
