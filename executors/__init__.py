"""Where and how jobs run. One small module per executor; each exposes ``build(settings)``.

The executor says where a job runs, the launcher how processes start (torchrun), the packager
what code travels (NeMo-Run's three axes). Site settings (account, partition, image, mounts) come
from flags, environment variables or a user config file (:mod:`executors.site`).
"""

from __future__ import annotations

import importlib

from executors.settings import ExecutorSettings

EXECUTORS = ("local", "torchrun", "slurm", "docker")


def build_executor(name: str, settings: ExecutorSettings):
    """A NeMo-Run executor for ``name`` (``local``, ``torchrun``, ``slurm`` or ``docker``)."""
    if name not in EXECUTORS:
        raise ValueError(f"unknown executor {name!r}; choose one of {', '.join(EXECUTORS)}")
    return importlib.import_module(f"executors.{name}").build(settings)


__all__ = ["EXECUTORS", "ExecutorSettings", "build_executor"]
