"""Merge a LoRA/DoRA adapter into its base model: a standalone Hugging Face model directory.

    python -m recipes.merge_lora --base RUN/hf_base --adapter RUN/hf_adapter --output_path RUN/hf_merged

The merged model is written to a temporary sibling directory and renamed into place when complete.
"""

from __future__ import annotations

import argparse
import shutil
from pathlib import Path

from recipes.errors import UsageError, cli_main

PROG = "python -m recipes.merge_lora"


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog=PROG, description=__doc__.split("\n\n")[0])
    parser.add_argument("--base", required=True, help="base HF model dir (<log_dir>/hf_base or the finetuned model)")
    parser.add_argument("--adapter", required=True, help="adapter dir (<log_dir>/hf_adapter)")
    parser.add_argument("--output_path", required=True, help="where the merged model goes")
    parser.add_argument("--overwrite", action="store_true", help="replace an existing --output_path")
    return parser.parse_args(argv)


def merge(base: str, adapter: str, output_path: str | Path, overwrite: bool = False) -> Path:
    import torch
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    from recipes.hf.inference import resolve_model_dirs
    from recipes.hf.modeling import atomic_replace_dir
    from recipes.tokenizer import load_tokenizer

    base, adapter = resolve_model_dirs(base, adapter)
    output = Path(output_path)
    if output.exists() and not overwrite:
        raise UsageError(f"--output_path: {output} exists; pass --overwrite or choose a new path")
    if output.resolve() in (Path(base).resolve(), Path(adapter).resolve()):
        raise UsageError(f"--output_path: {output} is an input directory; choose a new path")
    # fp32 so the merge adds the low-rank update without rounding it away.
    model = AutoModelForCausalLM.from_pretrained(base, dtype=torch.float32, local_files_only=True)
    merged = PeftModel.from_pretrained(model, adapter).merge_and_unload()
    tmp = output.with_name(f".tmp-{output.name}")
    shutil.rmtree(tmp, ignore_errors=True)
    merged.save_pretrained(tmp)
    tokenizer_dir = adapter if (Path(adapter) / "tokenizer_config.json").exists() else base
    if (Path(tokenizer_dir) / "tokenizer_config.json").exists():
        load_tokenizer(tokenizer_dir).save_pretrained(tmp)
    output.parent.mkdir(parents=True, exist_ok=True)
    atomic_replace_dir(tmp, output)
    return output


@cli_main(PROG)
def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    output = merge(args.base, args.adapter, args.output_path, args.overwrite)
    print(f"merged model: {output}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
