"""Stage manifests and the body of a stage, the same here and inside a Slurm job.

A stage's manifest, ``STATE_DIR/<stage>.json``, is written by the stage itself once its command
succeeded and its outputs are all there (atomically, last): the command line and the hash of its
resolved configuration, each input's and output's size+mtime (folders: a digest over their files), the
git commit, the library versions, start and end. A rerun skips a stage while its manifest matches
the stage as it is now; an old manifest is removed before a stage runs, so a stage stopped mid-way
is never taken as done.
"""

from __future__ import annotations

import hashlib
import importlib
import json
import os
import re
import shlex
import subprocess
import sys
import time
from pathlib import Path
from recipes.backends.megatron import newest_last_checkpoint
from recipes.config.slurm_settings import repo_root
from recipes.core.atomic import atomic_dir, atomic_file
from recipes.core.errors import UsageError
from recipes.hf.config import ModelConfig
from recipes.hf.modeling import build_model, load_tokenizer_for
from recipes.launch.runrecord import read_record

LAST = re.compile(r"\$\{last:([^}]+)\}")  # ${last:RUN_DIR}: the run's newest complete -last checkpoint
VERSIONED = ("nemo-toolkit", "nemo-run", "megatron-core", "torch", "transformers", "peft")


def manifest_path(state_dir: str, stage: str) -> Path:
    return Path(state_dir) / f"{stage}.json"


def fingerprint(path: str) -> dict | None:
    """Size and mtime of a file; for a folder the count, bytes and a digest of (name, size, mtime) of its files."""
    item = Path(path)
    if item.is_file():
        stat = item.stat()
        return {"size": stat.st_size, "mtime_ns": stat.st_mtime_ns}
    if not item.is_dir():
        return None
    digest, count, total = hashlib.sha256(), 0, 0
    for file in sorted(p for p in item.rglob("*") if p.is_file()):
        stat = file.stat()
        digest.update(f"{file.relative_to(item)}\0{stat.st_size}\0{stat.st_mtime_ns}\n".encode())
        count, total = count + 1, total + stat.st_size
    return {"files": count, "bytes": total, "digest": digest.hexdigest()}


def config_hash(config: dict) -> str:
    return hashlib.sha256(json.dumps(config, sort_keys=True, default=str).encode()).hexdigest()


def read_manifest(state_dir: str, stage: str, strict: bool = False) -> dict | None:
    """A stage's manifest, None when absent. An unreadable one means "rerun the stage" to a run, but
    ``strict`` (recipes.status) names the file instead of showing the stage as never finished."""
    try:
        return read_record(manifest_path(state_dir, stage))
    except UsageError:
        if strict:
            raise
        return None


def why_rerun(spec: dict) -> str | None:
    """None when the stage's manifest matches it as it is now; else what changed, in a few words."""
    manifest = read_manifest(spec["state_dir"], spec["stage"])
    if manifest is None:
        return "no manifest (never finished)"
    if manifest.get("config_hash") != spec["config_hash"]:
        return "its configuration changed"
    for kind, paths in (("input", spec["inputs"]), ("output", spec["outputs"])):
        recorded = manifest.get(f"{kind}s", {})
        if set(recorded) != set(paths):
            return f"its {kind}s changed"
        for path in paths:
            if fingerprint(path) != recorded[path]:
                return f"{kind} {path} changed" if os.path.exists(path) else f"{kind} {path} is missing"
    return None


def _git_commit() -> str | None:
    try:
        out = subprocess.run(["git", "-C", str(repo_root()), "rev-parse", "HEAD"], capture_output=True, text=True,
                             timeout=20)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None


def _versions() -> dict:
    from importlib import metadata

    found = {}
    for name in VERSIONED:
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return found


def write_manifest(spec: dict, started: float, inputs: dict) -> Path:
    missing = [path for path in spec["outputs"] if not os.path.exists(path)]
    if missing:
        raise RuntimeError(f"stage {spec['stage']} ended without writing {missing[0]}")
    manifest = {"stage": spec["stage"], "pipeline": spec["pipeline"], "command": spec["command"],
                "config_hash": spec["config_hash"], "inputs": inputs,
                "outputs": {path: fingerprint(path) for path in spec["outputs"]}, "git_commit": _git_commit(),
                "versions": _versions(), "started": started, "ended": time.time(),
                "slurm_job_id": os.environ.get("SLURM_JOB_ID")}
    path = manifest_path(spec["state_dir"], spec["stage"])
    with atomic_file(path) as temp:
        temp.write_text(json.dumps(manifest, indent=2) + "\n")
    return path


def last_checkpoint(run_dir: str) -> str:
    """The newest complete ``checkpoints/*-last`` of a Megatron run (as the tutorial's export picks it)."""
    found = newest_last_checkpoint(Path(run_dir))
    if not found:
        raise UsageError(f"${{last:{run_dir}}}: no complete *-last checkpoint in {run_dir}/checkpoints; "
                         "train that run first, or give the checkpoint's path")
    return found


def resolve_last(argv: list[str]) -> list[str]:
    return [LAST.sub(lambda m: last_checkpoint(os.path.abspath(m.group(1))), item) for item in argv]


def run_command(module: str, argv: list[str]) -> int:
    """The command's own entry point, in this process, as ``python -m MODULE ARGV`` would run it."""
    print("+ " + shlex.join(["python", "-m", module, *argv]), flush=True)
    return int(importlib.import_module(module).main(list(argv)) or 0)


def run_stage(spec: dict) -> int:
    """Run one stage (``spec`` from recipes.pipeline) and write its manifest; the exit status of its command."""
    if spec.get("cwd") and os.getcwd() != spec["cwd"]:  # a Slurm job starts in NeMo-Run's code folder
        sys.path.insert(0, os.getcwd())
        os.chdir(spec["cwd"])
    manifest_path(spec["state_dir"], spec["stage"]).unlink(missing_ok=True)
    started = time.time()
    inputs = {path: fingerprint(path) for path in spec["inputs"]}
    if spec.get("baseline"):
        code = _untrained_baseline(spec["baseline"])
        if code:
            return code
    code = run_command(spec["module"], resolve_last(spec["argv"]))
    if code == 0:
        write_manifest(spec, started, inputs)
    return code


def _untrained_baseline(baseline: dict) -> int:
    """evaluate's ``baseline_untrained``: the pretraining's starting weights (its model and seed), measured."""
    model = ModelConfig(name=baseline["model"])
    with atomic_dir(baseline["model_path"]) as temp:
        build_model(model, seed=baseline["seed"]).save_pretrained(temp)
        load_tokenizer_for(model).save_pretrained(temp)
    return run_command("recipes.evaluate", baseline["argv"])


def stage_job(spec: dict) -> None:
    """The task of a Slurm stage job: the stage, then its manifest; a failed command fails the job (afterok)."""
    code = run_stage(spec)
    if code:
        raise SystemExit(code)
