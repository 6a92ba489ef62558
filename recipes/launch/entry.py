"""The shared body of ``recipes.pretrain`` and ``recipes.finetune``: parse, plan, build+override, validate, run."""

from __future__ import annotations

import sys

from recipes.config.slurm_settings import launch_problems
from recipes.core.errors import ValidationErrors
from recipes.core.secrets import adopt
from recipes.job.cli import build_parser
from recipes.job.tutorial_spellings import split_spellings
from recipes.job.validate import checked_plan
from recipes.launch.experiment import run_plan


def main(entry: str, argv: list[str] | None = None) -> int:
    argv, spellings = split_spellings(sys.argv[1:] if argv is None else list(argv))
    args = build_parser(entry).parse_args(argv)

    plan, problems = checked_plan(entry, args, spellings)
    adopt(plan.secrets)  # secrets given by value: warned about, handed on by name through the environment
    problems += launch_problems(plan)  # the repository and job directory, reported with the rest
    if problems:
        raise ValidationErrors(problems)

    return run_plan(plan)
