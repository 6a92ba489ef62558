"""Status and logs of this library's experiments (NeMo-Run records; Slurm state through sacct).

    python -m recipes.status                         # experiments with the state of their latest run
    python -m recipes.status llama31_pretraining     # tasks of its latest run: state, step, loss, elapsed, logs
    python -m recipes.status llama31_pretraining --logs pretrain
    python -m recipes.status llama31_pretraining --json

Dry-runs (``--dryrun``) are not runs: they are counted, never shown as the latest run. Step, max_steps
and the last training loss come from the run's ``metrics.jsonl`` (small-model backend) or its
TensorBoard events (Megatron: ``reduced_train_loss``) under ``RESULTS_DIR/EXPERIMENT``.

For Slurm jobs the state comes with Slurm's own (``sacct``: state, exit code, reason, e.g. a job
cancelled because the job it depended on failed), and ``--logs`` prints the log of every attempt
(a requeued job has one per restart) followed by the batch script's output.
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
from pathlib import Path

from recipes import runrecord
from recipes.errors import UsageError, cli_main


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m recipes.status", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("experiment", nargs="?", help="experiment name (-E of the launch)")
    parser.add_argument("--id", help="a specific run id (default: the latest)")
    parser.add_argument("--logs", metavar="TASK", help="print the log of this task (e.g. pretrain)")
    parser.add_argument("--json", action="store_true", help="machine-readable status")
    return parser


def experiments_dir() -> Path:
    from recipes.remote import use_nemorun_home

    use_nemorun_home()
    import nemo_run as run

    return Path(run.config.get_nemorun_home()) / "experiments"


def is_dryrun(run_dir: Path) -> bool:
    """A dry-run left a folder (Slurm keeps its sbatch script) but launched nothing.

    Our launches write a run record (recipes.runrecord) and NeMo-Run touches ``_DONE`` when a launched
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
            from recipes.data.shards import progress as shard_progress

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
    from recipes.hf.metrics import load_curves

    if not log_dir or not Path(log_dir).is_dir():
        return {"step": None, "loss": None}
    points = load_curves(log_dir).get("train_loss") or []
    return {"step": points[-1][0], "loss": points[-1][1]} if points else {"step": None, "loss": None}


def elapsed(record: dict, status: str, run_dir: Path) -> float | None:
    """From our record; for runs without one, from the run folder's creation to NeMo-Run's ``_DONE``."""
    import time

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
    from recipes.remote import array_task_states

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


def print_logs(run_dir: Path, experiment: str, task: str) -> None:
    states = task_states(experiment, run_dir=run_dir)
    if task not in states:
        raise UsageError(f"--logs {task}: no such task in {experiment}; tasks: {', '.join(states) or 'none'}")
    state = states[task]
    if "slurm" not in state:
        runrecord.load_experiment(run_dir).logs(job_id=task)  # NeMo-Run's own (local executors)
        return
    logs = attempt_logs(state["local_dir"], state["job_id"])
    batch = sorted(Path(state["local_dir"]).glob(f"sbatch_*_{state['job_id']}.out"))
    if state.get("shards"):  # a job array: each task logs under its own job id (srun) or <array>_<index>
        logs = sorted(Path(state["local_dir"]).glob("log-*.out"))
        batch = sorted(Path(state["local_dir"]).glob(f"sbatch_*_{state['job_id']}_*.out"))
    if not logs and not batch:
        print(f"{experiment}: task {task} (slurm job {state['job_id']}, {state['status']}) has written no log yet",
              file=sys.stderr)
    for number, path in enumerate(logs):
        print(f"==> attempt {number} (SLURM_RESTART_COUNT={number}): {path} <==", flush=True)
        sys.stdout.write(path.read_text(errors="replace"))
    for path in batch:
        print(f"==> batch script output: {path} <==", flush=True)
        sys.stdout.write(path.read_text(errors="replace"))
    sys.stdout.flush()


