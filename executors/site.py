"""Site settings: flags > environment variables > the user's site file. Nothing site-specific is hard-coded.

Site file: ``$RECIPES_SITE_CONFIG`` or ``~/.config/llama-recipes/site.yaml``::

    account: my_account
    partition: batch
    container_image: nvcr.io/nvidia/nemo:26.02
    container_mounts: [/lustre/data:/data]
    time: "04:00:00"
    gpu_memory: 80          # GiB of one GPU: the pre-flight memory check
    sbatch: {qos: normal}
    env_vars: {NCCL_DEBUG: WARN}
"""

from __future__ import annotations

import os
from pathlib import Path

from recipes.errors import UsageError

SITE_FILE_ENV = "RECIPES_SITE_CONFIG"
# setting -> environment variables, first set wins (SBATCH_* are sbatch's own input variables).
ENV_NAMES = {
    "account": ("RECIPES_ACCOUNT", "SBATCH_ACCOUNT"),
    "partition": ("RECIPES_PARTITION", "SBATCH_PARTITION"),
    "container_image": ("RECIPES_CONTAINER_IMAGE",),
    "container_mounts": ("RECIPES_CONTAINER_MOUNTS",),
    "time": ("RECIPES_TIME", "SBATCH_TIMELIMIT"),
    "gpu_memory": ("RECIPES_GPU_MEMORY",),
}
KEYS = set(ENV_NAMES) | {"sbatch", "env_vars"}


def site_file() -> Path:
    return Path(os.environ.get(SITE_FILE_ENV) or Path.home() / ".config" / "llama-recipes" / "site.yaml")


def load_site_file(path: Path | None = None) -> dict:
    path = path or site_file()
    if not path.is_file():
        return {}
    import yaml

    try:
        data = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as exc:
        raise UsageError(f"{path}: not valid YAML ({str(exc).splitlines()[0]}); fix or remove the file") from None
    if not isinstance(data, dict):
        raise UsageError(f"{path}: expected a mapping of settings; see README 'Site settings'")
    unknown = set(data) - KEYS
    if unknown:
        raise UsageError(f"{path}: unknown setting(s) {', '.join(sorted(unknown))}; known: {', '.join(sorted(KEYS))}")
    return data


def site_defaults() -> dict:
    """Settings from the environment and the site file (environment wins)."""
    values = load_site_file()
    for key, names in ENV_NAMES.items():
        for name in names:
            if os.environ.get(name):
                values[key] = os.environ[name]
                break
    mounts = values.get("container_mounts")
    if isinstance(mounts, str):
        values["container_mounts"] = [m for m in mounts.split(",") if m]
    return values
