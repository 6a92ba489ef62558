"""python -m recipes.synthetic: deterministic synthetic chat data (zh-TW / English) for SFT smoke runs.

Writes training/validation/test.jsonl ({"input","output"}, 80/10/10) into --output_dir, the layout
NeMo's FineTuningDataModule reads. Same --samples/--seed/--lang -> same files.
"""

from __future__ import annotations

import argparse
import sys

from recipes.errors import UsageError, cli_main

PROG = "recipes.synthetic"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=f"python -m {PROG}", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--samples", type=int, default=1000, help="number of distinct examples (default 1000)")
    parser.add_argument("--seed", type=int, default=1234, help="generator and split seed (default 1234)")
    parser.add_argument("--output_dir", required=True, help="folder for training/validation/test.jsonl")
    parser.add_argument("--lang", choices=("zh", "en", "mixed"), default="mixed", help="language (default mixed)")
    return parser


def write_synthetic(samples: int, seed: int, output_dir: str, lang: str = "mixed") -> dict:
    """Generate and write the split folder; return a small report."""
    from recipes.data.sft import Row, split_rows, write_split_folder
    from recipes.data.synthetic import generate

    if samples < 10:
        raise UsageError(f"--samples {samples}: need at least 10 to fill training, validation and test")
    rows = [Row(str(index), str(index), row["input"], row["output"])
            for index, row in enumerate(generate(samples, seed, lang))]
    splits = split_rows(rows, 0.1, 0.1, seed)
    report = {"generator": "recipes.synthetic", "samples": len(rows), "seed": seed, "lang": lang,
              "examples_written": {name: len(split) for name, split in splits.items()}, "rejected": {}}
    write_split_folder(output_dir, splits, report)
    return report


@cli_main(PROG)
def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    report = write_synthetic(args.samples, args.seed, args.output_dir, args.lang)
    written = ", ".join(f"{name} {count}" for name, count in report["examples_written"].items())
    print(f"{PROG}: wrote {written} examples to {args.output_dir}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
