"""Run a validated :class:`JobPlan` as a NeMo-Run experiment, or dry-run it.

The dry-run prints the resolved recipe as YAML and, for Slurm, writes and prints the exact sbatch
script NeMo-Run would submit (NeMo-Run renders it with no cluster present).
"""

from __future__ import annotations

import copy
import sys
from pathlib import Path

from executors import build_executor
from recipes.errors import UsageError
from recipes.gitstate import uncommitted_files
from recipes.overrides import apply_overrides
from recipes.plan import JobPlan, repo_root
from recipes.recipe import build_recipe, pre_tasks
from recipes.remote import in_code_dir, run_experiment, use_nemorun_home
from recipes.secrets import redact

RUN_FAILED = 1


def prepare(plan: JobPlan):
    """(tasks [(name, Partial)], executor) for ``plan``."""
    recipe = plan.recipe if plan.recipe is not None else apply_overrides(build_recipe(plan.opts), plan.overrides)
    tasks = pre_tasks(plan.opts, plan.needs_import) + [(plan.opts.task, recipe)]
    return tasks, build_executor(plan.executor, plan.settings)


def check_packager(plan: JobPlan) -> None:
    if plan.executor != "slurm" or plan.settings.packager != "git":
        return
    dirty = uncommitted_files(repo_root())
    if not dirty:
        return
    message = (f"--packager git ships committed code only; {len(dirty)} uncommitted change(s) (e.g. {dirty[0]}) "
               "would not travel. Commit them, or pass --allow_dirty, or --packager none")
    if plan.dryrun or plan.allow_dirty:
        print(f"warning: {message}", file=sys.stderr)
    else:
        raise UsageError(message)


def check_job_paths(plan: JobPlan) -> None:
    """Refuse job paths NeMo-Run would mangle (see executors.slurm.rundir_clash); a dry-run only warns."""
    if plan.executor != "slurm":
        return
    from executors.slurm import rundir_clash
    from recipes.plan import default_job_dir

    clash = rundir_clash(plan.settings.job_dir or default_job_dir(), plan.opts.experiment,
                         plan.settings.container_image)
    if clash and plan.dryrun:
        print(f"warning: {clash}", file=sys.stderr)
    elif clash:
        raise UsageError(clash)


def to_yaml(recipe) -> str:
    from nemo_run.core.serialization.yaml import YamlSerializer

    return YamlSerializer().serialize(recipe)


def _task_executor(name: str, executor, plan: JobPlan):
    """Conversion steps run as one CPU process (no GPUs requested, the CPU partition if set); training uses
    the full executor."""
    if name == plan.opts.task:
        return executor
    single = copy.deepcopy(executor)
    single.launcher = None
    single.ntasks_per_node = 1
    if hasattr(single, "nodes"):
        single.nodes = 1
    for gpu_field in ("gpus_per_node", "gpus_per_task", "gres"):
        if hasattr(single, gpu_field):
            setattr(single, gpu_field, None)
    if hasattr(single, "num_gpus"):  # docker
        single.num_gpus = 0
    if plan.settings.cpu_partition and hasattr(single, "partition"):
        single.partition = plan.settings.cpu_partition
    return single


def run_plan(plan: JobPlan) -> int:
    check_packager(plan)
    check_job_paths(plan)
    use_nemorun_home()
    tasks, executor = prepare(plan)
    for note in plan.notes:
        print(f"note: {note}", file=sys.stderr)
    print_memory_table(plan, tasks[-1][1])
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
    from recipes import identity

    if plan.restart:
        moved = identity.restart(plan.opts.log_dir)
        if moved:
            print(f"--restart: the previous {plan.opts.experiment} is kept in {moved}", file=sys.stderr)
    identity.record(plan.opts)


def print_memory_table(plan: JobPlan, recipe) -> None:
    from recipes.memory_check import plan_table

    table = plan_table(plan, recipe)
    if table:
        print(table, flush=True)


def _confirm(plan: JobPlan) -> bool:
    where = f"{plan.executor} ({plan.settings.nodes} node(s) × {plan.settings.gpus_per_node})"
    answer = input(f"Run {plan.opts.task} of {plan.opts.model} as '{plan.opts.experiment}' on {where}? [y/N] ")
    return answer.strip().lower() in ("y", "yes")


def dryrun(plan: JobPlan, tasks, executor) -> int:
    import nemo_run as run

    for name, task in tasks:
        print(f"# ---- task: {name} (resolved recipe) ----")
        print(redact(to_yaml(task)))
    print(f"# logs and checkpoints: {plan.opts.log_dir}")
    keep = plan.executor == "slurm"
    with in_code_dir(plan.executor, plan.settings.packager), \
            run.Experiment(plan.opts.experiment, executor=executor, log_level="ERROR") as exp:
        for name, task in tasks:
            exp.add(task, executor=_task_executor(name, executor, plan), name=name)
        exp.dryrun(log=not keep, delete_exp_dir=not keep)
        exp_dir = Path(exp._exp_dir)
    if keep:
        from recipes.runrecord import DRYRUN_MARKER

        (exp_dir / DRYRUN_MARKER).touch()  # recipes.status: a dry-run, not a run
        for name, _ in tasks:
            script = exp_dir / f"{name}_sbatch.sh"
            print(f"# ---- sbatch script: {script} ----")
            print(redact(script.read_text()))
    return 0
