"""Executor settings: a plain dataclass filled from flags, the environment and the site file."""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass, field, replace

# Names whose values are secrets: jobs get them from the submitting environment by name only.
class SettingsError(ValueError):
    """A bad executor or site setting: callers report it as one line per problem (usage error)."""

    def __init__(self, problems: list[str]):
        self.problems = list(problems)
        super().__init__("\n".join(self.problems))


SECRET_ENV_NAMES = ("HF_TOKEN", "HUGGING_FACE_HUB_TOKEN", "WANDB_API_KEY", "NGC_API_KEY")


@dataclass
class ExecutorSettings:
    nodes: int = 1
    gpus_per_node: int = 8
    # Processes per node; defaults to gpus_per_node (one rank per GPU). 0 GPUs -> CPU processes.
    ntasks_per_node: int | None = None
    account: str | None = None
    partition: str | None = None
    cpu_partition: str | None = None  # CPU-only tasks (HF -> NeMo import) go there when set
    time: str = "04:00:00"
    container_image: str | None = None
    container_mounts: list[str] = field(default_factory=list)
    retries: int = 0
    dependencies: list[str] = field(default_factory=list)
    dependency_type: str = "afterok"
    sbatch_params: dict[str, str] = field(default_factory=dict)
    env_vars: dict[str, str] = field(default_factory=dict)
    packager: str = "git"  # git: ship committed code; none: the image/installed copy is used
    signal: str | None = None  # sbatch --signal, e.g. "TERM@120": save and requeue before the limit
    job_dir: str | None = None  # where NeMo-Run keeps experiment/job files (a shared path on Slurm)
    job_name_prefix: str = ""
    use_gpus: bool = True

    @property
    def tasks_per_node(self) -> int:
        if self.ntasks_per_node:
            return self.ntasks_per_node
        return max(1, self.gpus_per_node)

    def one_cpu_process(self, **changes) -> "ExecutorSettings":
        """These settings for one process on one node that asks for no GPUs (a CPU-only task)."""
        return replace(self, nodes=1, gpus_per_node=0, ntasks_per_node=1, use_gpus=False, **changes)

    def public_env(self) -> dict[str, str]:
        """env_vars without secrets: NeMo-Run writes env_vars in plain text into scripts and configs."""
        return {k: v for k, v in self.env_vars.items() if k not in SECRET_ENV_NAMES}


def venv_first_on_path(rest_of_path: str | None = None) -> dict[str, str]:
    """Jobs start ``python``/``torchrun`` from PATH: put this interpreter's virtualenv first, as if activated.

    Without it a job launched by ``.venv/bin/python -m recipes...`` from an un-activated shell runs the
    system python and fails with "No module named nemo_run". ``rest_of_path`` defaults to this PATH
    (``"$PATH"`` for a script that expands it where the job runs).
    """
    if sys.prefix == sys.base_prefix:
        return {}
    rest = os.environ.get("PATH", "") if rest_of_path is None else rest_of_path
    return {"PATH": f"{os.path.join(sys.prefix, 'bin')}:{rest}"}
