"""Run identity: what an experiment directory's checkpoints were trained as, so auto-resume never resumes the wrong run.

``RESULTS_DIR/EXPERIMENT/identity/run.json`` records, at the first launch, what defines the run: task, model,
backend, PEFT scheme (in the task), base weights, dataset, tokenizer, sequence length, parallel
layout. A relaunch (or a Slurm requeue, which reruns the same script) that matches resumes; one that
differs is refused before anything runs, naming what differs and the two ways on: ``-E NEW_NAME``,
or ``--restart`` (the old directory is kept, renamed ``EXPERIMENT.old-<time>``). ``--max_steps``,
the learning rate and the batch size are not part of it: raising ``--max_steps`` continues a run.

The record sits in a folder of its own: NeMo's logger moves every *file* of the experiment directory
into ``run_<N>/`` when a Megatron run starts, so a top-level record vanished at the first launch and
the next one was refused. Records written by earlier versions (top level, or moved into ``run_<N>/``)
are still read.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from recipes.config.models import get_model

RECORD = "run.json"
FOLDER = "identity"


def record_path(log_dir: str | Path) -> Path:
    return Path(log_dir) / FOLDER / RECORD


def _legacy_paths(log_dir: Path) -> list[Path]:
    def launch_number(path: Path) -> int:
        digits = path.parent.name[len("run_"):]
        return int(digits) if digits.isdigit() else 1 << 30

    moved = sorted(log_dir.glob(f"run_*/{RECORD}"), key=launch_number)  # run_0 holds the first launch's
    return [log_dir / RECORD, *moved[:1]]
FIELDS = ("task", "model", "backend", "base_weights", "dataset", "tokenizer", "seq_length",
          "tensor_model_parallel_size", "pipeline_model_parallel_size", "context_parallel_size")


def identity(opts) -> dict:
    """The values that define ``opts``'s run (resolved: defaults filled in, paths absolute)."""
    spec = get_model(opts.model)
    return {
        "task": opts.task, "model": spec.name, "backend": opts.backend,
        "base_weights": opts.nemo_model or opts.hf_model_id or (
            "random init" if opts.task == "pretrain" or spec.is_debug else spec.hf_id),
        "dataset": opts.dataset_path or "mock data",
        "tokenizer": opts.tokenizer or opts.hf_model_id or spec.hf_id,
        "seq_length": opts.seq_length or spec.default_seq_length_for(opts.task, opts.packed_sequence),
        "tensor_model_parallel_size": opts.tensor_model_parallel_size,
        "pipeline_model_parallel_size": opts.pipeline_model_parallel_size,
        "context_parallel_size": opts.context_parallel_size,
    }


def recorded(log_dir: str | Path) -> dict | None:
    path = next((p for p in (record_path(log_dir), *_legacy_paths(Path(log_dir))) if p.is_file()), None)
    if path is None:
        return None
    try:
        return json.loads(path.read_text()).get("identity")
    except (OSError, ValueError, AttributeError):
        return {}


def _has_training_state(log_dir: Path) -> bool:
    ckpt = log_dir / "checkpoints"
    return ckpt.is_dir() and any(ckpt.iterdir())


def mismatch(opts) -> str | None:
    """One problem line when ``opts`` would resume a different run from its experiment directory, else None."""
    log_dir = Path(opts.log_dir)
    ways = (f"use -E NEW_NAME for a new run, or --restart to start {opts.experiment} over "
            f"(the old directory is kept as {log_dir.name}.old-<time>)")
    old = recorded(log_dir)
    if old is None:
        if _has_training_state(log_dir):
            return (f"-E/--experiment {opts.experiment}: {log_dir} holds checkpoints of a run whose settings were "
                    f"not recorded, so resuming it could continue the wrong run; {ways}")
        return None
    if not _has_training_state(log_dir):
        return None  # nothing to resume (e.g. a submitted job that was cancelled): record() starts anew
    new = identity(opts)
    changed = [f"{name} {old.get(name)!r} -> {new[name]!r}" for name in FIELDS if old.get(name) != new[name]]
    if not changed:
        return None
    return (f"-E/--experiment {opts.experiment}: this command would resume a different run ({'; '.join(changed)}); "
            f"{ways}")


def restart(log_dir: str | Path) -> Path | None:
    """Move an existing experiment directory aside (``<dir>.old-<time>``); return where it went."""
    log_dir = Path(log_dir)
    if not log_dir.exists():
        return None
    target = log_dir.with_name(f"{log_dir.name}.old-{time.strftime('%Y%m%d-%H%M%S')}")
    suffix = 1
    while target.exists():
        target, suffix = log_dir.with_name(f"{log_dir.name}.old-{time.strftime('%Y%m%d-%H%M%S')}-{suffix}"), suffix + 1
    os.rename(log_dir, target)
    return target


def record(opts) -> None:
    """Write ``run.json`` at the first launch (kept as it is afterwards: it describes the checkpoints)."""
    log_dir = Path(opts.log_dir)
    path = record_path(log_dir)
    if recorded(log_dir) is not None and _has_training_state(log_dir):
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{RECORD}.tmp-{os.getpid()}")
    tmp.write_text(json.dumps({"identity": identity(opts), "created": time.strftime("%Y-%m-%dT%H:%M:%S%z")},
                              indent=2) + "\n")
    os.replace(tmp, path)
