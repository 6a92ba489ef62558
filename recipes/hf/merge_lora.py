"""Merge a LoRA/DoRA adapter into its base model: a standalone Hugging Face model directory.

    python -m recipes.merge_lora --base RUN/hf_base --adapter RUN/hf_adapter --output_path RUN/hf_merged

The merged model is written to a temporary sibling directory and renamed into place when complete.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from recipes.core.argcheck import Checks, Parser
from recipes.core.atomic import atomic_dir, output_problems
from recipes.core.errors import cli_main
from recipes.hf.inference import load_adapter, load_model, load_tokenizer_from, model_dir_problems

PROG = "python -m recipes.merge_lora"


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = Parser(prog=PROG, description=__doc__.split("\n\n")[0])
    parser.add_argument("--base", required=True, help="base HF model dir (<log_dir>/hf_base or the finetuned model)")
    parser.add_argument("--adapter", required=True, help="adapter dir (<log_dir>/hf_adapter)")
    parser.add_argument("--output_path", required=True, help="where the merged model goes")
    parser.add_argument("--overwrite", action="store_true", help="replace an existing --output_path")
    args, checks = parser.parse_collecting(argv)
    check_paths(args.base, args.adapter, args.output_path, args.overwrite, checks)
    return args


def check_paths(base: str, adapter: str, output_path: str | Path, overwrite: bool, checks: Checks) -> tuple[str, str]:
    """Every problem of the three folders, together, before torch is imported."""
    base, adapter, problems = model_dir_problems(base, adapter, "--base", "--adapter")
    checks.add(*problems)
    checks.add(*output_problems(output_path, overwrite, "--output_path", inputs=[p for p in (base, adapter) if p]))
    if not checks.problems and Path(output_path).resolve() in (Path(base).resolve(), Path(adapter).resolve()):
        checks.add(f"--output_path: {output_path} is an input directory; choose a new path")
    checks.done()
    return base, adapter


def merge(base: str, adapter: str, output_path: str | Path, overwrite: bool = False) -> Path:
    import torch


    base, adapter = check_paths(base, adapter, output_path, overwrite, Checks())
    # fp32 so the merge adds the low-rank update without rounding it away.
    model = load_model(base, "--base", torch.float32)
    merged = load_adapter(model, adapter, "--adapter").merge_and_unload()
    tokenizer_dir = adapter if (Path(adapter) / "tokenizer_config.json").exists() else base
    tokenizer = None
    if (Path(tokenizer_dir) / "tokenizer_config.json").exists():
        tokenizer = load_tokenizer_from(tokenizer_dir, "--adapter" if tokenizer_dir == adapter else "--base")
    with atomic_dir(output_path) as temp:
        merged.save_pretrained(temp)
        if tokenizer is not None:
            tokenizer.save_pretrained(temp)
    return Path(output_path)


@cli_main(PROG)
def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    output = merge(args.base, args.adapter, args.output_path, args.overwrite)
    print(f"merged model: {output}")
    return 0