def _progress_text(state: dict) -> str:
    if state.get("shards"):
        shards = state["shards"]
        return (f"shards {shards['done']}/{shards['total']}  docs {shards['documents']:,}  tokens "
                f"{shards['tokens']:,}" + ("  merged" if shards["merged"] else ""))
    step = "-" if state.get("step") is None else str(state["step"])
    if state.get("max_steps"):
        step += f"/{state['max_steps']}"
    loss = "-" if state.get("loss") is None else f"{state['loss']:.4g}"
    seconds = state.get("elapsed_s")
    took = "-" if seconds is None else f"{int(seconds) // 3600}:{int(seconds) % 3600 // 60:02}:{int(seconds) % 60:02}"
    return f"step {step:>9}  loss {loss:>7}  elapsed {took}"


def overall(states: dict[str, dict]) -> str:
    """One state for a run: the first task that did not succeed, else SUCCEEDED."""
    for state in states.values():
        if state["status"] != "SUCCEEDED":
            return state["status"]
    return "SUCCEEDED" if states else "UNKNOWN"


def print_experiments() -> None:
    folder = experiments_dir()
    titles = sorted(d.name for d in folder.iterdir() if d.is_dir()) if folder.is_dir() else []
    if not titles:
        print(f"no experiments under {folder} (NEMORUN_HOME={folder.parent})")
    for title in titles:
        real, dryruns = list_runs(title)
        note = f"  (+{dryruns} dry-run(s), not runs)" if dryruns else ""
        if not real:
            print(f"{title:24} {'-':12} no run yet{note}")
            continue
        states = task_states(title, run_dir=real[-1])
        last = list(states.values())[-1] if states else {}
        print(f"{title:24} {overall(states):12} {_progress_text(last)}  logs {last.get('log_dir') or '-'}{note}")


def print_run(experiment: str, run_dir: Path, states: dict[str, dict]) -> None:
    _, dryruns = list_runs(experiment)
    print(f"{experiment}: run {run_dir.name}" + (f" (+{dryruns} dry-run(s), not runs)" if dryruns else ""))
    for name, state in states.items():
        print(f"{name:12} {state['status']:12} job {state['job_id'] or '-':>10}  {_progress_text(state)}"
              f"{_describe(state)}")
        print(f"{'':12} logs: {state.get('log_dir') or '-'}   NeMo-Run job dir: {state['local_dir']}")
    record = runrecord.read(run_dir) or {}
    if any(s["status"] == "STOPPED" for s in states.values()) and record.get("command"):
        print(f"resume with: {record['command']}")
    print(f"task logs: python -m recipes.status {experiment} --logs {next(iter(states), 'TASK')}")


def _describe(state: dict) -> str:
    slurm = state.get("slurm")
    if not slurm or not slurm.get("state"):
        return ""
    reason = f", reason {slurm['reason']}" if slurm.get("reason") not in (None, "", "None") else ""
    if slurm.get("dependency"):
        reason += f" ({slurm['dependency']})"
    if slurm["state"] == "CANCELLED" and slurm.get("reason", "").startswith("Dependency"):  # not "CANCELLED by UID"
        reason += ": a job it depends on (--dependency) did not succeed"
    return f"  (slurm {slurm['state']}, exit {slurm['exit_code']}{reason}, attempts {slurm['attempts']})"


@cli_main("recipes.status")
def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return _main(args)
    except UsageError:
        raise
    except Exception as exc:  # a record NeMo-Run cannot read back: one line, not a traceback
        print(f"recipes.status: error: {args.experiment or 'experiments'}: cannot read NeMo-Run's records "
              f"({type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''})", file=sys.stderr)
        return 1


def _main(args) -> int:
    from recipes import pipeline_status

    if not args.experiment:
        print_experiments()
        for name in pipeline_status.names():
            print(f"{name:24} pipeline     stage by stage: python -m recipes.status {name}")
        return 0
    if not args.logs and args.experiment in pipeline_status.names():
        return pipeline_status.print_pipeline(args.experiment, args.json)
    run_dir = pick_run(args.experiment, args.id)
    if args.logs:
        print_logs(run_dir, args.experiment, args.logs)
        return 0
    states = task_states(args.experiment, run_dir=run_dir)
    if args.json:
        import json

        print(json.dumps(states, indent=2))
    else:
        print_run(args.experiment, run_dir, states)
    return 0


if __name__ == "__main__":
    sys.exit(main())
