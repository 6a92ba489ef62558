"""python -m recipes.preprocess: JSONL / parquet -> Megatron mmap .bin/.idx (flags as Megatron-LM/NeMo).

Output equals core_v0.15.3 Megatron-LM ``tools/preprocess_data.py`` (the pinned megatron-core's tag) for
the same flags: no BOS. ``--tokenizer-hf-include-special-tokens`` and ``--legacy-tokenizer`` add BOS as
core_v0.16's tool does (the pinned tool has neither working; docs/data.md). Example (the
tutorial command; the tokenizer must be in the HF cache, nothing is downloaded):

    python -m recipes.preprocess --input=data/custom_dataset/json/wikinews-zhtw.jsonl --json-keys=text \
        --dataset-impl mmap --tokenizer-library=huggingface --tokenizer-type meta-llama/Llama-3.1-8B-Instruct \
        --output-prefix=data/custom_dataset/preprocessed/wikinews --append-eod

On a Slurm cluster (a one-task CPU job through NeMo-Run; prints ``submitted slurm job <id> (preprocess)``):

    python -m recipes.preprocess --executor slurm -a ACCOUNT -p batch --detach \
        --input=/data/wikinews.jsonl --output-prefix=/data/preprocessed/wikinews --append-eod
"""

from __future__ import annotations

import argparse

from executors import capabilities
from recipes.core.argcheck import number_problems, whole
from recipes.core.errors import UsageError, ValidationErrors, cli_main
from recipes.data.mmap import preprocess
from recipes.data.progress import format_summary
from recipes.launch.remote import run_task
from recipes.preprocessing.shards import run_sharded
from recipes.preprocessing.slurm import slurm_settings

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
                     help="HF tokenizer id (from the local HF cache; never downloaded) or local folder "
                          "(default: llama3, the bundled Llama 3 base tokenizer)")
    tok.add_argument("--tokenizer-model", default=None,
                     help="Megatron-LM spelling: --tokenizer-type HuggingFaceTokenizer --tokenizer-model ID")
    tok.add_argument("--append-eod", action="store_true", help="append the tokenizer's eod (eos) to every document")
    tok.add_argument("--tokenizer-hf-include-special-tokens", action="store_true",
                     help="Megatron-LM's flag: tokenize with special tokens (BOS for Llama 3)")
    tok.add_argument("--legacy-tokenizer", action="store_true",
                     help="Megatron-LM's legacy tokenizer system: tokenizer(text).input_ids, BOS for Llama 3")
    tok.add_argument("--tokenizer-backend", default="auto", metavar="{auto,hf}",
                     help="auto: tiktoken for Llama 3-style byte-level BPE where it is verified to give the same "
                          "ids (documents it cannot vouch for go to tokenizers), else tokenizers; hf: always the "
                          "Hugging Face tokenizers library, the reference (same output, slower) (default: auto)")
    tok.add_argument("--tokenizer-hf-use-fast", action="store_true",
                     help="Megatron-LM's flag: AutoTokenizer(use_fast=True) (no effect for PreTrainedTokenizerFast)")
    out = parser.add_argument_group("output data")
    out.add_argument("--output-prefix", required=True,
                     help="writes <prefix>_<key>_document.bin/.idx (parent folders are created)")
    out.add_argument("--overwrite", action="store_true", help="replace an existing <prefix>_<key>_document pair")
    out.add_argument("--dataset-impl", default="mmap", help="only 'mmap' (Megatron IndexedDataset) is supported")
    run = parser.add_argument_group("runtime")
    run.add_argument("--workers", type=whole(low=1), default=1,
                     help="tokenizer processes; 1 = in-process, the Rust tokenizer then uses all cores (default)")
    run.add_argument("--partitions", type=whole(low=1), default=1,
                     help="Megatron's partitions: >1 only with --keep-sequential-samples (input order, as the tool)")
    run.add_argument("--keep-sequential-samples", action="store_true",
                     help="with --partitions: keep input order (always the case here)")
    run.add_argument("--shards", metavar="N",
                     help="tokenize N shards (whole files, or byte ranges of one file cut at line boundaries), "
                          "then merge them into the one output: a Slurm job array and a dependent merge job "
                          "with --executor slurm, one after another here; rerunning the command redoes only "
                          "missing or incomplete shards")
    run.add_argument("--no-merge", action="store_true",
                     help="with --shards: keep the shards and print a token-weighted -D blend of them")
    run.add_argument("--skip-bad-lines", action="store_true",
                     help="skip malformed lines (counted by reason in the summary) instead of stopping")
    run.add_argument("--log-interval", type=whole(low=0), default=1000,
                     help="documents between progress lines when stderr is not a terminal (0: none)")
    where = parser.add_argument_group("where it runs (default: here)")
    where.add_argument("--executor", choices=("local", "slurm"), default="local",
                       help="local: in this process; slurm: a one-task CPU job through NeMo-Run (default: local)")
    where.add_argument("-a", "--account", help="Slurm account (or $RECIPES_ACCOUNT / $SBATCH_ACCOUNT / site file)")
    where.add_argument("-p", "--partition", help="Slurm partition (or $RECIPES_PARTITION / site file)")
    where.add_argument("-t", "--time", help="Slurm time limit (default: 01:00:00)")
    where.add_argument("-i", "--container_image", help="container image for the Slurm job (pyxis)")
    where.add_argument("--container_mounts",
                       help="comma-separated SRC:DST mounts (default: the input and output folders)")
    where.add_argument("--packager", choices=("git", "none"), default=None,
                       help="Slurm: ship committed code (git, default in a git checkout) or use the installed "
                            "copy (none)")
    where.add_argument("-E", "--experiment", default="preprocess",
                       help="NeMo-Run experiment name (default: %(default)s)")
    where.add_argument("--detach", action="store_true", help="Slurm: submit and return instead of waiting")
    return parser


