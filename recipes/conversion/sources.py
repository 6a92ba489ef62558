"""Resolve and validate ``import --source``: an HF id, ``hf://`` id or path, a local HF folder, or a
Meta checkpoint. Everything here runs before any output is written and without importing NeMo."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

from recipes.conversion import meta
from recipes.core.errors import UsageError

_HF_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")
TOKENIZER_FILES = ("tokenizer.json", "tokenizer.model", "tokenizer_config.json")
# What NeMo's importer reads; skips the Meta-format copy (original/) that Meta's HF repos also carry.
_HF_DOWNLOAD = {"allow_patterns": ["*.json", "*.safetensors", "tokenizer.model"], "ignore_patterns": ["original/*"]}


@dataclass(frozen=True)
class HFSource:
    path: Path
    config: dict
    weights: tuple[Path, ...]

    @property
    def weight_bytes(self) -> int:
        return sum(p.stat().st_size for p in self.weights)


def resolve_import_source(source: str, flag: str = "--source") -> HFSource | meta.MetaSource:
    text = str(source).strip()
    bare = text[len("hf://"):] if text.startswith("hf://") else text
    path = Path(bare).expanduser()
    if path.exists():
        return classify_dir(path.absolute(), flag)
    if _HF_ID.match(bare) and not bare.startswith("."):
        return classify_dir(download(bare, flag), flag)
    raise UsageError(f"{flag} {text}: no such directory; pass a Hugging Face model folder, a Meta checkpoint "
                     "folder (params.json + consolidated.*.pth) or a Hugging Face id like meta-llama/Llama-3.1-8B")


def classify_dir(path: Path, flag: str) -> HFSource | meta.MetaSource:
    if not path.is_dir():
        raise UsageError(f"{flag} {path} is a file; pass the model directory that contains config.json")
    if (path / "config.json").is_file():
        return validate_hf_dir(path, flag)
    if meta.is_meta_dir(path):
        return meta.read_meta_dir(path, flag)
    if (path / "context").is_dir() and (path / "weights").is_dir():
        raise UsageError(f"{flag} {path} is already a NeMo checkpoint; use `python -m recipes.convert export` "
                         "to turn it into a Hugging Face model")
    raise UsageError(f"{flag} {path} is not a model directory: no config.json (Hugging Face) or params.json "
                     "(Meta) in it")


def download(repo_id: str, flag: str) -> Path:
    """Local snapshot of ``repo_id``: from the HF cache, else from the hub (if reachable)."""
    from huggingface_hub import snapshot_download
    from huggingface_hub.errors import GatedRepoError, LocalEntryNotFoundError, RepositoryNotFoundError

    try:
        return Path(snapshot_download(repo_id, local_files_only=True, **_HF_DOWNLOAD))
    except LocalEntryNotFoundError:
        pass  # not cached (completely): fetch what is missing
    try:
        return Path(snapshot_download(repo_id, **_HF_DOWNLOAD))
    except GatedRepoError as exc:
        raise UsageError(f"{flag} {repo_id}: gated model; accept its license on huggingface.co and set HF_TOKEN "
                         "(or run `huggingface-cli login`)") from exc
    except RepositoryNotFoundError as exc:
        raise UsageError(f"{flag} {repo_id}: no such model on the Hugging Face Hub (private? set HF_TOKEN)") from exc
    except (LocalEntryNotFoundError, OSError) as exc:
        raise UsageError(f"{flag} {repo_id}: not in the local Hugging Face cache and the hub is unreachable; run "
                         f"`huggingface-cli download {repo_id}` where there is internet and pass the folder") from exc


def _read_config(path: Path, flag: str) -> dict:
    try:
        config = json.loads((path / "config.json").read_text())
    except (OSError, ValueError) as exc:
        raise UsageError(f"{flag} {path}/config.json is not valid JSON ({exc}); re-download the model") from exc
    if not isinstance(config, dict):
        raise UsageError(f"{flag} {path}/config.json is not a JSON object; re-download the model")
    return config


def check_llama_config(config: dict, where: str) -> None:
    """Reject what NeMo's Llama converter would get wrong or fail on late."""
    model_type = config.get("model_type")
    if model_type != "llama":
        archs = ", ".join(config.get("architectures") or []) or "no architectures"
        raise UsageError(f"{where}: model_type {model_type!r} ({archs}) is not a Llama model; this converter "
                         "handles Llama checkpoints (model_type 'llama', LlamaForCausalLM) only")
    if config.get("attention_bias") or config.get("mlp_bias"):
        raise UsageError(f"{where}: attention_bias/mlp_bias is set, and NeMo's Llama converter has no mapping "
                         "for biases; this is not a standard Llama checkpoint")
    rope = config.get("rope_scaling") or {}
    rope_type = rope.get("rope_type", rope.get("type"))
    if rope and rope_type not in ("default", "llama3"):
        raise UsageError(f"{where}: rope_scaling type {rope_type!r} is not supported by NeMo's Llama model "
                         "(only Llama 3.1-style 'llama3' scaling)")


def weight_files(path: Path, flag: str) -> tuple[Path, ...]:
    for index_name, pattern in (("model.safetensors.index.json", "*.safetensors"),
                                ("pytorch_model.bin.index.json", "pytorch_model*.bin")):
        index = path / index_name
        if index.is_file():
            try:
                names = sorted(set(json.loads(index.read_text())["weight_map"].values()))
            except (OSError, ValueError, KeyError, AttributeError) as exc:
                raise UsageError(f"{flag} {index} is unreadable ({exc}); re-download the model") from exc
            missing = [n for n in names if not (path / n).is_file()]
            if missing:
                raise UsageError(f"{flag} {path}: {len(missing)} of {len(names)} weight shards listed in "
                                 f"{index_name} are missing (first: {missing[0]}); the download is incomplete")
            return tuple(path / n for n in names)
        files = tuple(sorted(path.glob(pattern)))
        if files:
            return files
    raise UsageError(f"{flag} {path}: config.json but no weights (model.safetensors, model-*.safetensors or "
                     "pytorch_model*.bin); download the full model, not only its config")


def validate_hf_dir(path: Path, flag: str = "--source") -> HFSource:
    config = _read_config(path, flag)
    check_llama_config(config, f"{flag} {path}")
    weights = weight_files(path, flag)
    if not any((path / name).is_file() for name in TOKENIZER_FILES):
        raise UsageError(f"{flag} {path}: no tokenizer ({', '.join(TOKENIZER_FILES)}); copy the tokenizer files "
                         "of the base model into this folder")
    return HFSource(path, config, weights)
