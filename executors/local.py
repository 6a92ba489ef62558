"""One process on this machine (NeMo-Run LocalExecutor)."""

from __future__ import annotations

from executors.settings import ExecutorSettings


def build(settings: ExecutorSettings):
    import nemo_run as run

    return run.LocalExecutor(ntasks_per_node=1, nodes=1, env_vars=settings.public_env())
