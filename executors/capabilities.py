"""What an executor can do, declared by each executor module (``CAPABILITIES``) and asked by the library
instead of comparing executor names."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Capabilities:
    batch: bool = False  # submitted to a batch scheduler: account, job scripts, dependencies, requeue, detach
    on_this_machine: bool = False  # runs here: this machine's GPUs; Ctrl-C stops it; its logs are followed
    containers: str = ""  # "required", "optional" (pyxis), or "" (none)
    scripted: bool = False  # values are rendered into a batch script or a command line (checked for the shell)
    packagers: tuple[str, ...] = ()  # how code travels (NeMo-Run packagers); () runs the code where it is
    multi_node: bool = False  # -N above 1
    many_processes: str = ""  # the executor that starts several processes on this machine, when not this one
