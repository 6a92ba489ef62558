"""Are a Hugging Face model folder's weights all there? Read from the files' own headers, without torch.

One check for every command that takes an HF folder (convert import, evaluate, chat, merge_lora,
pretrain/finetune ``--hf_model_id`` and the small-model backend's ``-n``): an interrupted download or
copy leaves a config with no weights, a shard missing or a file cut short, which ``from_pretrained`` or
NeMo's importer would otherwise meet only after the job started.
"""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

from recipes.conversion.sources import weight_files
from recipes.core.errors import UsageError

FIX = "download or copy it again"


def folder_problems(folder: str | Path, flag: str) -> list[str]:
    """Every weights file of the HF model ``folder`` present (index or glob) and complete."""
    try:
        files = weight_files(Path(folder), flag)
    except UsageError as exc:
        return [str(exc)]
    return [problem for path in files for problem in file_problems(path, flag)]


def file_problems(path: Path, flag: str) -> list[str]:
    if path.suffix == ".safetensors":
        return safetensors_problems(path, flag)
    if path.suffix == ".bin":
        return bin_problems(path, flag)
    return []


def safetensors_problems(path: Path, flag: str) -> list[str]:
    """A cut-short ``.safetensors`` file, from its own header: 8 bytes of header length, a JSON header,
    then the tensors, whose last ``data_offsets`` end must be the file's end."""
    if path.suffix != ".safetensors":
        return []
    size = path.stat().st_size
    try:
        with open(path, "rb") as handle:
            length = int.from_bytes(handle.read(8), "little")
            if size < 8 + length:
                return [f"{flag} {path}: truncated (its header alone needs {8 + length:,} bytes, {size:,} there); "
                        f"{FIX}"]
            header = json.loads(handle.read(length))
        end = max((entry["data_offsets"][1] for name, entry in header.items() if name != "__metadata__"), default=0)
    except (OSError, ValueError, KeyError, TypeError, IndexError, AttributeError) as exc:
        return [f"{flag} {path}: not a safetensors file ({type(exc).__name__}: {exc}); {FIX}"]
    if size != 8 + length + end:
        return [f"{flag} {path}: truncated ({size:,} bytes, its header lists {8 + length + end:,}); {FIX}"]
    return []


def bin_problems(path: Path, flag: str) -> list[str]:
    """A cut-short ``pytorch_model*.bin``: ``torch.save`` writes a zip, whose directory is at its end, so a
    truncated one has none (or one that points past the end). Legacy pickle files are not checked."""
    try:
        with open(path, "rb") as handle:
            magic = handle.read(4)
        if magic != b"PK\x03\x04":
            return []
        size = path.stat().st_size
        with zipfile.ZipFile(path) as archive:
            end = max((info.header_offset + info.compress_size for info in archive.infolist()), default=0)
    except zipfile.BadZipFile:
        return [f"{flag} {path}: truncated (a torch.save zip without its end record); {FIX}"]
    except OSError as exc:
        return [f"{flag} {path}: cannot read it ({exc.strerror or exc}); {FIX}"]
    if end > size:
        return [f"{flag} {path}: truncated ({size:,} bytes, its directory lists {end:,}); {FIX}"]
    return []
