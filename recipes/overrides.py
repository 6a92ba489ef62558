"""Dotted ``KEY=VALUE`` overrides on a Fiddle recipe: ``trainer.max_steps=10 optim.config.lr=1e-5``."""

from __future__ import annotations

import ast
import re

from recipes.errors import UsageError

_KEY = re.compile(r"^[A-Za-z_][\w]*(\.[A-Za-z_][\w]*)*$")


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


def apply_overrides(recipe, overrides: list[str]):
    for item in overrides:
        key, sep, raw = item.partition("=")
        if not sep or not _KEY.match(key):
            raise UsageError(f"override {item!r}: expected dotted KEY=VALUE, e.g. trainer.max_steps=10")
        *parents, leaf = key.split(".")
        node = recipe
        for i, name in enumerate(parents):
            node = getattr(node, name, None)
            if node is None:
                raise UsageError(f"override {item!r}: the recipe has no {'.'.join(parents[: i + 1])}; "
                                 "print it with --dryrun to see its fields")
        try:
            setattr(node, leaf, parse_value(raw))
        except (AttributeError, TypeError, ValueError) as exc:
            raise UsageError(f"override {item!r}: {str(exc).splitlines()[0]}; print the recipe with --dryrun "
                             "to see its fields") from None
    return recipe
