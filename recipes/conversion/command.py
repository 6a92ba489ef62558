"""Convert Llama checkpoints between Hugging Face / Meta format and NeMo 2.

    python -m recipes.conversion.command import --source meta-llama/Llama-3.1-8B --output_path nemo_ckpt/llama31_8b
    python -m recipes.convert export --source <run>/checkpoints/<name>-last --output_path hf_ckpt/<name>

Runs on CPU, with or without Transformer Engine. See docs/convert.md.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from recipes.conversion import export_hf, import_hf
from recipes.conversion.hf_weights import file_problems
from recipes.conversion.nemo_llm_forms import translate
from recipes.conversion.nemo_source import NemoSource, checkpoint_problems, validate_nemo_ckpt
from recipes.conversion.sources import resolve_import_source
from recipes.conversion.staging import check_output
from recipes.core.argcheck import Checks, Parser
from recipes.core.atomic import output_problems
from recipes.core.errors import UsageError, cli_main

PROG = "recipes.convert"


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(
        prog=f"python -m {PROG}",
        description="Convert Llama checkpoints: Hugging Face/Meta -> NeMo 2 (import), NeMo 2 -> Hugging Face (export).",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="{import,export}")
    imp = sub.add_parser(
        "import",
        help="Hugging Face or Meta Llama checkpoint -> NeMo 2 checkpoint",
        description="Hugging Face id (meta-llama/Llama-3.1-8B), hf://<id or path>, a local HF folder or a Meta "
        "checkpoint folder (params.json + consolidated.*.pth) -> NeMo 2 checkpoint for finetuning.",
    )
    imp.add_argument("--source", required=True, help="HF id, hf://<id or path>, local HF folder or Meta folder")
    exp = sub.add_parser(
        "export",
        help="NeMo 2 Llama checkpoint (full or LoRA) -> Hugging Face folder",
        description="NeMo 2 checkpoint directory (weights/ + context/, e.g. <run>/checkpoints/<name>-last) -> "
        "Hugging Face folder. LoRA checkpoints are merged into their base model.",
    )
    exp.add_argument("--source", required=True, help="NeMo checkpoint directory, e.g. .../checkpoints/<name>-last")
    for cmd in (imp, exp):
        cmd.add_argument("--output_path", "--output-path", dest="output_path", required=True,
                         help="directory to create (written under a temp name, renamed when complete)")
        cmd.add_argument("--overwrite", action="store_true", help="replace --output_path if it exists")
    return parser


def check_args(args: argparse.Namespace, checks: Checks) -> None:
    """The source's and the output's problems together, before NeMo is imported."""
    try:
        source = (resolve_import_source if args.command == "import" else validate_nemo_ckpt)(args.source)
    except UsageError as exc:
        checks.add(*getattr(exc, "problems", [str(exc)]))
    else:
        for weights in getattr(source, "weights", ()):
            checks.add(*file_problems(Path(weights), "--source"))
        if isinstance(source, NemoSource):  # export: a save or copy cut short, before NeMo loads it
            checks.add(*checkpoint_problems(source, "--source"))
    # The output's shape here (under a file, a file, not writable); existence and free space in staging.
    problems = output_problems(args.output_path, True, "--output_path")
    if not problems:
        try:
            check_output(args.output_path, args.overwrite, 0)
        except UsageError as exc:
            problems = [str(exc)]
    checks.add(*problems)
    checks.done()


@cli_main(PROG)
def main(argv: list[str] | None = None) -> int:
    args, checks = build_parser().parse_collecting(translate(sys.argv[1:] if argv is None else list(argv)))
    check_args(args, checks)
    # Lazy: `--help` and argument errors must not pay for importing NeMo.

    convert = import_hf if args.command == "import" else export_hf
    convert(args.source, args.output_path, overwrite=args.overwrite)
    return 0
