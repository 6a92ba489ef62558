"""A pipeline on Slurm: one NeMo-Run experiment, one job per stage, all submitted at once.

NeMo-Run's sequential mode gives each job an ``afterok`` dependency on the one before. Each job runs
:func:`recipes.pipelines.runner.stage_job`: the stage's command in the job (training with ``--executor
local``, so torchrun on the job's GPUs when ``-G`` > 1), then the stage's manifest. Training
stages go to ``-p``; the others request no GPUs and go to ``--cpu_partition``; ``--retries`` requeues a
failed job, which resumes.
"""

from __future__ import annotations

import os
from pathlib import Path

from executors.settings import ExecutorSettings
from executors.site import site_settings
from recipes.config.slurm_settings import default_packager, dirty_problem, resolve, settings_problems
from recipes.core.shell_safe import slurm_problems
from recipes.launch.remote import dryrun_experiment, run_experiment, use_nemorun_home
from recipes.pipelines.runner import stage_job
from recipes.pipelines.status import record_start
from executors import build_executor


def stage_settings(pipeline, stage) -> ExecutorSettings:
    """The job of one stage: training on ``-p`` with its GPUs, the others on ``--cpu_partition`` (else ``-p``)."""
    training = stage.plan is not None
    gpu = training and stage.plan.settings.use_gpus
    settings = resolve(pipeline.args, site_settings()[0], nodes=1, ntasks_per_node=1, use_gpus=gpu,
                       gpus_per_node=stage.plan.settings.gpus_per_node if gpu else 0,
                       job_name_prefix=f"{pipeline.name}-")
    if not training:
        settings.partition = settings.cpu_partition or settings.partition
    if settings.container_image and not settings.container_mounts:
        settings.container_mounts = [f"{path}:{path}" for path in sorted({os.getcwd(), pipeline.state_dir})]
    return settings


def check_settings(pipeline) -> list[str]:
    """The Slurm problems of the whole pipeline (site file, account, names that reach sbatch, the packager,
    one node per stage)."""
    problems = site_settings()[1]  # stage_settings reads the site file too, but ignores its problems
    if not pipeline.stages:
        return problems
    args = pipeline.args
    settings = stage_settings(pipeline, pipeline.stages[0])
    settings.partition = args.partition or settings.partition  # -p itself, whichever stage comes first
    problems += settings_problems(settings)
    if args.cpu_partition:
        cpu = ExecutorSettings(partition=args.cpu_partition)
        problems += [line.replace("-p/--partition", "--cpu_partition") for line in slurm_problems(cpu)]
    for stage in pipeline.stages:
        if stage.plan is not None and stage.plan.opts.num_nodes > 1:
            problems.append(f"stage {stage.name}: num_nodes {stage.plan.opts.num_nodes}: a pipeline stage runs on "
                            f"one node; run python -m recipes.{stage.name} --executor slurm -N ... on its own")
    dirty = dirty_problem(settings.packager)
    if dirty and not (args.allow_dirty or args.dryrun):
        problems.append(dirty)
    return problems


def _tasks(pipeline) -> list[tuple[str, object, object]]:
    import nemo_run as run


    by_name = {stage.name: stage for stage in pipeline.stages}
    tasks = []
    for spec in pipeline.specs:
        if spec["action"] != "run":
            continue
        executor = build_executor("slurm", stage_settings(pipeline, by_name[spec["stage"]]))
        spec_for_job = {k: v for k, v in spec.items() if k not in ("action", "reason")}
        tasks.append((spec["stage"], run.Partial(stage_job, spec=spec_for_job), executor))
    return tasks


def submit(pipeline) -> int:
    tasks = _tasks(pipeline)
    Path(pipeline.state_dir).mkdir(parents=True, exist_ok=True)
    record_start(pipeline)
    return run_experiment(pipeline.name, tasks, executor="slurm",
                          packager=pipeline.args.packager or default_packager(), detach=pipeline.args.detach)


def dryrun_scripts(pipeline) -> None:
    """The sbatch script of every stage that would run, rendered by NeMo-Run with no cluster needed."""
    use_nemorun_home()
    tasks = _tasks(pipeline)
    if tasks:
        dryrun_experiment(pipeline.name, tasks, executor="slurm", packager=pipeline.args.packager or default_packager(),
                          title="sbatch script of stage {name}")
