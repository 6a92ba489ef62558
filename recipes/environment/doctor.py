"""Environment doctor: one line per check with OK/WARN/FAIL and the fix; exit 1 on any FAIL.

    python -m recipes.doctor                    # versions, the NeMo/megatron-core pair, GPUs, Slurm/pyxis, site settings, model, results dir
    python -m recipes.doctor -M 70B --hf_model_id meta-llama/Llama-3.1-70B --json
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from dataclasses import asdict
from pathlib import Path

from recipes.config.models import get_model
from recipes.config.options import default_results_dir
from recipes.config.slurm_settings import repo_root
from recipes.core.errors import cli_main
from recipes.environment.checks import CONSTRAINTS_ENV, check_gpus, check_packages, check_python, check_site, check_slurm
from recipes.environment.paths import check_model, check_results_dir
from recipes.environment.stack import check_pair


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m recipes.doctor", description=__doc__.splitlines()[0])
    parser.add_argument("-M", "--model", "--model_size", dest="model", default="llama31_8b")
    parser.add_argument("--hf_model_id", help="HF id or folder the job starts from (checked offline)")
    parser.add_argument("-n", "--nemo_model", help="NeMo checkpoint folder the job starts from")
    parser.add_argument("--tokenizer", help="HF id or tokenizer folder (default: the model's)")
    parser.add_argument("--results_dir", "--log_dir", dest="results_dir",
                        help="root of experiment directories (default: $RECIPES_RESULTS_DIR or ./results)")
    parser.add_argument("--json", action="store_true", help="print the checks as a JSON list")
    return parser


def run_checks(args) -> list:
    constraints = Path(os.environ.get(CONSTRAINTS_ENV) or repo_root() / "constraints.txt")
    site_checks, site = check_site()
    return (check_python() + check_packages(constraints) + check_pair() + check_gpus() + check_slurm(site) + site_checks
            + check_model(args.model, args.hf_model_id, args.nemo_model, args.tokenizer)
            + check_results_dir(args.results_dir or default_results_dir()))


@cli_main("recipes.doctor")
def main(argv=None) -> int:
    args = build_parser().parse_args(argv)

    get_model(args.model)  # an unknown -M is a usage error (exit 2), not a failed check
    checks = run_checks(args)
    if args.json:
        print(json.dumps([asdict(c) for c in checks], indent=2))
    else:
        for check in checks:
            print(check.line())
    failed = [c for c in checks if c.status == "FAIL"]
    if failed and not args.json:
        print(f"recipes.doctor: {len(failed)} check(s) failed", file=sys.stderr)
    return 1 if failed else 0
