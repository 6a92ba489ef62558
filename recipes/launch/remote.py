"""Run ``nemo_run.Partial`` tasks as a NeMo-Run experiment on an executor, and wait (or detach).

:func:`run_experiment` serves the training launch (:mod:`recipes.launch.experiment`) and :func:`run_task` the
one-task commands (``recipes.preprocess --executor slurm``). Each Slurm submission prints one
parseable line, ``submitted slurm job <id> (<task>)``, so that a script can chain the next step with
``--dependency <id>``.
"""

from __future__ import annotations

import contextlib
import os
import sys
from pathlib import Path

from executors import build_executor, capabilities
from executors.settings import ExecutorSettings
from recipes.config.slurm_settings import repo_root
from recipes.core import quiet
from recipes.core.secrets import redact
from recipes.launch import runrecord
from recipes.launch.jobcontrol import LocalJobControl, SIGNAL_EXITS
from recipes.launch.runrecord import DRYRUN_MARKER

RUN_FAILED = 1


def slurm_job_id(handle: str | None) -> str | None:
    """The Slurm job id in a NeMo-Run app handle (``slurm_tunnel://nemo_run/123``), else None."""
    scheme, _, rest = (handle or "").partition("://")
    parts = rest.split("/")
    if not scheme.startswith("slurm") or len(parts) < 2 or not parts[1]:
        return None
    return parts[1]


def array_task_states(job_id: str) -> dict[int, str]:
    """{array index: state} of a Slurm job array (``sacct``; NeMo-Run's status knows no arrays)."""
    import subprocess

    try:
        out = subprocess.run(["sacct", "-X", "-P", "-n", "-o", "JobID,State", "-j", job_id], capture_output=True,
                             text=True, timeout=60).stdout
    except (OSError, subprocess.SubprocessError):
        return {}
    states = {}
    for line in out.splitlines():
        task, _, state = line.partition("|")
        head, sep, index = task.partition("_")
        if head == job_id and sep and index.isdigit():
            states[int(index)] = state.split()[0] if state else "UNKNOWN"
    return states


def report_submitted(exp) -> dict[str, str]:
    """Print ``submitted slurm job <id> (<task>)`` for each Slurm job of ``exp``; return {task: id}."""
    ids = {}
    for job in exp.jobs:
        job_id = slurm_job_id(getattr(job, "handle", None))
        if job_id:
            ids[job.id] = job_id
            # One write, newline included: NeMo-Run's status thread prints to the same stream.
            print(f"submitted slurm job {job_id} ({job.id})\n", end="", flush=True)
    return ids


def use_nemorun_home() -> None:
    """NeMo-Run reads $NEMORUN_HOME once at import; honour the value at launch time too."""
    import os

    import nemo_run as run

    if os.environ.get("NEMORUN_HOME"):
        run.config.set_nemorun_home(os.environ["NEMORUN_HOME"])


def in_code_dir(executor: str, packager: str):
    """NeMo-Run's git packager archives the repository of the current directory: run from ours.

    Callers pass absolute paths only, so changing directory changes nothing else.
    """
    if packager == "git" and "git" in capabilities(executor).packagers:
        return contextlib.chdir(repo_root())
    return contextlib.nullcontext()


def dryrun_experiment(experiment: str, tasks: list[tuple[str, object, object]], *, executor: str, packager: str,
                      title: str = "sbatch script") -> None:
    """Dry-run ``tasks`` [(name, Partial, NeMo-Run executor)] as one experiment; on Slurm keep the experiment
    folder (marked a dry-run) and print each task's sbatch script, headed ``# ---- TITLE: PATH ----``
    (``title`` may name the task as ``{name}``)."""
    import nemo_run as run

    keep = capabilities(executor).batch  # its job scripts are what a dry-run shows
    with in_code_dir(executor, packager), run.Experiment(experiment, executor=tasks[-1][2], log_level="ERROR") as exp:
        for name, task, task_executor in tasks:
            exp.add(task, executor=task_executor, name=name)
        exp.dryrun(log=not keep, delete_exp_dir=not keep)
        exp_dir = Path(exp._exp_dir)
    if not keep:
        return
    (exp_dir / DRYRUN_MARKER).touch()  # recipes.status: a dry-run, not a run
    for name, _, _ in tasks:
        script = exp_dir / f"{name}_sbatch.sh"
        print(f"# ---- {title.format(name=name)}: {script} ----")
        print(redact(script.read_text()))


