"""Doctor checks on paths: the model and tokenizer named by flags (offline), the results directory."""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

from recipes.config.models import get_model
from recipes.core.errors import UsageError
from recipes.data.tokenizer import in_hf_cache, resolve_tokenizer_path
from recipes.environment.checks import FREE_DISK_WARN, Check


def check_model(model: str, hf_model_id: str | None, nemo_model: str | None, tokenizer: str | None) -> list[Check]:
    try:
        spec = get_model(model)
    except UsageError as exc:
        return [Check("model", "FAIL", str(exc), "pick a model from python -m recipes.pretrain --help")]
    checks = [Check("model", "OK", f"{spec.name}: {spec.description}")]
    if nemo_model:
        ok = Path(nemo_model, "context").is_dir() and Path(nemo_model, "weights").is_dir()
        checks.append(Check("nemo checkpoint", "OK" if ok else "FAIL", nemo_model + ("" if ok else " has no context/ and weights/"),
                            "" if ok else "pass a NeMo checkpoint folder (python -m recipes.conversion.command import)"))
    if hf_model_id:
        checks.append(_hf_weights_check(hf_model_id, in_hf_cache))
    name = tokenizer or hf_model_id or spec.hf_id
    try:
        checks.append(Check("tokenizer", "OK", f"{name} -> {resolve_tokenizer_path(name)}"))
    except UsageError as exc:
        # A hub id that is only missing from this machine's cache may be downloaded where the job runs.
        is_path = name.startswith(("/", "./", "../", "~")) or os.path.exists(name)
        checks.append(Check("tokenizer", "FAIL" if is_path else "WARN", str(exc),
                            "pass --tokenizer with an existing folder or HF id"))
    return checks


def _hf_weights_check(hf_model_id: str, in_hf_cache) -> Check:
    if hf_model_id.startswith(("/", "./", "../")) or os.path.isdir(hf_model_id):
        ok = Path(hf_model_id, "config.json").is_file()
        return Check("hf model", "OK" if ok else "FAIL", hf_model_id + ("" if ok else " has no config.json"),
                     "" if ok else "pass an HF model folder (config.json, *.safetensors)")
    if in_hf_cache(hf_model_id, "config.json"):
        return Check("hf model", "OK", f"{hf_model_id} in the local HF cache")
    return Check("hf model", "WARN", f"{hf_model_id} is not in the local HF cache: the job downloads it",
                 "huggingface-cli download it first where the hub is reachable, or pass a local folder")


def check_results_dir(results_dir: str) -> list[Check]:
    path = Path(results_dir).expanduser().absolute()
    existing = next((p for p in (path, *path.parents) if p.exists()), None)
    writable = existing is not None and existing.is_dir() and os.access(existing, os.W_OK | os.X_OK)
    if writable:
        try:  # the permission bits can lie (root squash, read-only mounts): write and remove a file
            with tempfile.NamedTemporaryFile(dir=existing, prefix=".doctor-"):
                pass
        except OSError:
            writable = False
    if not writable:
        return [Check("results dir", "FAIL", f"cannot write {path} ({existing} is not a writable folder)",
                      "pass --results_dir on a writable path or set RECIPES_RESULTS_DIR")]
    free = shutil.disk_usage(existing).free
    status = "OK" if free >= FREE_DISK_WARN else "WARN"
    return [Check("results dir", status, f"{path} writable, {free / 1024**3:.0f} GiB free",
                  "" if status == "OK" else "checkpoints of 8B/70B need hundreds of GiB: free space or move --results_dir")]
