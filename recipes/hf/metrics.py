"""Training curves of a run: ``<log_dir>/metrics.jsonl`` (this backend) or TensorBoard events (both backends).

Light on purpose (no torch/Lightning): ``recipes.evaluate`` plots these without loading a trainer.
"""

from __future__ import annotations

import json
from pathlib import Path

METRICS_FILE = "metrics.jsonl"
# One row per launch of a run (first launch and every relaunch/requeue), written by rank 0 at train start:
# {"launch", "resumed_from", "resumed_step", "first_step", "max_steps", "world_size", ...}.
LAUNCHES_FILE = "launches.jsonl"
# NeMo/Megatron log the training loss as reduced_train_loss; this backend as train_loss.
TRAIN_TAGS, VAL_TAGS = ("train_loss", "reduced_train_loss"), ("val_loss",)


def _jsonl(path: Path) -> list[dict]:
    rows = []
    if path.is_file():
        for line in path.read_text().splitlines():
            try:
                rows.append(json.loads(line))
            except json.JSONDecodeError:
                continue  # a line cut by a kill
    return rows


def read_launches(log_dir: str | Path) -> list[dict]:
    """The launch records of a run, oldest first."""
    return _jsonl(Path(log_dir) / LAUNCHES_FILE)


def read_metrics(path: str | Path) -> list[dict]:
    """The current curve in a ``metrics.jsonl``: one row per step (and one per validation).

    Rows hold the launch that wrote them; a row of step ``s`` is superseded when a later launch resumed from
    a checkpoint before ``s`` (it trained ``s`` again, or has not reached it yet).
    """
    path = Path(path)
    resumed = {r["launch"]: r.get("resumed_step") or 0 for r in read_launches(path.parent) if "launch" in r}
    rows: dict[tuple, dict] = {}
    for row in _jsonl(path):
        step, launch = row.get("step", 0), row.get("launch")
        if launch is not None and any(later > launch and at < step for later, at in resumed.items()):
            continue
        rows[(row.get("step"), "val_loss" in row)] = row
    return sorted(rows.values(), key=lambda r: (r.get("step", 0), "val_loss" in r))


def load_curves(log_dir: str | Path) -> dict[str, list[tuple[int, float]]]:
    """``{"train_loss": [(step, value), ...], "val_loss": [...]}`` from a run directory."""
    log_dir = Path(log_dir)
    rows = read_metrics(log_dir / METRICS_FILE)
    if rows:
        return {key: [(r["step"], r[key]) for r in rows if key in r] for key in ("train_loss", "val_loss")}
    return _tensorboard_curves(log_dir)


def _tensorboard_curves(log_dir: Path) -> dict[str, list[tuple[int, float]]]:
    curves: dict[str, dict[int, float]] = {"train_loss": {}, "val_loss": {}}
    event_files = sorted(log_dir.rglob("events.out.tfevents.*"))
    if not event_files:
        return {key: [] for key in curves}
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    for event_file in event_files:
        events = EventAccumulator(str(event_file), size_guidance={"scalars": 0})
        events.Reload()
        tags = set(events.Tags().get("scalars", []))
        for key, candidates in (("train_loss", TRAIN_TAGS), ("val_loss", VAL_TAGS)):
            for tag in candidates:
                if tag in tags:
                    curves[key].update({int(e.step): float(e.value) for e in events.Scalars(tag)})
                    break
    return {key: sorted(values.items()) for key, values in curves.items()}
