"""A pipeline on Slurm: one NeMo-Run experiment, one job per stage, all submitted at once.

NeMo-Run's sequential mode gives each job an ``afterok`` dependency on the one before. Each job runs
:func:`recipes.pipeline_run.stage_job`: the stage's command in the job (training with ``--executor
local``, so torchrun on the job's GPUs when ``-G`` > 1), then the stage's manifest. Training
stages go to ``-p``; the others request no GPUs and go to ``--cpu_partition``; ``--retries`` requeues a
failed job, which resumes.
"""

from __future__ import annotations

import os
from pathlib import Path

from executors.settings import ExecutorSettings


def stage_settings(pipeline, stage) -> ExecutorSettings:
    from executors.site import site_settings
    from recipes.plan import default_packager

    args, site = pipeline.args, site_settings()[0]
    training = stage.plan is not None
    gpu = training and stage.plan.settings.use_gpus
    cpu_partition = args.cpu_partition or site.get("cpu_partition")
    partition = args.partition or site.get("partition")
    image = args.container_image or site.get("container_image")
    mounts = args.container_mounts.split(",") if args.container_mounts else site.get("container_mounts", [])
    if image and not mounts:
        mounts = [f"{path}:{path}" for path in sorted({os.getcwd(), pipeline.state_dir})]
    return ExecutorSettings(
        nodes=1, gpus_per_node=stage.plan.settings.gpus_per_node if gpu else 0, ntasks_per_node=1, use_gpus=gpu,
        account=args.account or site.get("account"), partition=partition if training else (cpu_partition or partition),
        time=str(args.time or site.get("time") or "04:00:00"), container_image=image,
        container_mounts=[m for m in mounts if m], retries=args.retries,
        packager=args.packager or default_packager(), sbatch_params=dict(site.get("sbatch", {})),
        env_vars=dict(site.get("env_vars", {})), job_name_prefix=f"{pipeline.name}-")


def check_settings(pipeline) -> list[str]:
    """The Slurm problems of the whole pipeline (account, names that reach sbatch, one node per stage)."""
    from recipes.shell_safe import image_problems, mount_problems, slurm_problems

    problems = []
    if not pipeline.stages:
        return problems
    settings = stage_settings(pipeline, pipeline.stages[0])
    settings.partition = pipeline.args.partition or settings.partition  # -p itself, whichever stage comes first
    if not settings.account:
        problems.append("-a/--account: required with --executor slurm; pass -a ACCOUNT or set RECIPES_ACCOUNT")
    if pipeline.args.retries < 0:
        problems.append(f"--retries {pipeline.args.retries}: must be at least 0")
    problems += slurm_problems(settings) + mount_problems(settings.container_mounts) + \
        image_problems(settings.container_image)
    if pipeline.args.cpu_partition:
        cpu = ExecutorSettings(partition=pipeline.args.cpu_partition)
        problems += [line.replace("-p/--partition", "--cpu_partition") for line in slurm_problems(cpu)]
    for stage in pipeline.stages:
        if stage.plan is not None and stage.plan.opts.num_nodes > 1:
            problems.append(f"stage {stage.name}: num_nodes {stage.plan.opts.num_nodes}: a pipeline stage runs on "
                            f"one node; run python -m recipes.{stage.name} --executor slurm -N ... on its own")
    return problems


def _tasks(pipeline) -> list[tuple[str, object, object]]:
    import nemo_run as run

    from executors import build_executor
    from recipes.pipeline_run import stage_job

    by_name = {stage.name: stage for stage in pipeline.stages}
    tasks = []
    for spec in pipeline.specs:
        if spec["action"] != "run":
            continue
        executor = build_executor("slurm", stage_settings(pipeline, by_name[spec["stage"]]))
        spec_for_job = {k: v for k, v in spec.items() if k not in ("action", "reason")}
        tasks.append((spec["stage"], run.Partial(stage_job, spec=spec_for_job), executor))
    return tasks


def _check_packager(pipeline) -> None:
    from recipes.errors import UsageError
    from recipes.gitstate import uncommitted_files
    from recipes.plan import default_packager, repo_root

    packager = pipeline.args.packager or default_packager()
    dirty = uncommitted_files(repo_root()) if packager == "git" else []
    if dirty and not (pipeline.args.allow_dirty or pipeline.args.dryrun):
        raise UsageError(f"--packager git ships committed code only; {len(dirty)} uncommitted change(s) (e.g. "
                         f"{dirty[0]}) would not travel. Commit them, or pass --allow_dirty, or --packager none")


def submit(pipeline) -> int:
    from recipes.pipeline_plan import record_start
    from recipes.plan import default_packager
    from recipes.remote import run_experiment

    _check_packager(pipeline)
    tasks = _tasks(pipeline)
    Path(pipeline.state_dir).mkdir(parents=True, exist_ok=True)
    record_start(pipeline)
    return run_experiment(pipeline.name, tasks, executor="slurm",
                          packager=pipeline.args.packager or default_packager(), detach=pipeline.args.detach)


def dryrun_scripts(pipeline) -> None:
    """The sbatch script of every stage that would run, rendered by NeMo-Run with no cluster needed."""
    import nemo_run as run

    from recipes.plan import default_packager
    from recipes.remote import in_code_dir, use_nemorun_home
    from recipes.runrecord import DRYRUN_MARKER
    from recipes.secrets import redact

    use_nemorun_home()
    tasks = _tasks(pipeline)
    if not tasks:
        return
    with in_code_dir("slurm", pipeline.args.packager or default_packager()), \
            run.Experiment(pipeline.name, executor=tasks[-1][2], log_level="ERROR") as exp:
        for name, task, executor in tasks:
            exp.add(task, executor=executor, name=name)
        exp.dryrun(log=False, delete_exp_dir=False)
        exp_dir = Path(exp._exp_dir)
    (exp_dir / DRYRUN_MARKER).touch()  # recipes.status: a dry-run, not a run
    for name, _, _ in tasks:
        script = exp_dir / f"{name}_sbatch.sh"
        print(f"# ---- sbatch script of stage {name}: {script} ----")
        print(redact(script.read_text()))
