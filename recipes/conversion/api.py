"""Plain functions behind ``python -m recipes.convert``; also usable as NeMo-Run tasks (CPU jobs).

Both validate everything first (source, architecture, output, free disk), then convert into a
hidden temp directory next to ``output_path`` and rename it into place only when complete.
NeMo is imported only once the checks have passed.
"""

from __future__ import annotations

from pathlib import Path

from recipes.conversion import meta
from recipes.conversion.nemo_source import validate_nemo_ckpt
from recipes.conversion.sources import HFSource, resolve_import_source, validate_hf_dir
from recipes.conversion.staging import check_output, scratch_dir, staged_output
from recipes.core.errors import UsageError


def _check_not_nested(source: Path, output: Path) -> None:
    # --overwrite would delete the source (or the output would land inside what is being read).
    if output == source or output in source.parents or source in output.parents:
        raise UsageError(f"--output_path {output} overlaps --source {source}; write the result somewhere else")


def import_hf(source: str, output_path: str | Path, overwrite: bool = False) -> Path:
    """Hugging Face (id, ``hf://`` id/path, local folder) or Meta Llama checkpoint -> NeMo 2 checkpoint.

    The architecture (layers, hidden, heads, KV groups, FFN, vocab, RoPE theta and Llama 3.1
    scaling, tied embeddings) is read from the source's config. Returns the output directory.
    """
    src = resolve_import_source(source)
    if isinstance(src, meta.MetaSource):
        meta.require_converter(src)  # before writing anything: else the error says what to run
        needed = 2 * src.weight_bytes  # HF intermediate + NeMo output
    else:
        needed = src.weight_bytes
    output = check_output(Path(output_path), overwrite, needed)
    _check_not_nested(src.path, output)

    from recipes.conversion.connectors import run_import  # torch and NeMo (~12 s): loaded when a conversion runs

    with staged_output(output) as staging:
        if isinstance(src, HFSource):
            run_import(src.path, staging)
        else:
            with scratch_dir(output, "meta-hf") as hf_dir:
                meta.convert_to_hf(src, hf_dir)
                run_import(validate_hf_dir(hf_dir, "converted Meta checkpoint").path, staging)
    print(f"NeMo checkpoint written to {output}")
    return output


def export_hf(source: str | Path, output_path: str | Path, overwrite: bool = False) -> Path:
    """NeMo 2 Llama checkpoint (e.g. ``<run>/checkpoints/<name>-last``) -> Hugging Face folder.

    A LoRA checkpoint is merged into its base model first (the base path is read from the
    checkpoint's ``weights/adapter_metadata.json``). Returns the output directory.
    """
    src = validate_nemo_ckpt(source)
    output = check_output(Path(output_path), overwrite, src.output_bytes)
    _check_not_nested(src.path, output)
    if src.lora_base is not None:
        _check_not_nested(src.lora_base, output)

    from recipes.conversion.connectors import run_export, run_merge_lora  # torch and NeMo (~12 s), as above

    with staged_output(output) as staging:
        if src.lora_base is None:
            run_export(src.path, staging)
        else:
            with scratch_dir(output, "merged") as merged:
                run_merge_lora(src.path, merged)
                run_export(merged, staging)
        _check_hf_dir(staging)
    print(f"Hugging Face model written to {output}")
    return output


def _check_hf_dir(path: Path) -> None:
    # NeMo's exporter only logs a warning when the tokenizer cannot be saved; a model without
    # tokenizer is not usable as a drop-in HF checkpoint, so fail (the output is not promoted).
    if not (path / "config.json").is_file() or not list(path.glob("*.safetensors")):
        raise RuntimeError(f"export wrote no config.json/*.safetensors to {path}")
    if not (path / "tokenizer_config.json").is_file():
        raise RuntimeError(f"export could not save the tokenizer to {path}; see the log above")
