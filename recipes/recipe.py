"""Backend dispatch: a :class:`RecipeOptions` -> the training ``nemo_run.Partial``."""

from __future__ import annotations

from recipes.options import RecipeOptions


def build_recipe(opts: RecipeOptions):
    if opts.backend == "hf":
        from recipes.hf.recipe import build_recipe as build_hf
        return build_hf(opts)
    from recipes.megatron import build_recipe as build_megatron
    return build_megatron(opts)


def pre_tasks(opts: RecipeOptions, needs_import: bool) -> list[tuple[str, object]]:
    """Tasks that run before training in the same experiment (in order)."""
    if not needs_import:
        return []
    from recipes.megatron import import_task
    return [("import", import_task(opts))]
