"""``python -m recipes.hf.train``: run a small-model recipe directly, without NeMo-Run (tests, debugging).

``python -m recipes.hf.train --options '{"task": "lora", ...}' --set trainer.max_steps=20`` builds the
recipe from ``RecipeOptions`` fields (:func:`recipes.hf.recipe.build_recipe`), applies the overrides
and calls the task function :func:`recipes.hf.task.train` in this process.

Exit status: 0 when done; ``REQUEUE_EXIT_CODE`` (143) after SIGTERM/SIGUSR1 made it save a checkpoint
and stop early: relaunching the same command resumes from that checkpoint.
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

from recipes.config.options import RecipeOptions
from recipes.config.overrides import apply_overrides
from recipes.core.errors import UsageError, cli_main
from recipes.hf.config import RequeueExit
from recipes.hf.recipe import build_recipe
from recipes.hf.task import train  # noqa: F401  (train: the task function, under its old name too)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m recipes.hf.train",
                                     description="Run a small-model recipe directly, without NeMo-Run.")
    parser.add_argument("--options", required=True,
                        help="RecipeOptions fields as JSON (a string or a file), e.g. "
                             '\'{"task": "lora", "model": "tiny", "dataset_path": "data/sft"}\'')
    parser.add_argument("--set", action="append", default=[], metavar="PATH=VALUE",
                        help="dotted recipe override, e.g. trainer.max_steps=20 (repeatable)")
    args = parser.parse_args(argv)
    return _run_cli(args.options, args.set)


@cli_main("recipes.hf.train")
def _run_cli(options: str, overrides: list[str]) -> int:
    import fiddle as fdl

    text = Path(options).read_text() if os.path.isfile(options) else options
    try:
        fields = json.loads(text)
    except json.JSONDecodeError as exc:
        raise UsageError(f"--options: not JSON ({exc.msg}); pass a JSON object or a file holding one") from exc
    try:
        opts = RecipeOptions(**{"backend": "hf", **fields})
    except TypeError as exc:
        raise UsageError(f"--options: {exc}; use RecipeOptions field names (task, model, dataset_path, ...)") from exc
    recipe = apply_overrides(build_recipe(opts), overrides)
    try:
        fdl.build(recipe)()
    except RequeueExit as exc:
        return exc.code
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