def run_experiment(experiment: str, tasks: list[tuple[str, object, object]], *, executor: str, packager: str,
                   detach: bool = False, log_dir: str | None = None, submitted: dict | None = None) -> int:
    """Run ``tasks`` [(name, Partial, NeMo-Run executor)] in order as one experiment; 0 when all succeeded.

    With ``detach`` it returns once submitted. Prints the Slurm job ids (for ``--dependency``). A local
    run stops with its launcher (:mod:`recipes.launch.jobcontrol`); a stop by signal is reported as stopped,
    with the command that resumes it, and exits 1 like any run that did not finish.
    """
    import nemo_run as run


    use_nemorun_home()
    here = capabilities(executor).on_this_machine
    control = LocalJobControl() if here and not detach else contextlib.nullcontext()
    # Leaving the experiment's context waits for attached jobs: stop signals must still reach them then.
    with in_code_dir(executor, packager), children_env(quiet.child_env()), control, \
            run.Experiment(experiment, executor=tasks[-1][2], log_level="WARN", enable_goodbye_message=False,
                           skip_status_at_exit=True) as exp:
        for name, task, task_executor in tasks:
            exp.add(task, executor=task_executor, name=name)
        record = runrecord.start(exp._exp_dir, experiment, executor, [(n, t) for n, t, _ in tasks], log_dir)
        exp.run(sequential=True, detach=detach, tail_logs=not detach and here)
        ids = report_submitted(exp)
        if submitted is not None:
            submitted.update(ids)  # {task: Slurm job id}, for a caller that waits itself (a job array)
    print(f"experiment {exp._id}" + (f": logs and checkpoints in {log_dir}" if log_dir else ""))
    if detach:
        print(f"follow it with: python -m recipes.status {experiment}")
        return 0
    return report_outcome(exp, record, getattr(control, "stop_signal", None))


def report_outcome(exp, record: dict, stop_signal: int | None) -> int:
    """Record and print each task's end: succeeded, stopped by signal (with the resume command), or failed."""
    import signal
    import time


    experiment, codes = record["experiment"], local_exit_codes(exp)
    outcome, bad = {}, False
    for job in exp.jobs:
        state, code = str(job.state).split(".")[-1], codes.get(job.id)
        stopped = state != "SUCCEEDED" and (code in SIGNAL_EXITS or stop_signal is not None)
        outcome[job.id] = {"state": "STOPPED" if stopped else state, "exit_code": code}
        if state == "SUCCEEDED":
            continue
        bad = True
        if stopped:
            how = signal.Signals(stop_signal).name if stop_signal else f"exit {code}"
            print(f"{experiment}: task {job.id} stopped by signal ({how}); resume with: {record['command']}",
                  file=sys.stderr)
        else:
            print(f"{experiment}: task {job.id} ended {state}" + (f" (exit {code})" if code is not None else "")
                  + f"; see `python -m recipes.status {experiment} --logs {job.id}`", file=sys.stderr)
    record.update(ended=time.time(), outcome=outcome)
    runrecord.write(runrecord.record_path(exp._exp_dir), record)
    print(f"status: python -m recipes.status {experiment}")
    return RUN_FAILED if bad else 0


def local_exit_codes(exp) -> dict[str, int]:
    """{task: exit status} of the local jobs (torchx keeps the Popen objects; it reports only FAILED)."""
    codes = {}
    schedulers = getattr(getattr(exp, "_runner", None), "_scheduler_instances", {}) or {}
    apps = {}
    for scheduler in schedulers.values():
        apps.update(getattr(scheduler, "_apps", {}) or {})
    for job in exp.jobs:
        app = apps.get(str(getattr(job, "handle", "") or "").rsplit("/", 1)[-1])
        replicas = [r for rs in getattr(app, "role_replicas", {}).values() for r in rs] if app else []
        returns = [r.proc.returncode for r in replicas if r.proc.returncode is not None]
        if returns:
            codes[job.id] = next((c for c in returns if c != 0), 0)
    return codes


@contextlib.contextmanager
def children_env(values: dict[str, str]):
    """Set environment variables for the jobs started inside (torchx and sbatch copy this environment)."""
    saved = {key: os.environ.get(key) for key in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def run_task(task, *, name: str, experiment: str, executor: str, settings: ExecutorSettings,
             detach: bool = False) -> int:
    """Run ``task`` (a ``run.Partial``) as the only task ``name`` of experiment ``experiment``."""
    built = build_executor(executor, settings)
    return run_experiment(experiment, [(name, task, built)], executor=executor, packager=settings.packager,
                          detach=detach)
