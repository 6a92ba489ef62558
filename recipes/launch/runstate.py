"""The state of this library's runs, read back: NeMo-Run's experiment records, our run records, the
training progress under the results folder, and Slurm's own accounting (``sacct``/``scontrol``).

Used by ``python -m recipes.status`` (:mod:`recipes.status` prints what this module reads), by the
pipeline status (:mod:`recipes.pipelines.status`) and by the sharded preprocessing's wait.
"""

from __future__ import annotations

import re
import subprocess
import time
from pathlib import Path

from recipes.core.errors import UsageError
from recipes.data.shards import progress as shard_progress
from recipes.hf.metrics import load_curves
from recipes.launch import runrecord
from recipes.launch.remote import array_task_states, use_nemorun_home


def experiments_dir() -> Path:
    use_nemorun_home()
    import nemo_run as run

    return Path(run.config.get_nemorun_home()) / "experiments"


def is_dryrun(run_dir: Path) -> bool:
    """A dry-run left a folder (Slurm keeps its sbatch script) but launched nothing.

    Our launches write a run record (recipes.launch.runrecord) and NeMo-Run touches ``_DONE`` when a launched
    run ends; a dry-run does neither (and ours may mark itself with ``_DRYRUN``).
    """
    if (run_dir / runrecord.DRYRUN_MARKER).exists():
        return True
    return not (runrecord.record_path(run_dir).is_file() or (run_dir / "_DONE").exists())


def list_runs(experiment: str) -> tuple[list[Path], int]:
    """(real runs oldest first, number of dry-runs) of an experiment."""
    folder = experiments_dir() / experiment
    dirs = sorted((d for d in folder.iterdir() if d.is_dir()), key=lambda d: d.stat().st_ctime) \
        if folder.is_dir() else []
    real = [d for d in dirs if not is_dryrun(d)]
    return real, len(dirs) - len(real)


def pick_run(experiment: str, run_id: str | None) -> Path:
    real, dryruns = list_runs(experiment)
    if run_id:
        match = [d for d in real if d.name == run_id]
        if not match:
            raise UsageError(f"--id {run_id}: no such run of {experiment}; runs: "
                             f"{', '.join(d.name for d in real) or 'none'}")
        return match[0]
    if not real:
        what = f"only {dryruns} dry-run(s), which are not runs" if dryruns else "no run"
        raise UsageError(f"experiment {experiment!r}: {what} under {experiments_dir()}; "
                         "list experiments with: python -m recipes.status")
    return real[-1]


def task_states(experiment: str, run_id: str | None = None, run_dir: Path | None = None) -> dict[str, dict]:
    """``{task: {"status", "job_id", "local_dir", "run_id", "log_dir", "step", "max_steps", "loss",
    "elapsed_s"[, "slurm"]}}`` of the experiment's latest (or given) run."""
    run_dir = run_dir or pick_run(experiment, run_id)
    record = runrecord.read(run_dir) or {}
    exp = runrecord.load_experiment(run_dir)
    info = exp.status(return_dict=True) or {}
    tasks = record.get("tasks") or _recipe_fields(exp)
    states = {}
    for name, v in info.items():
        state = {"status": str(v["status"]).split(".")[-1], "job_id": v.get("job_id", ""),
                 "local_dir": v.get("local_dir", ""), "run_id": run_dir.name}
        ended = record.get("outcome", {}).get(name)
        if ended and ended["state"] == "STOPPED":
            state["status"] = "STOPPED"  # by a signal, with a checkpoint: not a failure
        if str(v.get("handle", "")).startswith("slurm"):
            state["slurm"] = {**slurm_accounting(state["job_id"]),
                              "attempts": len(attempt_logs(state["local_dir"], state["job_id"]))}
        fields = tasks.get(name, {})
        state.update(log_dir=fields.get("log_dir"), max_steps=fields.get("max_steps"),
                     **progress(fields.get("log_dir")), elapsed_s=elapsed(record, state["status"], run_dir))
        if fields.get("manifest"):  # sharded preprocessing: shards done/total, documents, tokens
            state["shards"] = shard_progress(fields["manifest"])
            if state["status"] == "UNKNOWN" and state.get("slurm") is not None:  # a job array
                state["status"] = array_status(state["job_id"])
        states[name] = state
    return states


