"""One resolver of the Slurm settings, shared by training (:mod:`recipes.job.plan`), preprocessing
(:mod:`recipes.preprocess`, sharded or not) and pipelines (:mod:`recipes.pipelines.slurm`).

Each setting comes from the command's flag, else the environment or the site file
(:func:`executors.site.site_settings`), else a default; each problem with them is worded here once.
"""

from __future__ import annotations

import os
from pathlib import Path

from executors import capabilities
from executors.settings import ExecutorSettings
from executors.slurm import rundir_clash
from recipes.core.gitstate import uncommitted_files
from recipes.core.shell_safe import image_problems, mount_problems, slurm_problems

DEFAULT_TIME = "04:00:00"
ACCOUNT_REQUIRED = "-a/--account: required with --executor slurm; pass -a ACCOUNT or set RECIPES_ACCOUNT"


def repo_root() -> Path:
    return Path(__file__).resolve().parents[2]


def default_job_dir() -> str:
    """Where NeMo-Run keeps experiments without --job_dir (what it reads from $NEMORUN_HOME at import)."""
    return os.path.join(os.path.expanduser(os.environ.get("NEMORUN_HOME", "~/.nemo_run")), "experiments")


def default_packager() -> str:
    """Ship committed code when this library runs from a git checkout; else the image's installed copy."""
    return "git" if (repo_root() / ".git").exists() else "none"


def resolve(args, site: dict, *, time: str = DEFAULT_TIME, **fields) -> ExecutorSettings:
    """The settings every Slurm command shares, from ``args`` (its flags; a command without a flag has
    none), else ``site`` (the environment and site file), else the defaults; ``fields`` sets the rest
    (nodes, GPUs, ...) and wins. A container without mounts keeps ``container_mounts`` empty: the
    caller knows its job's folders."""

    def flag(name: str):
        return getattr(args, name, None)

    mounts = flag("container_mounts").split(",") if flag("container_mounts") else site.get("container_mounts", [])
    values = dict(
        account=flag("account") or site.get("account"),
        partition=flag("partition") or site.get("partition"),
        cpu_partition=flag("cpu_partition") or site.get("cpu_partition"),
        time=str(flag("time") or site.get("time") or time),
        container_image=flag("container_image") or site.get("container_image"),
        container_mounts=[m for m in mounts if m],
        retries=flag("retries") or 0,
        packager=flag("packager") or default_packager(),
        sbatch_params=dict(site.get("sbatch", {})),
        env_vars=dict(site.get("env_vars", {})),
    )
    return ExecutorSettings(**{**values, **fields})


def required_problems(settings: ExecutorSettings) -> list[str]:
    """What a Slurm job cannot do without: an account, and a retry count that is a count."""
    return ([] if settings.account else [ACCOUNT_REQUIRED]) + retries_problems(settings.retries)


def retries_problems(retries: int) -> list[str]:
    return [f"--retries {retries}: must be at least 0"] if retries < 0 else []


def settings_problems(settings: ExecutorSettings, *, mounts_explicit: bool = True) -> list[str]:
    """Every problem of resolved Slurm settings: the required ones and every value that reaches sbatch."""
    found = required_problems(settings) + slurm_problems(settings) + image_problems(settings.container_image)
    return found + (mount_problems(settings.container_mounts) if mounts_explicit else [])


def dirty_problem(packager: str, *, allow_dirty: bool = True) -> str | None:
    """A problem line when ``--packager git`` would leave uncommitted changes behind, else None.
    ``allow_dirty``: the command has ``--allow_dirty`` to name as a way out."""
    dirty = uncommitted_files(repo_root()) if packager == "git" else []
    if not dirty:
        return None
    return (f"--packager git ships committed code only; {len(dirty)} uncommitted change(s) (e.g. {dirty[0]}) "
            "would not travel. Commit them, or pass " + ("--allow_dirty, or " if allow_dirty else "")
            + "--packager none")


def rundir_problem(settings: ExecutorSettings, experiment: str) -> str | None:
    """NeMo-Run would mangle the job's paths (see :func:`executors.slurm.rundir_clash`)."""
    return rundir_clash(settings.job_dir or default_job_dir(), experiment, settings.container_image)


def launch_problems(plan) -> list[str]:
    """The checks of a Slurm training plan that read the repository and the job directory: problems, or, for
    a dry-run (or ``--allow_dirty``), warnings added to ``plan.warnings``. The plan is validated already."""
    if not capabilities(plan.executor).batch:
        return []
    found = []
    for problem, warn in ((dirty_problem(plan.settings.packager), plan.dryrun or plan.allow_dirty),
                          (rundir_problem(plan.settings, plan.opts.experiment), plan.dryrun)):
        if problem:
            (plan.warnings if warn else found).append(problem)
    return found
