"""The environment doctor's checks: each returns :class:`Check` lines with OK/WARN/FAIL and the fix.

WARN is for what a login node or a CPU CI machine lacks by design (GPUs, Slurm, Transformer Engine);
FAIL is for what breaks a job here: wrong pinned versions (megatron-core: a pair NeMo cannot call, see
:mod:`recipes.environment.stack`), a broken site file, a results directory
that cannot be written, a named model or tokenizer path that does not exist.
"""

from __future__ import annotations

import importlib.metadata as md
import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from executors.site import site_file, site_settings

CONSTRAINTS_ENV = "RECIPES_DOCTOR_CONSTRAINTS"  # another constraints file to check against
PACKAGES = ("nemo_toolkit", "nemo_run", "megatron_core", "transformer_engine", "torch", "lightning", "transformers")
TORCH_PIN = "2.13.0"  # scripts/setup.sh's TORCH_SPEC default (torch is not in constraints.txt)
MIN_NEMO = (2, 7)
FREE_DISK_WARN = 20 * 1024**3


@dataclass
class Check:
    name: str
    status: str  # OK, WARN or FAIL
    detail: str
    fix: str = ""

    def line(self) -> str:
        return f"{self.status:<4} {self.name}: {self.detail}" + (f"; fix: {self.fix}" if self.fix else "")


def _norm(name: str) -> str:
    return re.sub(r"[-_.]+", "_", name).lower()


def pinned_versions(path: Path) -> dict[str, str]:
    pins = {}
    for line in path.read_text().splitlines():
        name, sep, version = line.split("#")[0].strip().partition("==")
        if sep:
            pins[_norm(name)] = version.strip()
    return pins


def in_container() -> bool:
    """The NGC image: its NVIDIA stack is kept, so versions may differ from constraints.txt."""
    return Path("/opt/NeMo").is_dir() or bool(os.environ.get("NVIDIA_PYTORCH_VERSION"))


def check_python() -> list[Check]:
    version = ".".join(map(str, sys.version_info[:3]))
    if sys.version_info < (3, 10):
        return [Check("python", "FAIL", f"{version} at {sys.executable}", "use Python 3.10+ (3.11 is tested)")]
    return [Check("python", "OK", f"{version} at {sys.executable}")]


def check_packages(constraints: Path) -> list[Check]:
    pins = pinned_versions(constraints)
    pins.setdefault("torch", TORCH_PIN)
    container, checks = in_container(), []
    for name in PACKAGES:
        try:
            installed = md.version(name)
        except md.PackageNotFoundError:
            installed = None
        checks.append(_package_check(name, installed, pins.get(_norm(name)), container))
    return checks


def _package_check(name: str, installed: str | None, pinned: str | None, container: bool) -> Check:
    label = f"package {name}"
    if installed is None:
        if name == "transformer_engine":
            return Check(label, "WARN", "not installed (FP8 and fused kernels unavailable)",
                         "use the NGC NeMo image on GPU nodes; CPU-only machines do not need it")
        return Check(label, "FAIL", "not installed", "bash scripts/setup.sh (or --container in the NGC image)")
    if name == "nemo_toolkit" and tuple(int(p) for p in re.findall(r"\d+", installed)[:2]) < MIN_NEMO:
        return Check(label, "FAIL", f"{installed} is older than 2.7", "use nvcr.io/nvidia/nemo:26.02 (see README)")
    if name == "megatron_core" and pinned and installed.split("+")[0] != pinned:
        # Judged by what NeMo calls, not by version equality (recipes/environment/stack.py: the pair check).
        return Check(label, "OK", f"{installed} (constraints.txt pins {pinned}; see the nemo/megatron-core pair check)")
    if pinned is None or installed.split("+")[0] == pinned:
        return Check(label, "OK", installed + (f" (pinned {pinned})" if pinned else ""))
    if container:  # the image's own builds are kept on purpose
        return Check(label, "WARN", f"{installed}, tested with {pinned} (container build kept)")
    return Check(label, "FAIL", f"{installed} differs from the tested {pinned} in constraints.txt",
                 "bash scripts/setup.sh (reinstalls the pinned set)")


def _run(argv: list[str], timeout: int = 20) -> str | None:
    try:
        return subprocess.run(argv, capture_output=True, text=True, timeout=timeout).stdout
    except (OSError, subprocess.SubprocessError):
        return None


def check_gpus() -> list[Check]:
    out = _run(["nvidia-smi", "--query-gpu=name,memory.total,driver_version", "--format=csv,noheader"]) \
        if shutil.which("nvidia-smi") else None
    gpus = [line.strip() for line in (out or "").splitlines() if line.strip()]
    if not gpus:
        return [Check("gpus", "WARN", "no NVIDIA GPU visible (nvidia-smi)",
                      "fine on a login node or for -M tiny on CPU; Megatron jobs need GPUs where they run")]
    checks = [Check("gpus", "OK", f"{len(gpus)} × {gpus[0]}")]
    try:
        import torch
    except ImportError:
        return checks
    if not torch.cuda.is_available():
        checks.append(Check("cuda", "FAIL", f"GPUs visible but torch {torch.__version__} sees no CUDA device",
                            "install a CUDA build of torch matching the driver (TORCH_SPEC=... bash scripts/setup.sh)"))
    else:
        nccl = ".".join(map(str, torch.cuda.nccl.version())) if hasattr(torch.cuda, "nccl") else "?"
        checks.append(Check("cuda", "OK", f"CUDA {torch.version.cuda}, NCCL {nccl}, torch {torch.__version__}"))
    return checks


def check_slurm(site: dict) -> list[Check]:
    missing = [tool for tool in ("sbatch", "srun", "squeue", "sacct", "scontrol") if not shutil.which(tool)]
    if missing:
        return [Check("slurm", "WARN", f"client tools not found: {', '.join(missing)}",
                      "run Slurm launches on a login node with the Slurm client; local executors do not need it")]
    checks = [Check("slurm", "OK", "sbatch, srun, squeue, sacct, scontrol")]
    help_text = _run(["srun", "--help"]) or ""
    if "--container-image" in help_text:
        checks.append(Check("pyxis", "OK", "srun offers --container-image"))
    else:
        status = "FAIL" if site.get("container_image") else "WARN"
        checks.append(Check("pyxis", status, "srun --help offers no --container-image (pyxis plugin missing)",
                            "ask the admins for pyxis/enroot, or launch without -i/--container_image"))
    return checks


def check_site() -> tuple[list[Check], dict]:
    site, problems = site_settings()
    if problems:
        return [Check("site settings", "FAIL", "; ".join(problems),
                      f"fix {site_file()} or point RECIPES_SITE_CONFIG elsewhere")], {}
    shown = ", ".join(f"{key}={site[key]}" for key in sorted(site) if key not in ("env_vars", "sbatch"))
    source = site_file() if site_file().is_file() else "no site file"
    return [Check("site settings", "OK", f"{shown or 'none set'} ({source})")], site
