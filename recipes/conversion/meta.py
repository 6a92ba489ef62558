"""Meta's original Llama format (``params.json`` + ``consolidated.*.pth`` + ``tokenizer.model``).

NeMo imports Hugging Face checkpoints only, so a Meta checkpoint is first converted to HF with
transformers' own script (``transformers.models.llama.convert_llama_weights_to_hf``). PyPI wheels
of recent transformers releases do not ship that script; then we stop before writing anything and
print the exact commands that run it from the transformers source tree of the installed version.
"""

from __future__ import annotations

import importlib
import importlib.util
import json
import re
from dataclasses import dataclass
from pathlib import Path

from recipes.core.errors import UsageError

CONVERTER_MODULE = "transformers.models.llama.convert_llama_weights_to_hf"
_SHARD = re.compile(r"^consolidated\.\d+\.pth$")


@dataclass(frozen=True)
class MetaSource:
    path: Path
    params: dict
    shards: tuple[Path, ...]
    llama_version: str

    @property
    def weight_bytes(self) -> int:
        return sum(p.stat().st_size for p in self.shards)


def is_meta_dir(path: Path) -> bool:
    return (path / "params.json").is_file()


def shard_files(path: Path) -> tuple[Path, ...]:
    return tuple(sorted(p for p in path.iterdir() if _SHARD.match(p.name)))


def infer_llama_version(params: dict, flag_src: str) -> str:
    """The ``--llama_version`` transformers' script expects (context length, RoPE scaling, tokenizer)."""
    params = params.get("model", params)
    vocab = params.get("vocab_size")
    if vocab in (None, -1, 32000):
        return "2"  # Llama 1/2 (sentencepiece tokenizer; the script treats 1 and 2 alike but for context length)
    if vocab == 128256:
        if not params.get("use_scaled_rope"):
            return "3"
        # Llama 3.2 (1B/3B: dim 2048/3072, tied embeddings, RoPE factor 32); 3.1/3.3 otherwise.
        return "3.2" if params.get("dim", 0) <= 3072 else "3.1"
    raise UsageError(f"{flag_src}: params.json has vocab_size {vocab}, which is not a Llama 2/3 vocabulary; "
                     "convert this checkpoint to Hugging Face format yourself and pass that folder")


def read_meta_dir(path: Path, flag: str = "--source") -> MetaSource:
    where = f"{flag} {path}"
    try:
        params = json.loads((path / "params.json").read_text())
    except (OSError, ValueError) as exc:
        raise UsageError(f"{where}: cannot read params.json ({exc}); is the download complete?") from exc
    shards = shard_files(path)
    if not shards:
        raise UsageError(f"{where}: Meta checkpoint without weights (no consolidated.*.pth next to params.json); "
                         "download the checkpoint files too")
    if not (path / "tokenizer.model").is_file():
        raise UsageError(f"{where}: Meta checkpoint without tokenizer.model; copy it from the same download")
    return MetaSource(path, params, shards, infer_llama_version(params, where))


def converter():
    """transformers' conversion module, or None when the installed transformers does not ship it."""
    try:
        return importlib.import_module(CONVERTER_MODULE)
    except ImportError:
        return None


def missing_tokenizer_packages(src: MetaSource) -> list[str]:
    """Packages transformers needs to read ``tokenizer.model``: Llama 3's is a tiktoken file, which
    tiktoken 0.7 reads (even locally) through ``blobfile`` (0.8 and later open a local file directly);
    Llama 2's is sentencepiece."""
    if not src.llama_version.startswith("3"):
        return [] if importlib.util.find_spec("sentencepiece") else ["sentencepiece"]
    if importlib.util.find_spec("blobfile") or importlib.util.find_spec("tiktoken") is None:
        return []
    from tiktoken.load import read_file  # tiktoken itself says whether a local file needs blobfile

    try:
        read_file(str(Path(src.path) / "params.json"))
    except ImportError:
        return ["blobfile"]
    return []


def instructions(src: MetaSource) -> str:
    import transformers

    version = transformers.__version__
    hf_dir = f"{src.path}-hf"
    install = "".join(f"pip install {name} && " for name in missing_tokenizer_packages(src))
    return (
        f"--source {src.path} is a Meta checkpoint (params.json + {len(src.shards)} consolidated.*.pth, "
        f"Llama {src.llama_version}) and transformers {version} does not ship {CONVERTER_MODULE}; convert it "
        f"to Hugging Face format first: {install}git clone --depth 1 --branch v{version} "
        "https://github.com/huggingface/transformers /tmp/transformers-src && python "
        "/tmp/transformers-src/src/transformers/models/llama/convert_llama_weights_to_hf.py "
        f"--input_dir {src.path} --output_dir {hf_dir} --llama_version {src.llama_version} "
        f"--num_shards {len(src.shards)} (add --instruct for an instruct model), then rerun with --source {hf_dir}"
    )


def require_converter(src: MetaSource):
    module = converter()
    if module is None:
        raise UsageError(instructions(src))
    missing = missing_tokenizer_packages(src)
    if missing:
        raise UsageError(f"--source {src.path}: converting its tokenizer.model needs `pip install {' '.join(missing)}`")
    return module


def convert_to_hf(src: MetaSource, out_dir: Path) -> None:
    """Write an HF Llama folder (weights, config, tokenizer) for ``src`` into ``out_dir``."""
    conv = require_converter(src)
    special = conv.DEFAULT_LLAMA_SPECIAL_TOKENS.get(src.llama_version, [])
    tokenizer = conv.write_tokenizer(
        str(out_dir), str(src.path / "tokenizer.model"), llama_version=src.llama_version, special_tokens=special
    )
    conv.write_model(
        model_path=str(out_dir),
        input_base_path=str(src.path),
        safe_serialization=True,
        llama_version=src.llama_version,
        vocab_size=len(tokenizer),
        num_shards=len(src.shards),
    )
