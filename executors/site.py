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

from executors.settings import SettingsError

SITE_FILE_ENV = "RECIPES_SITE_CONFIG"
# setting -> environment variables, first set wins (SBATCH_* are sbatch's own input variables).
ENV_NAMES = {
    "account": ("RECIPES_ACCOUNT", "SBATCH_ACCOUNT"),
    "partition": ("RECIPES_PARTITION", "SBATCH_PARTITION"),
    "cpu_partition": ("RECIPES_CPU_PARTITION",),
    "container_image": ("RECIPES_CONTAINER_IMAGE",),
    "container_mounts": ("RECIPES_CONTAINER_MOUNTS",),
    "time": ("RECIPES_TIME", "SBATCH_TIMELIMIT"),
    "gpu_memory": ("RECIPES_GPU_MEMORY",),
}
KEYS = set(ENV_NAMES) | {"sbatch", "env_vars"}


def site_file() -> Path:
    return Path(os.environ.get(SITE_FILE_ENV) or Path.home() / ".config" / "llama-recipes" / "site.yaml")


MAPPINGS = ("sbatch", "env_vars")


def load_site_file(path: Path | None = None) -> tuple[dict, list[str]]:
    """(settings, problems) of the site file; every problem is listed, not just the first."""
    named = path is not None or bool(os.environ.get(SITE_FILE_ENV))
    path = path or site_file()
    text, problem = _read(path, named)
    if problem or text is None:
        return {}, [problem] if problem else []
    import yaml

    try:
        data = yaml.safe_load(text) or {}
    except yaml.YAMLError as exc:
        return {}, [f"{path}: not valid YAML ({str(exc).splitlines()[0]}); fix or remove the file"]
    if not isinstance(data, dict):
        return {}, [f"{path}: expected a mapping of settings; see README 'Site settings'"]
    problems = []
    unknown = set(map(str, data)) - KEYS
    if unknown:
        problems.append(f"{path}: unknown setting(s) {', '.join(sorted(unknown))}; known: {', '.join(sorted(KEYS))}")
    for key in MAPPINGS:
        if key in data and not isinstance(data[key], dict):
            problems.append(f"{path}: {key} must be a mapping of NAME: value")
    for key in ("account", "partition", "container_image", "time"):
        if key in data and not isinstance(data[key], (str, int)):
            problems.append(f"{path}: {key} must be a single value")
    if isinstance(data.get("container_mounts"), str):
        data["container_mounts"] = [m for m in data["container_mounts"].split(",") if m]
    elif "container_mounts" in data and not isinstance(data["container_mounts"], list):
        problems.append(f"{path}: container_mounts must be a list of SRC:DST")
    good = {k: v for k, v in data.items() if k in KEYS and not any(p.startswith(f"{path}: {k} ") for p in problems)}
    for key in MAPPINGS:
        if key in good:
            good[key] = {str(k): str(v) for k, v in good[key].items()}
    return good, problems


def _read(path: Path, named: bool) -> tuple[str | None, str | None]:
    """(text, problem) of the site file. Only the default file may be absent: a path given in
    $RECIPES_SITE_CONFIG that is not a readable file is a mistake the user must hear about, not an
    empty site (which would quietly drop the account, partition, image...). /dev/null means no site file."""
    where = f"{SITE_FILE_ENV}={path}" if named else str(path)
    fix = f"point {SITE_FILE_ENV} at a YAML file (or /dev/null for none)" if named else "remove it or make it a file"
    if path.is_dir():
        return None, f"{where}: is a folder, not a settings file; {fix}"
    if not path.exists():
        return None, (f"{where}: no such file; {fix}" if named else None)
    try:
        return path.read_text(encoding="utf-8"), None
    except UnicodeDecodeError:
        return None, f"{where}: not UTF-8 text; {fix}"
    except OSError as exc:
        return None, f"{where}: cannot read it ({exc.strerror or exc}); check its permissions or {fix}"


def site_settings() -> tuple[dict, list[str]]:
    """(settings from the environment and the site file, problems found); the environment wins."""
    values, problems = load_site_file()
    for key, names in ENV_NAMES.items():
        for name in names:
            if os.environ.get(name):
                values[key] = os.environ[name]
                break
    mounts = values.get("container_mounts")
    if isinstance(mounts, str):
        values["container_mounts"] = [m for m in mounts.split(",") if m]
    return values, problems


def site_defaults() -> dict:
    """Settings from the environment and the site file; raises SettingsError listing every problem."""
    values, problems = site_settings()
    if problems:
        raise SettingsError(problems)
    return values
