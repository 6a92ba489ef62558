"""One process on this machine (NeMo-Run LocalExecutor)."""

from __future__ import annotations

from executors.capabilities import Capabilities
from executors.settings import ExecutorSettings, venv_first_on_path

OPTIONS: frozenset[str] = frozenset()  # executor-specific options it honours (see executors.OPTION_NAMES)
CAPABILITIES = Capabilities(on_this_machine=True, many_processes="torchrun")


def build(settings: ExecutorSettings):
    import nemo_run as run

    return run.LocalExecutor(ntasks_per_node=1, nodes=1, env_vars={**venv_first_on_path(), **settings.public_env()})


def cpu_task(settings: ExecutorSettings):
    """Already one process."""
    return build(settings)
