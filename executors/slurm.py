"""Slurm batch jobs through NeMo-Run's SlurmExecutor (sbatch on this machine: LocalTunnel).

Containers go through pyxis (``--container-image``/``--container-mounts`` on srun). ``retries``
makes the batch script ``scontrol requeue`` itself after a non-zero exit -- outside the container,
where ``scontrol`` exists -- and the recipe's stable log dir makes the requeued job resume.
"""

from __future__ import annotations

import os
import shlex
from pathlib import Path

from executors.capabilities import Capabilities
from executors.settings import ExecutorSettings, venv_first_on_path

OPTIONS = frozenset({"account", "partition", "cpu_partition", "time", "retries", "dependency", "dependency_type",
                     "signal", "sbatch", "packager", "allow_dirty", "job_dir", "container_image",
                     "container_mounts", "detach"})  # executor-specific options it honours
CAPABILITIES = Capabilities(batch=True, containers="optional", scripted=True, packagers=("git", "none"),
                            multi_node=True)


def build(settings: ExecutorSettings):
    import nemo_run as run

    job_dir = settings.job_dir or os.path.join(run.config.get_nemorun_home(), "experiments")
    executor = run.SlurmExecutor(
        account=settings.account,
        partition=settings.partition,
        time=settings.time,
        nodes=settings.nodes,
        ntasks_per_node=settings.tasks_per_node,
        gpus_per_node=settings.gpus_per_node if settings.use_gpus and settings.gpus_per_node else None,
        container_image=settings.container_image,
        container_mounts=list(settings.container_mounts),
        # No container: the job uses this machine's software, so this virtualenv (see venv_first_on_path).
        env_vars=script_env(settings),
        retries=settings.retries,
        dependencies=[_dependency_handle(dep) for dep in settings.dependencies],
        dependency_type=settings.dependency_type,
        signal=settings.signal,
        additional_parameters=dict(settings.sbatch_params) or None,
        job_name_prefix=settings.job_name_prefix,
        tunnel=run.LocalTunnel(job_dir=job_dir),
        packager=_packager(settings.packager),
        # pmi2, not pmix: `srun --mpi=pmix` fails under pyxis on many sites (NeMo #14829).
        srun_args=["--mpi=pmi2"] if settings.container_image else None,
        setup_lines=_make_mount_sources(settings),
    )
    if settings.tasks_per_node > 1 or settings.nodes > 1:
        executor.launcher = "torchrun"
    return executor


def cpu_task(settings: ExecutorSettings):
    """A one-task job on one node that requests no GPUs, on the CPU partition when one is set."""
    return build(settings.one_cpu_process(partition=settings.cpu_partition or settings.partition))


def script_env(settings: ExecutorSettings) -> dict[str, str]:
    """``env_vars`` as NeMo-Run renders them, ``export KEY=VALUE``, unquoted: quote every value here.

    Without a container the job uses this machine's virtualenv (see venv_first_on_path); its PATH
    keeps ``$PATH`` expandable where the job runs.
    """
    env = {key: shlex.quote(str(value)) for key, value in settings.public_env().items()}
    if not settings.container_image and "PATH" not in env:
        venv = venv_first_on_path("")
        if venv:
            env = {"PATH": shlex.quote(venv["PATH"].rstrip(":")) + ':"$PATH"', **env}
    return env


def _make_mount_sources(settings: ExecutorSettings) -> str | None:
    """``mkdir -p`` of the mount sources, run by the batch script before srun (outside the container).

    pyxis refuses a mount whose source does not exist ("--container-mounts: source path does not exist"),
    and a new experiment's results folder is made by the job itself, inside the container: too late.
    """
    if not settings.container_image or not settings.container_mounts:
        return None
    return "mkdir -p " + " ".join(shlex.quote(m.split(":")[0]) for m in settings.container_mounts)


def rundir_clash(job_dir: str, experiment: str, container_image: str | None) -> str | None:
    """A problem line when NeMo-Run 0.11 would corrupt the job's paths, else None.

    Without a container, NeMo-Run rewrites every ``/nemo_run`` in the rendered sbatch script (its in-container
    run dir) to the job's directory, so a job directory such as ``/shared/nemo_run/experiments`` or an
    experiment called ``nemo_run...`` gets mangled --output/--chdir paths and the job dies before it starts.
    """
    path = f"{job_dir.rstrip('/')}/{experiment}"
    if container_image or "/nemo_run" not in path:
        return None
    return (f"NeMo-Run would rewrite '/nemo_run' in the job paths {path}/... (it reserves it for its container "
            "run dir); use a NEMORUN_HOME / --job_dir and an -E/--experiment name without a '/nemo_run' part")


def _dependency_handle(dep: str) -> str:
    """``--dependency 123`` -> the app handle NeMo-Run's ``parse_deps`` expects (``slurm_tunnel://nemo_run/123``)."""
    return dep if "://" in dep else f"slurm_tunnel://nemo_run/{dep}"


def _packager(kind: str):
    import nemo_run as run

    if kind == "git":  # the committed tree of the repository this library runs from
        repo = Path(__file__).resolve().parent.parent
        return run.GitArchivePackager(basepath=str(repo), subpath="", ref="HEAD")
    return run.Packager()
