"""Helpers for the small-model backend tests (a unique module name: several suites have a conftest)."""

from __future__ import annotations

import json
import os
from pathlib import Path

from testlib import REPO

# Small enough for 2 CPU cores: 32-token samples, 2 micro-batches of 2 per step (gradient accumulation 2).
TINY = dict(model="tiny", backend="hf", num_gpus=1, max_steps=6, seq_length=32, global_batch_size=4,
            micro_batch_size=2, val_check_interval=3, seed=1234)
QUIET = ["trainer.enable_progress_bar=false"]


def options(results_dir: Path, task: str, dataset: Path | str, experiment: str | None = None, **changes):
    from recipes.options import RecipeOptions

    fields = {**TINY, "task": task, "experiment": experiment or f"{task}_run", "results_dir": str(results_dir),
              "dataset_path": str(dataset), **changes}
    return RecipeOptions(**fields)


def train_in_process(opts, *overrides: str):
    """Build the recipe exactly as the CLI does and run it here."""
    import fiddle as fdl

    from recipes.hf.recipe import build_recipe
    from recipes.overrides import apply_overrides

    return fdl.build(apply_overrides(build_recipe(opts), QUIET + list(overrides)))()


def options_json(opts) -> str:
    import dataclasses

    return json.dumps(dataclasses.asdict(opts))


def subprocess_env() -> dict:
    env = {**os.environ, "PYTHONWARNINGS": "ignore"}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
    return env


def metric_rows(log_dir: str | Path, key: str) -> dict[int, float]:
    from recipes.hf.metrics import read_metrics

    return {row["step"]: row[key] for row in read_metrics(Path(log_dir) / "metrics.jsonl") if key in row}
