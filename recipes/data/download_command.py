"""python -m recipes.download: fetch a tutorial data set from the Hugging Face hub as JSONL.

  wikinews     erhwenkuo/wikinews-zhtw                   -> wikinews-zhtw.jsonl  ({"text"})
  alpaca_zhtw  erhwenkuo/alpaca-data-gpt4-chinese-zhtw   -> alpaca-zhtw.jsonl    ({"instruction","input","output"})
  lccc         thu-coai/lccc (base)                      -> lccc-base.jsonl      ({"dialog": [...]})

Offline, download elsewhere and copy the JSONL over: every data command takes local files.
"""

from __future__ import annotations

import argparse

from recipes.core.argcheck import Parser
from recipes.core.errors import cli_main
from recipes.data.download import download

PROG = "recipes.download"
NAMES = ("wikinews", "alpaca_zhtw", "lccc")


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(prog=f"python -m {PROG}", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("dataset", metavar="{" + ",".join(NAMES) + "}", help="which data set")
    parser.add_argument("--output_dir", required=True, help="folder for the JSONL file (created)")
    parser.add_argument("--split", default="train", help="split to download (default train)")
    parser.add_argument("--limit", default=None, help="only the first N rows (default: all)")
    parser.add_argument("--overwrite", action="store_true", help="replace an existing JSONL file")
    return parser


@cli_main(PROG)
def main(argv: list[str] | None = None) -> int:
    args, checks = build_parser().parse_collecting(argv)

    path = download(args.dataset, args.output_dir, split=args.split, limit=args.limit, overwrite=args.overwrite,
                    checks=checks)
    print(f"{PROG}: wrote {path}")
    return 0
