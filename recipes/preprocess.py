"""python -m recipes.preprocess: JSONL / parquet -> Megatron mmap .bin/.idx (flags as Megatron-LM/NeMo).

Example (the tutorial command, tokenizer resolved offline to the bundled Llama 3 one):

    python -m recipes.preprocess --input=data/custom_dataset/json/wikinews-zhtw.jsonl --json-keys=text \
        --dataset-impl mmap --tokenizer-library=huggingface --tokenizer-type meta-llama/Llama-3.1-8B-Instruct \
        --output-prefix=data/custom_dataset/preprocessed/wikinews --append-eod
"""

from __future__ import annotations

import argparse
import sys

from recipes.errors import UsageError, cli_main

PROG = "recipes.preprocess"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=f"python -m {PROG}", description=__doc__.splitlines()[0].split(": ", 1)[1])
    data = parser.add_argument_group("input data")
    data.add_argument("--input", required=True,
                      help="JSONL, JSONL.gz or parquet file, a directory or glob of them, or an HF dataset id")
    data.add_argument("--json-keys", nargs="+", default=["text"],
                      help="keys (columns) to tokenize; one .bin/.idx pair per key (default: text)")
    tok = parser.add_argument_group("tokenizer")
    tok.add_argument("--tokenizer-library", default="huggingface", help="only 'huggingface' is supported")
    tok.add_argument("--tokenizer-type", default="llama3",
                     help="HF tokenizer id or local folder (default: the bundled Llama 3 tokenizer); "
                          "Llama 3 ids resolve to the bundled copy offline")
    tok.add_argument("--tokenizer-model", default=None,
                     help="Megatron-LM spelling: --tokenizer-type HuggingFaceTokenizer --tokenizer-model ID")
    tok.add_argument("--append-eod", action="store_true", help="append the tokenizer's eos id to every document")
    out = parser.add_argument_group("output data")
    out.add_argument("--output-prefix", required=True,
                     help="writes <prefix>_<key>_document.bin/.idx (parent folders are created)")
    out.add_argument("--dataset-impl", default="mmap", help="only 'mmap' (Megatron IndexedDataset) is supported")
    run = parser.add_argument_group("runtime")
    run.add_argument("--workers", type=int, default=1,
                     help="tokenizer processes; 1 = in-process, the Rust tokenizer then uses all cores (default)")
    run.add_argument("--partitions", type=int, default=1,
                     help="accepted for Megatron compatibility; output is always in input order")
    run.add_argument("--keep-sequential-samples", action="store_true", help="accepted; order is always kept")
    run.add_argument("--skip-bad-lines", action="store_true",
                     help="skip malformed lines (counted by reason in the summary) instead of stopping")
    run.add_argument("--log-interval", type=int, default=1000,
                     help="documents between progress lines when stderr is not a terminal (0: none)")
    return parser


def _tokenizer_name(args: argparse.Namespace) -> str:
    if args.tokenizer_library.lower() != "huggingface":
        raise UsageError(f"--tokenizer-library {args.tokenizer_library}: only 'huggingface' is supported; "
                         "pass --tokenizer-library huggingface with an HF id or folder in --tokenizer-type")
    if args.tokenizer_type == "HuggingFaceTokenizer":
        if not args.tokenizer_model:
            raise UsageError("--tokenizer-type HuggingFaceTokenizer needs --tokenizer-model ID_OR_FOLDER")
        return args.tokenizer_model
    return args.tokenizer_type


def _check_runtime(args: argparse.Namespace) -> None:
    if args.dataset_impl != "mmap":
        raise UsageError(f"--dataset-impl {args.dataset_impl}: only 'mmap' is supported; "
                         "drop the flag or pass --dataset-impl mmap")
    if args.partitions < 1:
        raise UsageError(f"--partitions {args.partitions}: must be at least 1")
    if args.partitions > 1:
        print(f"{PROG}: note: --partitions {args.partitions} is accepted for compatibility; input is streamed "
              "in order and parallelism comes from --workers", file=sys.stderr)


@cli_main(PROG)
def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    tokenizer = _tokenizer_name(args)
    _check_runtime(args)
    from recipes.data.mmap import preprocess
    from recipes.data.progress import format_summary

    summary = preprocess(args.input, args.output_prefix, json_keys=args.json_keys, tokenizer=tokenizer,
                         append_eod=args.append_eod, workers=args.workers, skip_bad_lines=args.skip_bad_lines,
                         log_interval=args.log_interval)
    print(f"{PROG}: " + format_summary(summary))
    return 0


if __name__ == "__main__":
    sys.exit(main())
