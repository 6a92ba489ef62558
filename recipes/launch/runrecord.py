"""This library's record of a launched run, beside NeMo-Run's own experiment directory, and the reading
of both (a damaged record is a usage error naming the file).

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
from recipes.core.errors import UsageError
from recipes.core.secrets import redact

SUFFIX = ".run.json"
DRYRUN_MARKER = "_DRYRUN"  # written by our dry-run into the experiment dir it keeps (Slurm)


def record_path(exp_dir: str | os.PathLike) -> Path:
    return Path(str(exp_dir) + SUFFIX)


def launch_command(argv: list[str] | None = None) -> str:
    """The command that launched this process, as the user would type it (secrets redacted)."""
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
    name = getattr(getattr(task, "log", None), "name", None)
    if "log_dir" in fields and isinstance(name, str) and name:
        # NeMo's logger (Megatron) writes to log_dir/name; the small-model backend's log_dir is the run's.
        fields["log_dir"] = str(Path(fields["log_dir"]) / name)
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
    return read_record(record_path(exp_dir))


def read_record(path: Path) -> dict | None:
    """A JSON record this library wrote (run record, pipeline registry and manifests): None when absent;
    one that is there but unreadable is a UsageError naming it, never read as "no record" (which would
    show a finished run or stage as pending)."""
    try:
        value = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        why = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc).splitlines()[0]
        raise UsageError(f"{path}: unreadable record ({why}); {RECORD_FIX}") from exc
    if not isinstance(value, dict):
        raise UsageError(f"{path}: unreadable record (not a JSON object); {RECORD_FIX}")
    return value


RECORD_FIX = "restore the file or move it aside"


def load_experiment(run_dir: Path):
    """NeMo-Run's Experiment of ``run_dir``, its console chatter kept out of our output. Records it cannot
    read back are a usage error naming the file (exit 2), as our own records are (:func:`read_record`)."""
    import contextlib
    import io

    import nemo_run as run


    try:
        with contextlib.redirect_stdout(io.StringIO()):
            return run.Experiment.from_id(run_dir.name)
    except Exception as exc:  # noqa: BLE001 - whatever NeMo-Run raises on a damaged record
        why = type(exc).__name__ + (f": {str(exc).splitlines()[0][:200]}" if str(exc) else "")
        raise UsageError(f"{damaged_nemo_run_record(run_dir)}: NeMo-Run cannot read this record ({why}); "
                         f"restore it, or move the run folder {run_dir.name} aside") from exc


def damaged_nemo_run_record(run_dir: Path) -> Path:
    """Which of the files ``Experiment.from_id`` reads (in its order) is missing or does not parse."""
    import json

    from nemo_run.core.serialization.zlib_json import ZlibJSONSerializer

    for name, parse in (("_CONFIG", ZlibJSONSerializer().deserialize), ("_TASKS", json.loads)):
        try:
            parse((run_dir / name).read_text())
        except Exception:  # noqa: BLE001 - this is the file
            return run_dir / name
    return run_dir / "_CONFIG"  # both parse: what failed was rebuilding the experiment it describes
