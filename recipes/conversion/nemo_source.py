"""Validate ``export --source``: a NeMo 2 checkpoint directory (``weights/`` + ``context/``), full or
LoRA. Runs before any output is written and without importing NeMo."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from recipes.conversion.staging import tree_bytes
from recipes.core.errors import UsageError

ADAPTER_META = "adapter_metadata.json"
_LLAMA_MODELS = ("LlamaModel", "MLPerfLoRALlamaModel")
INCOMPLETE = "the checkpoint was not completely written or copied; copy it again or pass another checkpoint"


@dataclass(frozen=True)
class NemoSource:
    path: Path
    model_bytes: int  # size of the model weights (no optimizer state)
    lora_base: Path | None = None  # base model checkpoint of a LoRA checkpoint

    @property
    def output_bytes(self) -> int:
        # A LoRA checkpoint is merged into a temporary full checkpoint first, then exported.
        return self.model_bytes * (2 if self.lora_base else 1)


def is_nemo_ckpt(path: Path) -> bool:
    return (path / "weights").is_dir() and (path / "context").is_dir()


def checkpoints_below(path: Path) -> list[Path]:
    found = [p for pattern in ("*", "*/*", "*/*/*") for p in sorted(path.glob(pattern)) if is_nemo_ckpt(p)]
    return found[:5]


def _model_targets(ckpt: Path, where: str) -> tuple[str, str]:
    import yaml

    model_yaml = ckpt / "context" / "model.yaml"
    try:
        model = yaml.safe_load(model_yaml.read_text())
    except (OSError, yaml.YAMLError) as exc:
        raise UsageError(f"{where}: cannot read context/model.yaml ({exc}); the checkpoint is incomplete") from exc
    config = (model or {}).get("config") or {}
    return str((model or {}).get("_target_", "")), str(config.get("_target_", "") if isinstance(config, dict) else "")


def check_llama_ckpt(ckpt: Path, where: str) -> None:
    model_target, config_target = _model_targets(ckpt, where)
    name = model_target.rsplit(".", 1)[-1]
    if name not in _LLAMA_MODELS or "Llama4" in config_target:
        what = config_target.rsplit(".", 1)[-1] or name or "unknown"
        raise UsageError(f"{where}: the checkpoint holds a {name or 'non-Llama'} ({what}), not a Llama 2/3.x model; "
                         "this exporter handles NeMo LlamaModel checkpoints only")


def model_weight_bytes(weights: Path) -> int:
    """Bytes of the model tensors in a torch_dist checkpoint (optimizer state excluded)."""
    try:
        from torch.distributed.checkpoint import FileSystemReader
        from torch.distributed.checkpoint.metadata import TensorStorageMetadata

        metadata = FileSystemReader(str(weights)).read_metadata()
    except Exception:  # unknown layout: the whole folder is a safe over-estimate
        return tree_bytes(weights)
    total = 0
    for key, item in metadata.state_dict_metadata.items():
        if key.startswith("module.") and isinstance(item, TensorStorageMetadata):
            total += item.size.numel() * item.properties.dtype.itemsize
    return total or tree_bytes(weights)


def weights_problems(weights: Path, where: str) -> list[str]:
    """A torch_dist ``weights/`` folder that cannot load: no ``.metadata``, or a shard file it lists missing
    or cut short (each tensor's offset + length must lie inside its file). Reads only the metadata."""
    fix = INCOMPLETE
    missing = [name for name in (".metadata", "common.pt", "metadata.json") if not (weights / name).is_file()]
    if missing:
        return [f"{where}: weights/{missing[0]} is missing; {fix}"]
    from torch.distributed.checkpoint import FileSystemReader

    try:
        storage = FileSystemReader(str(weights)).read_metadata().storage_data
    except Exception as exc:  # noqa: BLE001 - any unreadable metadata is the checkpoint's problem
        return [f"{where}: weights/.metadata is unreadable ({type(exc).__name__}); {fix}"]
    ends: dict[str, int] = {}
    for info in storage.values():
        ends[info.relative_path] = max(ends.get(info.relative_path, 0), info.offset + info.length)
    for name, end in sorted(ends.items()):
        shard = weights / name
        if not shard.is_file():
            return [f"{where}: weights/{name} is missing; {fix}"]
        if shard.stat().st_size < end:
            return [f"{where}: weights/{name} is truncated ({shard.stat().st_size:,} of {end:,} bytes); {fix}"]
    return []


def completeness_problems(ckpt: Path, where: str) -> list[str]:
    """What a save or copy cut short leaves out of a NeMo 2 checkpoint: ``context/io.json`` (NeMo rebuilds
    the model from it) or a whole ``weights/``. Checked before NeMo meets it as an internal error."""
    absent = [name for name in ("context", "weights") if not (ckpt / name).is_dir()]
    if absent:
        return [f"{where}: a NeMo checkpoint without {absent[0]}/; {INCOMPLETE}"]
    missing = [name for name in ("io.json", "model.yaml") if not (ckpt / "context" / name).is_file()]
    if missing:
        return [f"{where}: context/{missing[0]} is missing; {INCOMPLETE}"]
    return weights_problems(ckpt / "weights", where)


def checkpoint_problems(source: NemoSource, flag: str) -> list[str]:
    """:func:`completeness_problems` of a validated checkpoint and, for a LoRA one, of its base model."""
    problems = completeness_problems(source.path, f"{flag} {source.path}")
    if source.lora_base is not None:
        problems += completeness_problems(source.lora_base, f"{flag} {source.path} (base model {source.lora_base})")
    return problems


def _lora_base(ckpt: Path, where: str) -> Path:
    meta_file = ckpt / "weights" / ADAPTER_META
    try:
        base = Path(json.loads(meta_file.read_text())["model_ckpt_path"])
    except (OSError, ValueError, KeyError) as exc:
        raise UsageError(f"{where}: LoRA checkpoint with an unreadable weights/{ADAPTER_META} ({exc})") from exc
    if not is_nemo_ckpt(base):
        raise UsageError(f"{where}: LoRA checkpoint whose base model {base} (weights/{ADAPTER_META}) is missing "
                         "here; merging needs it: copy it to that path and rerun")
    check_llama_ckpt(base, f"{where} (base model {base})")
    return base


def validate_nemo_ckpt(source: str, flag: str = "--source") -> NemoSource:
    path = Path(str(source)).expanduser().absolute()
    where = f"{flag} {path}"
    if not path.exists():
        raise UsageError(f"{where}: no such directory; pass a NeMo checkpoint such as <run>/checkpoints/<name>-last")
    if path.is_file():
        hint = "NeMo 1 .nemo archives are not supported; " if path.suffix == ".nemo" else ""
        raise UsageError(f"{where} is a file; {hint}pass a NeMo 2 checkpoint directory (weights/ + context/)")
    if (path / "config.json").is_file() and not is_nemo_ckpt(path):
        raise UsageError(f"{where} is already a Hugging Face model folder; nothing to export "
                         "(load it with transformers directly)")
    if not is_nemo_ckpt(path):
        below = checkpoints_below(path)
        if below:
            raise UsageError(f"{where} is not a checkpoint but contains checkpoints; pass one of them: "
                             + ", ".join(str(p) for p in below))
        raise UsageError(f"{where} is not a NeMo checkpoint: expected weights/ and context/ inside")
    check_llama_ckpt(path, where)
    if (path / "weights" / ADAPTER_META).is_file():
        base = _lora_base(path, where)
        return NemoSource(path, model_weight_bytes(base / "weights"), base)
    return NemoSource(path, model_weight_bytes(path / "weights"))