def _recipe_fields(exp) -> dict[str, dict]:
    """Log dir and max_steps from the saved recipes themselves (runs launched without our record)."""
    try:
        return {job.id: runrecord.task_fields(task) for job, task in zip(exp.jobs, exp.tasks)}
    except Exception:  # a task NeMo-Run cannot deserialize here: show the state without progress
        return {}


def progress(log_dir: str | None) -> dict:
    """Last logged step and training loss of a run directory (metrics.jsonl, else TensorBoard)."""
    if not log_dir or not Path(log_dir).is_dir():
        return {"step": None, "loss": None}
    points = load_curves(log_dir).get("train_loss") or []
    return {"step": points[-1][0], "loss": points[-1][1]} if points else {"step": None, "loss": None}


def elapsed(record: dict, status: str, run_dir: Path) -> float | None:
    """From our record; for runs without one, from the run folder's creation to NeMo-Run's ``_DONE``."""
    done = run_dir / "_DONE"
    config = run_dir / "_CONFIG"  # written when the run is launched
    started = record.get("started") or (config.stat().st_mtime if config.exists() else None)
    if started is None:
        return None
    end = record.get("ended") or (done.stat().st_mtime if done.exists() and "started" not in record else None)
    if end is None and status in ("RUNNING", "PENDING", "SUBMITTED"):
        end = time.time()
    return end - started if end else None


def slurm_accounting(job_id: str) -> dict[str, str]:
    """State, exit code and reason of a Slurm job allocation (``sacct``; empty if unknown).

    While slurmctld still holds the job (``MinJobAge``, 5 min by default) ``scontrol`` adds its dependency and
    the reason sacct may lack (a job submitted after its dependency had failed shows no reason in sacct).
    """
    info: dict[str, str] = {}
    out = _run(["sacct", "-X", "-P", "-n", "-o", "JobID,State,ExitCode,Reason", "-j", job_id])
    for line in out.splitlines():
        fields = line.split("|")
        if len(fields) == 4 and fields[0] == job_id:
            info = {"state": fields[1], "exit_code": fields[2], "reason": fields[3]}
    if info and not info["state"].startswith(("COMPLETED", "FAILED")):
        live = dict(word.split("=", 1) for word in _run(["scontrol", "show", "job", "-o", job_id]).split()
                    if "=" in word)
        if live.get("Dependency") not in (None, "(null)"):
            info["dependency"] = live["Dependency"]
        if live.get("Reason") not in (None, "None") and info["reason"] in ("", "None"):
            info["reason"] = live["Reason"]
    return info


def array_status(job_id: str) -> str:
    """One state for a Slurm job array: the first task that failed, else running, else succeeded."""
    states = set(array_task_states(job_id).values())
    failed = sorted(states - {"COMPLETED", "PENDING", "RUNNING", "COMPLETING"})
    if failed:
        return failed[0]
    return "RUNNING" if states - {"COMPLETED"} else ("SUCCEEDED" if states else "UNKNOWN")


def _run(cmd: list[str]) -> str:
    try:
        return subprocess.run(cmd, capture_output=True, text=True, timeout=60).stdout
    except (OSError, subprocess.SubprocessError):
        return ""


def attempt_logs(local_dir: str, job_id: str) -> list[Path]:
    """``log-<name>_<job>_<restart>.out`` of each attempt (NeMo-Run's srun output), oldest first."""
    if not job_id or not local_dir or not Path(local_dir).is_dir():
        return []
    pattern = re.compile(rf"^log-.*_{re.escape(job_id)}_(\d+)\.out$")
    found = [(int(m.group(1)), p) for p in Path(local_dir).iterdir() if (m := pattern.match(p.name))]
    return [p for _, p in sorted(found)]
