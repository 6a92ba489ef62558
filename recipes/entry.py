"""The shared body of ``recipes.pretrain`` and ``recipes.finetune``: parse, plan, build+override, validate, run."""

from __future__ import annotations

from recipes.cli import build_parser
from recipes.errors import ValidationErrors


def main(entry: str, argv: list[str] | None = None) -> int:
    args = build_parser(entry).parse_args(argv)
    from recipes.plan import make_plan
    from recipes.validate import validate

    plan = make_plan(entry, args)
    problems = []
    if plan.overrides:  # only then does the recipe differ from the plan; building imports NeMo
        from recipes.built import build_and_override

        problems = build_and_override(plan)
    problems += validate(plan)
    if problems:
        raise ValidationErrors(problems)
    from recipes.launch import run_plan

    return run_plan(plan)
