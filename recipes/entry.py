"""The shared body of ``recipes.pretrain`` and ``recipes.finetune``: parse, plan, validate, run."""

from __future__ import annotations

from recipes.cli import build_parser
from recipes.errors import ValidationErrors


def main(entry: str, argv: list[str] | None = None) -> int:
    args = build_parser(entry).parse_args(argv)
    from recipes.plan import make_plan
    from recipes.validate import validate

    plan = make_plan(entry, args)
    problems = validate(plan)
    if problems:
        raise ValidationErrors(problems)
    from recipes.launch import run_plan

    return run_plan(plan)
