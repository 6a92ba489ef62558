"""Run a validated :class:`JobPlan` as a NeMo-Run experiment, or dry-run it.

The dry-run prints the resolved recipe as YAML and, for Slurm, writes and prints the exact sbatch
script NeMo-Run would submit (NeMo-Run renders it with no cluster present).
"""

from __future__ import annotations

import sys
from pathlib import Path

from executors import build_executor, cpu_task_executor
from recipes import backends
from recipes.config import identity
from recipes.config.overrides import apply_overrides
from recipes.core.secrets import redact
from recipes.job.memory_check import plan_table
from recipes.job.plan import JobPlan
from recipes.launch.remote import dryrun_experiment, run_experiment, use_nemorun_home

RUN_FAILED = 1


def prepare(plan: JobPlan):
    """(tasks [(name, Partial)], executor) for ``plan``."""
    backend = backends.get(plan.opts.backend)
    recipe = plan.recipe if plan.recipe is not None else apply_overrides(backend.build(plan.opts), plan.overrides)
    tasks = backend.pre_tasks(plan.opts, plan.needs_import) + [(plan.opts.task, recipe)]
    return tasks, build_executor(plan.executor, plan.settings)


def to_yaml(recipe) -> str:
    from nemo_run.core.serialization.yaml import YamlSerializer

    return YamlSerializer().serialize(recipe)


def _task_executor(name: str, executor, plan: JobPlan):
    """Training uses the full executor; the conversion steps run as one CPU process (no GPUs requested, the CPU
    partition if set), as the executor module makes it."""
    return executor if name == plan.opts.task else cpu_task_executor(plan.executor, plan.settings)


def run_plan(plan: JobPlan) -> int:
    """Run (or dry-run) a plan that passed validation and :func:`recipes.config.slurm_settings.launch_problems`."""
    for warning in plan.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    use_nemorun_home()
    tasks, executor = prepare(plan)
    for note in plan.notes:
        print(f"note: {note}", file=sys.stderr)
    print_memory_table(plan, tasks[-1][1])
    if plan.rehearse:
        backends.get(plan.opts.backend).rehearse(tasks[-1][1], plan.opts.experiment)
    if plan.dryrun:
        return dryrun(plan, tasks, executor)
    if not plan.yes and sys.stdin.isatty() and not _confirm(plan):
        print("aborted", file=sys.stderr)
        return RUN_FAILED
    _claim_experiment_dir(plan)
    if plan.needs_import:  # mounted into containers (job_paths): it must exist before submission
        Path(plan.opts.import_dir).parent.mkdir(parents=True, exist_ok=True)
    steps = [(name, task, _task_executor(name, executor, plan)) for name, task in tasks]
    return run_experiment(plan.opts.experiment, steps, executor=plan.executor, packager=plan.settings.packager,
                          detach=plan.detach, log_dir=plan.opts.log_dir)


def _claim_experiment_dir(plan: JobPlan) -> None:
    """--restart moves the old directory aside; then the directory records this run's identity."""
    if plan.restart:
        moved = identity.restart(plan.opts.log_dir)
        if moved:
            print(f"--restart: the previous {plan.opts.experiment} is kept in {moved}", file=sys.stderr)
    identity.record(plan.opts)


def print_memory_table(plan: JobPlan, recipe) -> None:
    table = plan_table(plan, recipe)
    if table:
        print(table, flush=True)


def _confirm(plan: JobPlan) -> bool:
    where = f"{plan.executor} ({plan.settings.nodes} node(s) × {plan.settings.gpus_per_node})"
    answer = input(f"Run {plan.opts.task} of {plan.opts.model} as '{plan.opts.experiment}' on {where}? [y/N] ")
    return answer.strip().lower() in ("y", "yes")


def dryrun(plan: JobPlan, tasks, executor) -> int:
    for name, task in tasks:
        print(f"# ---- task: {name} (resolved recipe) ----")
        print(redact(to_yaml(task)))
    print(f"# logs and checkpoints: {plan.opts.log_dir}")
    steps = [(name, task, _task_executor(name, executor, plan)) for name, task in tasks]
    dryrun_experiment(plan.opts.experiment, steps, executor=plan.executor, packager=plan.settings.packager)
    return 0
