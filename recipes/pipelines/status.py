"""``python -m recipes.status`` for pipelines: each stage's state from its manifest (and its Slurm job).

A launch registers its pipeline in ``$NEMORUN_HOME/pipelines/<name>.json`` (where its manifests are),
so that the status command finds it by name.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

from executors import EXECUTORS, capabilities
from recipes.core.atomic import atomic_file
from recipes.core.errors import UsageError
from recipes.launch.runrecord import RECORD_FIX, launch_command, read_record
from recipes.launch.runstate import task_states
from recipes.pipelines.runner import read_manifest

RECORD = "pipeline.json"  # STATE_DIR/RECORD: what the pipeline's latest launch does


def registry() -> Path:
    return Path(os.path.expanduser(os.environ.get("NEMORUN_HOME", "~/.nemo_run"))) / "pipelines"


def register(name: str, state_dir: str) -> None:
    with atomic_file(registry() / f"{name}.json") as temp:
        temp.write_text(json.dumps({"name": name, "state_dir": state_dir}) + "\n")


def record_start(pipeline, experiment_id: str | None = None) -> None:
    """``STATE_DIR/pipeline.json``: what this launch of ``pipeline`` (a ``recipes.pipelines.plan.Pipeline``)
    does, for ``python -m recipes.status``; and its name in the registry."""
    record = {"name": pipeline.name, "file": pipeline.file, "executor": pipeline.executor, "started": time.time(),
              "command": launch_command(), "experiment_id": experiment_id,
              "stages": [{k: s[k] for k in ("stage", "command", "action", "reason", "outputs")}
                         for s in pipeline.specs]}
    with atomic_file(os.path.join(pipeline.state_dir, RECORD)) as temp:
        temp.write_text(json.dumps(record, indent=2) + "\n")
    register(pipeline.name, pipeline.state_dir)


def names() -> list[str]:
    return sorted(p.stem for p in registry().glob("*.json")) if registry().is_dir() else []


def load(name: str) -> dict | None:
    """The pipeline's launch record; None when it is not registered. A record that is there but
    unreadable is a UsageError naming the file (recipes.launch.runrecord.read_record)."""
    entry = read_record(registry() / f"{name}.json")
    if entry is None:
        return None
    if not isinstance(entry.get("state_dir"), str):
        raise UsageError(f"{registry() / f'{name}.json'}: unreadable record (no state_dir); {RECORD_FIX}")
    record = read_record(Path(entry["state_dir"]) / RECORD)
    if record is None:
        raise UsageError(f"{Path(entry['state_dir']) / RECORD}: missing (the pipeline's launch record, "
                         f"named by {registry() / f'{name}.json'}); run the pipeline again, or remove that entry")
    return record | {"state_dir": entry["state_dir"]}


def stage_states(record: dict, job_states: dict[str, dict]) -> list[dict]:
    """Per stage: DONE (manifest written by this launch or an earlier one), else the job's state, else PENDING."""
    rows = []
    for stage in record["stages"]:
        manifest = read_manifest(record["state_dir"], stage["stage"], strict=True)
        done = manifest is not None and (stage["action"] == "skip" or manifest.get("ended", 0) >= record["started"])
        job = job_states.get(stage["stage"], {})
        if done:
            state = "DONE" + (" (skipped: up to date)" if stage["action"] == "skip" else "")
        else:
            state = job.get("status") or ("NOT RUN" if stage["action"] == "skip" else "PENDING")
        row = {"stage": stage["stage"], "state": state, "command": stage["command"], "job_id": job.get("job_id")}
        if done:
            row["ended"] = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(manifest["ended"]))
            row["seconds"] = round(manifest["ended"] - manifest["started"], 1)
        rows.append(row)
    return rows


def print_pipeline(name: str, as_json: bool = False) -> int:
    record = load(name)
    if record is None:
        print(f"{name}: no such pipeline")
        return 1
    jobs = {}
    if record.get("executor") in EXECUTORS and capabilities(record["executor"]).batch:
        try:
            jobs = task_states(name)
        except Exception:  # noqa: BLE001 - no NeMo-Run record (yet): the manifests still tell
            jobs = {}
    rows = stage_states(record, jobs)
    if as_json:
        print(json.dumps(rows, indent=2))
        return 0
    print(f"pipeline {name} ({record['executor']}, {record['file']}); manifests in {record['state_dir']}")
    for number, row in enumerate(rows, 1):
        job = f"  job {row['job_id']}" if row.get("job_id") else ""
        when = f"  ended {row['ended']} ({row['seconds']}s)" if row.get("ended") else ""
        print(f"  {number}/{len(rows)} {row['stage']:<12} {row['state']:<10}{job}{when}")
        print(f"      {row['command']}")
    return 0