def run_preprocess(input: str, output_prefix: str, json_keys: list[str], tokenizer: str, append_eod: bool,
                   workers: int, skip_bad_lines: bool, log_interval: int, include_special_tokens: bool = False,
                   legacy_tokenizer: bool = False, use_fast: bool = False, overwrite: bool = False,
                   tokenizer_backend: str = "auto") -> dict:
    """Tokenize and print the summary: the body of a local run and of the Slurm task."""
    summary = preprocess(input, output_prefix, json_keys=json_keys, tokenizer=tokenizer, append_eod=append_eod,
                         workers=workers, skip_bad_lines=skip_bad_lines, log_interval=log_interval,
                         include_special_tokens=include_special_tokens, legacy_tokenizer=legacy_tokenizer,
                         use_fast=use_fast, overwrite=overwrite, tokenizer_backend=tokenizer_backend)
    print(f"{PROG}: " + format_summary(summary), flush=True)
    return summary


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
    if args.partitions > 1 and not args.keep_sequential_samples:
        raise UsageError(f"--partitions {args.partitions}: Megatron-LM then interleaves documents round-robin "
                         "across partitions, which is not reproduced; add --keep-sequential-samples (input order, "
                         "the same output as the tool) or drop --partitions and use --workers")


@cli_main(PROG)
def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    problems = number_problems(parser, args)
    tokenizer = _collect(problems, _tokenizer_name, args)
    _collect(problems, _check_runtime, args)
    if tokenizer is None:
        raise ValidationErrors(problems)
    kwargs = dict(input=args.input, output_prefix=args.output_prefix, json_keys=list(args.json_keys),
                  tokenizer=tokenizer, append_eod=args.append_eod, workers=args.workers,
                  skip_bad_lines=args.skip_bad_lines, log_interval=args.log_interval,
                  include_special_tokens=args.tokenizer_hf_include_special_tokens,
                  legacy_tokenizer=args.legacy_tokenizer, use_fast=args.tokenizer_hf_use_fast, overwrite=args.overwrite,
                  tokenizer_backend=args.tokenizer_backend)
    if args.shards is not None or args.no_merge:
        return run_sharded(args, kwargs, problems)
    if problems:
        raise ValidationErrors(problems)
    if capabilities(args.executor).batch:
        return _submit(args, kwargs)
    run_preprocess(**kwargs)
    return 0


def _collect(problems: list[str], check, args: argparse.Namespace):
    """``check(args)``, its usage error added to ``problems`` (reported with the others) instead of raised."""
    try:
        return check(args)
    except UsageError as exc:
        problems.extend(getattr(exc, "problems", None) or [str(exc)])
        return None


def _submit(args: argparse.Namespace, kwargs: dict) -> int:
    """Run :func:`run_preprocess` as a one-task Slurm job (the job's cwd is NeMo-Run's code dir: absolute paths)."""
    import nemo_run as run

    settings = slurm_settings(args, kwargs)
    task = run.Partial(run_preprocess, **kwargs)
    return run_task(task, name="preprocess", experiment=args.experiment, executor="slurm", settings=settings,
                    detach=args.detach)
