"""Dotted ``KEY=VALUE`` overrides on a Fiddle recipe: ``trainer.max_steps=10 optim.config.lr=1e-5``.

Each value is parsed against the type annotation of the field it sets (NeMo-Run's own
``TypeParser``, with the annotation resolved even under ``from __future__ import annotations``), so
``trainer.max_steps=abc`` is refused here, not inside the job. Where a field has no usable
annotation the value is read as a Python literal and must keep the type of the value it replaces.
All bad overrides are reported together.
"""

from __future__ import annotations

import ast
import inspect
import re
import types
import typing

from recipes.core.errors import UsageError, ValidationErrors

_KEY = re.compile(r"^[A-Za-z_][\w]*(\.[A-Za-z_][\w]*)*$")
_MISSING = object()


def parse_value(text: str):
    """Python literals, ``true``/``false``/``none`` in any case; anything else stays a string."""
    lowered = text.lower()
    if lowered in ("true", "false"):
        return lowered == "true"
    if lowered in ("none", "null"):
        return None
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError):
        return text


def _annotation(node, name: str):
    """The declared type of field ``name`` of the Config/Partial ``node`` (None when unknown)."""
    target = node.__fn_or_cls__
    func = target.__init__ if inspect.isclass(target) else target
    try:
        hint = typing.get_type_hints(func).get(name)
    except Exception:  # noqa: BLE001 - unresolvable forward references: fall back to the value's type
        hint = None
    if isinstance(hint, types.UnionType):  # `str | None`: NeMo-Run's TypeParser knows typing.Union only
        hint = typing.Union[hint.__args__]
    return None if hint in (None, typing.Any) else hint


def _has_field(node, name: str) -> bool:
    try:
        params = inspect.signature(node.__fn_or_cls__).parameters
    except (TypeError, ValueError):
        return True
    return name in params or any(p.kind == p.VAR_KEYWORD for p in params.values())


def _typed(node, name: str, raw: str):
    from nemo_run.cli.cli_parser import ParseError
    from nemo_run.cli.cli_parser import parse_value as parse_typed

    hint = _annotation(node, name)
    if hint is not None:
        try:
            return parse_typed(raw, hint)
        except (ParseError, ValueError, TypeError):
            shown = hint.__name__ if isinstance(hint, type) else str(hint).replace("typing.", "")
            raise ValueError(f"expected {shown}") from None
    value, current = parse_value(raw), getattr(node, name, _MISSING)
    kinds = (bool, int, float, str)
    if current not in (_MISSING, None) and isinstance(current, kinds) and value is not None:
        same = isinstance(value, type(current)) or (type(current) is float and type(value) is int)
        if not same or (type(current) is int and type(value) is bool):
            raise ValueError(f"expected {type(current).__name__} like the recipe's {current!r}")
    return value


def override_problem(recipe, item: str) -> str | None:
    """Apply one override to ``recipe`` in place; a one-line problem instead when it cannot be."""
    key, sep, raw = item.partition("=")
    if not sep or not _KEY.match(key):
        return f"override {item!r}: expected dotted KEY=VALUE, e.g. trainer.max_steps=10"
    *parents, leaf = key.split(".")
    node = recipe
    for i, name in enumerate(parents):
        node = getattr(node, name, None)
        if node is None or not hasattr(node, "__fn_or_cls__"):
            return (f"override {item!r}: the recipe has no {'.'.join(parents[: i + 1])}; "
                    "print it with --dryrun to see its fields")
    if not _has_field(node, leaf):
        return f"override {item!r}: {'.'.join(parents) or 'the recipe'} has no field {leaf!r}; see --dryrun"
    try:
        setattr(node, leaf, _typed(node, leaf, raw))
    except (AttributeError, TypeError, ValueError) as exc:
        return f"override {item!r}: {str(exc).splitlines()[0]}; e.g. {key}=<value> (see --dryrun for the field)"
    return None


def override_problems(recipe, overrides: list[str]) -> list[str]:
    """Apply every override that parses; one line for each that does not."""
    return [p for p in (override_problem(recipe, item) for item in overrides) if p]


def apply_overrides(recipe, overrides: list[str]):
    """Apply ``overrides`` to ``recipe``; raises ValidationErrors listing every bad one."""
    problems = override_problems(recipe, overrides)
    if problems:
        raise ValidationErrors(problems) if len(problems) > 1 else UsageError(problems[0])
    return recipe
