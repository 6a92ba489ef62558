"""Named filters for third-party warnings that do not apply to this library's runs.

Each filter names the module and the message it silences and says why the warning does not apply;
anything else (a genuine warning) still shows. :func:`install` runs when ``recipes`` is imported
(every ``python -m recipes.*`` entry point, every job that imports a recipe); :func:`child_env`
gives the same Python-warning filters to processes that import torch before ``recipes``
(NeMo-Run's job runner), through ``PYTHONWARNINGS``. Light on purpose: no torch, no NeMo.
"""

from __future__ import annotations

import json
import logging
import os
import re
import warnings
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class WarningFilter:
    category: type[Warning]
    modules: tuple[str, ...]  # the modules that call warnings.warn (exact names)
    message: str              # the start of the message
    reason: str               # why it does not apply here

    def applies(self) -> bool:
        return True


@dataclass(frozen=True)
class NoGpuFilter(WarningFilter):
    """Silenced only where no NVIDIA GPU exists: with one, the advice may matter."""

    def applies(self) -> bool:
        return not has_nvidia_device()


def has_nvidia_device() -> bool:
    """An NVIDIA driver device node (no torch import: this runs before every entry point)."""
    return Path("/dev/nvidiactl").exists() or Path("/proc/driver/nvidia/gpus").is_dir()


TE_APEX_MODULES = ("megatron.core.optimizer", "megatron.core.optimizer.optimizer",
                   "megatron.core.optimizer.clip_grads",
                   "megatron.core.distributed.fsdp.src.megatron_fsdp.mixed_precision",
                   "megatron.core.distributed.fsdp.src.megatron_fsdp.utils")  # 0.15's spelling of the last

WARNING_FILTERS = (
    WarningFilter(
        FutureWarning, ("torch.cuda",), "The pynvml package is deprecated",
        "torch.cuda imports pynvml, which NeMo's dependencies install; the project never calls it and "
        "a user cannot act on it (the wheel already forwards to nvidia-ml-py)"),
    NoGpuFilter(
        UserWarning, TE_APEX_MODULES, "Transformer Engine and Apex are not installed",
        "megatron-core's import-time notice about fused GPU kernels; without an NVIDIA device they cannot "
        "run at all, and the Megatron CPU mode uses torch's implementations on purpose (its one visible "
        "consequence, the distributed optimizer switched off, is said in its own line)"),
    WarningFilter(
        UserWarning, ("lightning.fabric.plugins.environments.slurm",),
        "The `srun` command is available on your system but is not used",
        "Lightning's hint on a machine with Slurm installed; a local run is meant to run without srun, "
        "and Slurm runs go through NeMo-Run's sbatch script, which does use srun"),
    WarningFilter(
        FutureWarning, ("lightning.pytorch.utilities._pytree",), "`isinstance(treespec, LeafSpec)` is deprecated",
        "Lightning 2.4's own use of an alias torch 2.13 deprecated; nothing in this project's code or "
        "a user's command can change it"),
)

MISTRAL_TOKENIZERS = {"mistral", "mistral3", "voxtral", "ministral", "pixtral"}


class MistralRegexFilter(logging.Filter):
    """transformers 4.57 warns about Mistral's pre-tokenizer regex for every local tokenizer whose folder
    was saved by transformers > 4.57.2 (its version check skips only older ones), Llama folders included.
    Dropped only when the folder's config names a non-Mistral model type."""

    logger = "transformers.tokenization_utils_base"
    pattern = re.compile(r"^The tokenizer you are loading from '(?P<path>.+)' with an incorrect regex pattern")

    def filter(self, record: logging.LogRecord) -> bool:
        match = self.pattern.match(str(record.msg))
        if not match:
            return True
        config = Path(match.group("path")) / "config.json"
        try:
            model_type = json.loads(config.read_text()).get("model_type")
        except (OSError, ValueError):
            return True
        return model_type is None or model_type in MISTRAL_TOKENIZERS


class FusedNormMappingFilter(logging.Filter):
    """NeMo's Llama state mapping names the RMSNorms by Transformer Engine's fused names
    (``linear_qkv.layer_norm_weight``, ``linear_fc1.layer_norm_weight``); without TE the model has
    separate norms, which recipes.conversion.connectors maps itself (round trips verified exact), so
    NeMo's "No matches found" for exactly those keys is expected. Any other unmatched key still shows."""

    logger = "nemo_logger"
    fused = ("decoder.layers.*.self_attention.linear_qkv.layer_norm_weight",
             "decoder.layers.*.mlp.linear_fc1.layer_norm_weight")
    pattern = re.compile(r"^No matches found for source key: source_key='(?P<source>[^']*)' target_key='(?P<target>[^']*)'$")

    def filter(self, record: logging.LogRecord) -> bool:
        match = self.pattern.match(str(record.msg))
        return not (match and (match.group("source") in self.fused or match.group("target") in self.fused))


LOG_FILTERS = (MistralRegexFilter, FusedNormMappingFilter)


def install() -> None:
    """Add the filters to this process (idempotent: warnings dedupes identical filters)."""
    for item in WARNING_FILTERS:
        if item.applies():
            for module in item.modules:
                warnings.filterwarnings("ignore", message=re.escape(item.message), category=item.category,
                                        module=re.escape(module) + r"\Z")
    for filter_class in LOG_FILTERS:
        logger = logging.getLogger(filter_class.logger)
        if not any(isinstance(f, filter_class) for f in logger.filters):
            logger.addFilter(filter_class())


def pythonwarnings() -> str:
    """The filters as ``PYTHONWARNINGS`` entries (``action:message:category:module``), comma-separated."""
    entries = [f"ignore:{item.message}:{item.category.__name__}:{module}"
               for item in WARNING_FILTERS if item.applies() for module in item.modules]
    return ",".join(entry for entry in entries if "," not in entry)


def child_env(environ: dict[str, str] | None = None) -> dict[str, str]:
    """``{"PYTHONWARNINGS": ...}`` for a child process: ours first, then the user's own entries, which
    Python applies later and so win (``PYTHONWARNINGS=default`` shows everything again)."""
    environ = os.environ if environ is None else environ
    ours, user = pythonwarnings(), environ.get("PYTHONWARNINGS", "")
    if ours and user.startswith(ours):
        return {"PYTHONWARNINGS": user}
    return {"PYTHONWARNINGS": ",".join(part for part in (ours, user) if part)}
