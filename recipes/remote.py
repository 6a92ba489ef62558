"""Run ``nemo_run.Partial`` tasks as a NeMo-Run experiment on an executor, and wait (or detach).

:func:`run_experiment` serves the training launch (:mod:`recipes.launch`) and :func:`run_task` the
one-task commands (``recipes.preprocess --executor slurm``). Each Slurm submission prints one
parseable line, ``submitted slurm job <id> (<task>)``, so that a script can chain the next step with
``--dependency <id>``.
"""

from __future__ import annotations

import sys

from executors import build_executor
from executors.settings import ExecutorSettings

RUN_FAILED = 1


def slurm_job_id(handle: str | None) -> str | None:
    """The Slurm job id in a NeMo-Run app handle (``slurm_tunnel://nemo_run/123``), else None."""
    scheme, _, rest = (handle or "").partition("://")
    parts = rest.split("/")
    if not scheme.startswith("slurm") or len(parts) < 2 or not parts[1]:
        return None
    return parts[1]


def report_submitted(exp) -> dict[str, str]:
    """Print ``submitted slurm job <id> (<task>)`` for each Slurm job of ``exp``; return {task: id}."""
    ids = {}
    for job in exp.jobs:
        job_id = slurm_job_id(getattr(job, "handle", None))
        if job_id:
            ids[job.id] = job_id
            print(f"submitted slurm job {job_id} ({job.id})", flush=True)
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
    import contextlib

    from recipes.plan import repo_root

    if executor == "slurm" and packager == "git":
        return contextlib.chdir(repo_root())
    return contextlib.nullcontext()


def run_experiment(experiment: str, tasks: list[tuple[str, object, object]], *, executor: str, packager: str,
                   detach: bool = False, log_dir: str | None = None) -> int:
    """Run ``tasks`` [(name, Partial, NeMo-Run executor)] in order as one experiment; 0 when all succeeded.

    With ``detach`` it returns once submitted. Prints the Slurm job ids (for ``--dependency``).
    """
    import nemo_run as run

    use_nemorun_home()
    with in_code_dir(executor, packager), \
            run.Experiment(experiment, executor=tasks[-1][2], log_level="WARN") as exp:
        for name, task, task_executor in tasks:
            exp.add(task, executor=task_executor, name=name)
        exp.run(sequential=True, detach=detach, tail_logs=not detach and executor != "slurm")
        report_submitted(exp)
    # Leaving the context waits for attached jobs; their final states are known only now.
    print(f"experiment {exp._id}" + (f": logs and checkpoints in {log_dir}" if log_dir else ""))
    if detach:
        print(f"follow it with: python -m recipes.status {experiment}")
        return 0
    failed = {job.id: str(job.state) for job in exp.jobs if "SUCCEEDED" not in str(job.state)}
    for name, state in failed.items():
        print(f"{experiment}: task {name} ended {state}; see `python -m recipes.status {experiment} --logs {name}`",
              file=sys.stderr)
    return RUN_FAILED if failed else 0


def run_task(task, *, name: str, experiment: str, executor: str, settings: ExecutorSettings,
             detach: bool = False) -> int:
    """Run ``task`` (a ``run.Partial``) as the only task ``name`` of experiment ``experiment``."""
    built = build_executor(executor, settings)
    return run_experiment(experiment, [(name, task, built)], executor=executor, packager=settings.packager,
                          detach=detach)
