"""A local Docker container (NeMo-Run DockerExecutor): the NGC image on a single GPU box."""

from __future__ import annotations

from executors.capabilities import Capabilities
from executors.settings import ExecutorSettings

OPTIONS = frozenset({"container_image", "container_mounts"})  # executor-specific options it honours
CAPABILITIES = Capabilities(on_this_machine=True, containers="required", scripted=True)


def build(settings: ExecutorSettings):
    import nemo_run as run

    if not settings.container_image:
        raise ValueError("-i/--container_image is required with --executor docker")
    return run.DockerExecutor(
        container_image=settings.container_image,
        num_gpus=settings.gpus_per_node if settings.use_gpus else 0,
        ntasks_per_node=settings.tasks_per_node,
        volumes=list(settings.container_mounts),
        env_vars=settings.public_env(),
        packager=run.Packager(),
        ipc_mode="host",
        shm_size="16g",
        ulimits=["memlock:-1", "stack:67108864"],
        launcher="torchrun" if settings.tasks_per_node > 1 else None,
    )


def cpu_task(settings: ExecutorSettings):
    """One process in the same container, no GPUs."""
    return build(settings.one_cpu_process())
