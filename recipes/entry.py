"""The shared body of ``recipes.pretrain`` and ``recipes.finetune``: parse, plan, build+override, validate, run."""

from __future__ import annotations

import sys

from recipes.cli import build_parser
from recipes.errors import ValidationErrors
from recipes.slurm_settings import launch_problems
from recipes.tutorial_spellings import spelling_problems, split_spellings


def main(entry: str, argv: list[str] | None = None) -> int:
    argv, spellings = split_spellings(sys.argv[1:] if argv is None else list(argv))
    args = build_parser(entry).parse_args(argv)
    from recipes.plan import make_plan
    from recipes.validate import validate

    plan = make_plan(entry, args)
    problems = spelling_problems(spellings, plan)  # reported with every other problem
    if plan.overrides:  # only then does the recipe differ from the plan; building imports NeMo
        from recipes.built import build_and_override

        problems += build_and_override(plan)
    problems += validate(plan)
    problems += launch_problems(plan)  # the repository and job directory, reported with the rest
    if problems:
        raise ValidationErrors(problems)
    from recipes.launch import run_plan

    return run_plan(plan)
