"""python -m recipes.synthetic: deterministic synthetic chat data (zh-TW / English) for SFT smoke runs.

Writes training/validation/test.jsonl ({"input","output"}, 80/10/10) into --output_dir, the layout
NeMo's FineTuningDataModule reads. Same --samples/--seed/--lang -> same files.
"""

from __future__ import annotations

import argparse

from recipes.core.argcheck import Checks, Parser
from recipes.core.atomic import output_problems
from recipes.core.errors import cli_main
from recipes.data.sft import Row, split_rows, write_split_folder
from recipes.data.synthetic import generate

PROG = "recipes.synthetic"
LANGS = ("zh", "en", "mixed")
MIN_SAMPLES = 10  # one example each for validation and test, the rest for training
# Far below the ~1M distinct rows per language the families can make, so generation stays quick.
MAX_SAMPLES = 200_000


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(prog=f"python -m {PROG}", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--samples", default="1000",
                        help=f"number of distinct examples, {MIN_SAMPLES} to {MAX_SAMPLES:,} (default 1000)")
    parser.add_argument("--seed", default="1234", help="generator and split seed (default 1234)")
    parser.add_argument("--output_dir", required=True, help="folder for training/validation/test.jsonl")
    parser.add_argument("--lang", default="mixed", help=f"{', '.join(LANGS)} (default mixed)")
    parser.add_argument("--overwrite", action="store_true", help="replace an existing non-empty --output_dir")
    return parser


def write_synthetic(samples: int | str, seed: int | str, output_dir: str, lang: str = "mixed",
                    overwrite: bool = False, checks: Checks | None = None) -> dict:
    """Check every argument, generate and write the split folder; return a small report."""
    checks = checks or Checks()
    samples = checks.integer("--samples", samples, high=MAX_SAMPLES)
    if samples is not None and samples < MIN_SAMPLES:
        checks.add(f"--samples {samples}: need at least {MIN_SAMPLES} to fill training, validation and test")
    seed = checks.integer("--seed", seed, low=0)
    lang = checks.choice("--lang", lang, LANGS)
    checks.add(*output_problems(output_dir, overwrite, "--output_dir"))
    checks.done()


    rows = [Row(str(index), str(index), row["input"], row["output"])
            for index, row in enumerate(generate(samples, seed, lang))]
    splits = split_rows(rows, 0.1, 0.1, seed)
    report = {"generator": "recipes.synthetic", "samples": len(rows), "seed": seed, "lang": lang,
              "examples_written": {name: len(split) for name, split in splits.items()}, "rejected": {}}
    write_split_folder(output_dir, splits, report)
    return report


@cli_main(PROG)
def main(argv: list[str] | None = None) -> int:
    args, checks = build_parser().parse_collecting(argv)
    report = write_synthetic(args.samples, args.seed, args.output_dir, args.lang, args.overwrite, checks)
    written = ", ".join(f"{name} {count}" for name, count in report["examples_written"].items())
    print(f"{PROG}: wrote {written} examples to {args.output_dir}")
    return 0
