"""This library's record of a launched run, beside NeMo-Run's own experiment directory.

``<NEMORUN_HOME>/experiments/<title>/<run id>.run.json`` holds what NeMo-Run does not keep: that the
run was really launched (a dry-run writes no record), when it started and ended, the command that
resumes it, each task's log dir and max_steps, and each task's exit (a stop by signal is not a
failure). A file, not a folder, so NeMo-Run's own listings (folders) are unchanged.
"""

from __future__ import annotations

import json
import os
import shlex
import sys
import time
from pathlib import Path

SUFFIX = ".run.json"
DRYRUN_MARKER = "_DRYRUN"  # written by our dry-run into the experiment dir it keeps (Slurm)


def record_path(exp_dir: str | os.PathLike) -> Path:
    return Path(str(exp_dir) + SUFFIX)


def launch_command(argv: list[str] | None = None) -> str:
    """The command that launched this process, as the user would type it (secrets redacted)."""
    from recipes.secrets import redact

    argv = _without_token_flag(list(sys.argv if argv is None else argv))
    spec = getattr(sys.modules.get("__main__"), "__spec__", None)
    head = ["python", "-m", spec.name] if spec and spec.name else ["python", argv[0]]
    return redact(shlex.join(head + argv[1:]))


def _without_token_flag(argv: list[str]) -> list[str]:
    """Drop ``--hf_token VALUE`` (deprecated; HF_TOKEN from the environment is what a relaunch uses)."""
    out, skip = [], False
    for arg in argv:
        if skip:
            skip = False
        elif arg == "--hf_token":
            skip = True
        elif not arg.startswith("--hf_token="):
            out.append(arg)
    return out


def task_fields(task) -> dict:
    """``log_dir`` and ``max_steps`` of a recipe Partial (both backends share ``log`` and ``trainer``), or the
    ``manifest`` of a sharded preprocessing task (recipes.data.shards)."""
    fields = {}
    for key, path in (("log_dir", ("log", "log_dir")), ("max_steps", ("trainer", "max_steps")),
                      ("manifest", ("manifest",))):
        value = task
        for attr in path:
            value = getattr(value, attr, None)
        if isinstance(value, (str, int)) and not isinstance(value, bool):
            fields[key] = value
    return fields


def write(path: Path, record: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(record, indent=2) + "\n")
    tmp.replace(path)


def start(exp_dir: str, experiment: str, executor: str, tasks: list[tuple[str, object]],
          log_dir: str | None) -> dict:
    record = {"experiment": experiment, "run_id": Path(exp_dir).name, "executor": executor,
              "started": time.time(), "command": launch_command(), "log_dir": log_dir,
              "tasks": {name: task_fields(task) for name, task in tasks}}
    write(record_path(exp_dir), record)
    return record


def read(exp_dir: str | os.PathLike) -> dict | None:
    try:
        return json.loads(record_path(exp_dir).read_text())
    except (OSError, ValueError):
        return None
