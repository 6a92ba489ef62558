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
    from recipes.config.options import RecipeOptions

    fields = {**TINY, "task": task, "experiment": experiment or f"{task}_run", "results_dir": str(results_dir),
              "dataset_path": str(dataset), **changes}
    return RecipeOptions(**fields)


def train_in_process(opts, *overrides: str):
    """Build the recipe exactly as the CLI does and run it here."""
    import fiddle as fdl

    from recipes.hf.recipe import build_recipe
    from recipes.config.overrides import apply_overrides

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


def launch_records(log_dir: str | Path) -> list[dict]:
    """The run's ``launches.jsonl``, parsed here (not with the library's reader)."""
    lines = (Path(log_dir) / "launches.jsonl").read_text().splitlines()
    records = [json.loads(line) for line in lines]
    assert [r["launch"] for r in records] == list(range(len(records))), records
    return records


def trained_steps(log_dir: str | Path) -> dict[int, list[int]]:
    """``{launch: [steps it trained, in order]}`` from the raw rows of ``metrics.jsonl`` (every row, none merged)."""
    steps: dict[int, list[int]] = {}
    for line in (Path(log_dir) / "metrics.jsonl").read_text().splitlines():
        row = json.loads(line)
        if "train_loss" in row:
            steps.setdefault(row["launch"], []).append(row["step"])
    return steps


def exported_weights(log_dir: str | Path) -> dict:
    from safetensors.torch import load_file

    folder = next(p for p in (Path(log_dir) / "hf_adapter", Path(log_dir) / "hf_model") if p.is_dir())
    files = list(folder.glob("*.safetensors"))
    assert files, folder
    return {k: v for f in files for k, v in load_file(f).items()}


def assert_same_run(opts, result, base_opts, steps: int, rel: float = 1e-6) -> None:
    """The run in ``opts.log_dir`` (``result``: its last launch) equals the uninterrupted one in ``base_opts.log_dir``:
    every step's loss (the current curve) and the exported weights."""
    import pytest
    import torch

    assert result.global_step == steps
    losses, base_losses = metric_rows(opts.log_dir, "train_loss"), metric_rows(base_opts.log_dir, "train_loss")
    assert sorted(losses) == sorted(base_losses) == list(range(1, steps + 1))
    for step in base_losses:
        assert losses[step] == pytest.approx(base_losses[step], rel=rel, abs=rel), (step, losses, base_losses)
    assert result.train_loss == pytest.approx(base_losses[steps], rel=rel, abs=rel)
    got, want = exported_weights(opts.log_dir), exported_weights(base_opts.log_dir)
    assert got.keys() == want.keys()
    for name in want:
        torch.testing.assert_close(got[name], want[name], rtol=rel, atol=rel, msg=name)
