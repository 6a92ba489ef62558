"""Where and how jobs run. One small module per executor; each exposes ``build(settings)`` and
``cpu_task(settings)``: the executor of a CPU-only task (one process, no GPUs) of the same job, and
declares ``OPTIONS``, the executor-specific options it honours (any other one set is refused), and
``CAPABILITIES`` (:class:`executors.capabilities.Capabilities`): what it can do, asked instead of its name.

The executor says where a job runs, the launcher how processes start (torchrun), the packager
what code travels (NeMo-Run's three axes). Site settings (account, partition, image, mounts) come
from flags, environment variables or a user config file (:mod:`executors.site`).
"""

from __future__ import annotations

import importlib

from executors.capabilities import Capabilities
from executors.settings import ExecutorSettings

EXECUTORS = ("local", "torchrun", "slurm", "docker")


def options(name: str) -> frozenset[str]:
    """The executor-specific options (argparse destinations) executor ``name`` honours (its ``OPTIONS``)."""
    return _module(name).OPTIONS


def capabilities(name: str) -> Capabilities:
    """What executor ``name`` can do (its ``CAPABILITIES``)."""
    return _module(name).CAPABILITIES


def option_names() -> frozenset[str]:
    """Every executor-specific option: one no executor honours is refused by the others."""
    return frozenset().union(*(options(name) for name in EXECUTORS))


def build_executor(name: str, settings: ExecutorSettings):
    """A NeMo-Run executor for ``name`` (``local``, ``torchrun``, ``slurm`` or ``docker``)."""
    return _module(name).build(settings)


def cpu_task_executor(name: str, settings: ExecutorSettings):
    """The NeMo-Run executor of a CPU-only task (e.g. the HF -> NeMo import) of a ``name`` job with ``settings``:
    one process, no GPUs, on the CPU partition where the executor has one (``settings.cpu_partition``)."""
    return _module(name).cpu_task(settings)


def _module(name: str):
    if name not in EXECUTORS:
        raise ValueError(f"unknown executor {name!r}; choose one of {', '.join(EXECUTORS)}")
    return importlib.import_module(f"executors.{name}")


__all__ = ["EXECUTORS", "Capabilities", "ExecutorSettings", "build_executor", "capabilities", "cpu_task_executor", "option_names", "options"]
