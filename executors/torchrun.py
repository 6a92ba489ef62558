"""N processes on this machine under torchrun (NeMo-Run LocalExecutor + the torchrun launcher).

One rank per GPU; on a machine without GPUs (the small-model backend) one CPU rank per ``-G``.
"""

from __future__ import annotations

from executors import local
from executors.capabilities import Capabilities
from executors.settings import ExecutorSettings, venv_first_on_path

OPTIONS: frozenset[str] = frozenset()  # executor-specific options it honours (see executors.OPTION_NAMES)
CAPABILITIES = Capabilities(on_this_machine=True)


def build(settings: ExecutorSettings):
    import nemo_run as run

    return run.LocalExecutor(ntasks_per_node=settings.tasks_per_node, nodes=1, launcher="torchrun",
                             env_vars={**venv_first_on_path(), **settings.public_env()})


def cpu_task(settings: ExecutorSettings):
    """One process, without torchrun."""
    return local.build(settings)
