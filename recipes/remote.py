"""Run one ``nemo_run.Partial`` as a one-task NeMo-Run experiment on an executor (Slurm), and wait.

Used by the commands that are not training launches (``recipes.preprocess --executor slurm``); the
training launch (:mod:`recipes.launch`) shares :func:`report_submitted`. Each Slurm submission prints
one parseable line, ``submitted slurm job <id> (<task>)``, so that a script can chain the next step
with ``--dependency <id>``.
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


def run_task(task, *, name: str, experiment: str, executor: str, settings: ExecutorSettings,
             detach: bool = False) -> int:
    """Run ``task`` (a ``run.Partial``) as the only task ``name`` of experiment ``experiment``.

    Returns 0 when it succeeded (or, with ``detach``, was submitted), 1 otherwise.
    """
    import nemo_run as run

    from recipes.launch import use_nemorun_home

    use_nemorun_home()
    built = build_executor(executor, settings)
    with run.Experiment(experiment, executor=built, log_level="WARN") as exp:
        exp.add(task, executor=built, name=name)
        exp.run(detach=detach, tail_logs=not detach and executor != "slurm")
        report_submitted(exp)
    print(f"experiment {exp._id}")
    if detach:
        print(f"follow it with: python -m recipes.status {experiment}")
        return 0
    state = str(exp.jobs[0].state)
    if "SUCCEEDED" in state:
        return 0
    print(f"{experiment}: task {name} ended {state}; see `python -m recipes.status {experiment} --logs {name}`",
          file=sys.stderr)
    return RUN_FAILED
