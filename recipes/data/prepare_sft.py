"""python -m recipes.prepare_sft: instruction / dialogue JSONL -> training/validation/test.jsonl for NeMo SFT.

Accepted rows (one JSON value per line, shapes may be mixed):
  {"input": ..., "output": ...}            {"query": ..., "answer": ...}
  {"instruction": ..., "input": ..., "output": ...}   (Alpaca; "input" may be empty)
  ["utterance 1", "utterance 2", ...]      {"dialog": [...]}   {"conversation": [...]}   (multi-turn)
"""

from __future__ import annotations

import argparse

from recipes.core.argcheck import Parser, whole
from recipes.core.errors import cli_main
from recipes.data.sft import format_report, prepare_sft

PROG = "recipes.prepare_sft"


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(prog=f"python -m {PROG}", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--input", nargs="+", required=True, help="one or more JSONL files")
    parser.add_argument("--output_dir", required=True, help="folder for training/validation/test.jsonl")
    parser.add_argument("--template", default="plain",
                        help="plain (input as-is, default), alpaca, llama3 (Llama 3.1 chat format) "
                             "or a custom format containing {input}, e.g. 'Q: {input}\\nA: '")
    parser.add_argument("--max_turns", default="3",
                        help="dialogues: at most this many previous turns as the history of a reply (default 3)")
    parser.add_argument("--max_tokens", default=None,
                        help="drop examples whose input+output exceed this many tokens (default: no limit)")
    parser.add_argument("--tokenizer", default=None,
                        help="tokenizer for --max_tokens: HF id or folder (default: bundled Llama 3)")
    parser.add_argument("--val_size", default="0.1", help="fraction in [0,1) or count of source rows (default 0.1)")
    parser.add_argument("--test_size", default="0.1", help="fraction in [0,1) or count of source rows (default 0.1)")
    parser.add_argument("--seed", type=whole(low=0), default=1234, help="shuffle seed of the split (default 1234)")
    parser.add_argument("--keep_duplicates", action="store_true", help="do not drop repeated input/output pairs")
    parser.add_argument("--strip_cjk_spaces", action="store_true",
                        help="remove spaces between CJK characters (LCCC is word-segmented with spaces)")
    parser.add_argument("--overwrite", action="store_true", help="replace an existing non-empty --output_dir")
    return parser


@cli_main(PROG)
def main(argv: list[str] | None = None) -> int:
    args, checks = build_parser().parse_collecting(argv)

    report = prepare_sft(args.input, args.output_dir, template=args.template, max_turns=args.max_turns,
                         max_tokens=args.max_tokens, tokenizer=args.tokenizer, val_size=args.val_size,
                         test_size=args.test_size, seed=args.seed, dedupe=not args.keep_duplicates,
                         strip_cjk_spaces=args.strip_cjk_spaces, overwrite=args.overwrite, checks=checks)
    print(f"{PROG}: " + format_report(report, args.output_dir))
    return 0
