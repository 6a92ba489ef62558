"""Status and logs of this library's runs, read back from NeMo-Run's records and ours (the body of
``python -m recipes.status`` for experiments; pipelines are :mod:`recipes.pipelines.status`).

Dry-runs (``--dryrun``) are not runs: they are counted, never shown as the latest run. Step, max_steps
and the last training loss come from the run's ``metrics.jsonl`` (small-model backend) or its
TensorBoard events (Megatron: ``reduced_train_loss``) under ``RESULTS_DIR/EXPERIMENT``.

For Slurm jobs the state comes with Slurm's own (``sacct``: state, exit code, reason, e.g. a job
cancelled because the job it depended on failed), and ``--logs`` prints the log of every attempt
(a requeued job has one per restart) followed by the batch script's output.
"""

from __future__ import annotations

import sys
from pathlib import Path

from recipes.core.errors import UsageError
from recipes.launch import runrecord
from recipes.launch.runstate import attempt_logs, experiments_dir, list_runs, task_states


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
