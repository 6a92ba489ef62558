"""Names the CLI validates against without importing NeMo (kept in sync with recipes.megatron.recipe)."""

FP8_RECIPE_NAMES = ("delayed", "tensorwise", "current", "mxfp8", "blockwise")
# The tutorial scripts' spellings (NeMo-Tutorial pretrain.py/finetune.py) -> ours; same NeMo precision plugins.
FP8_RECIPE_ALIASES = {"delayed_scaling": "delayed", "current_scaling": "current", "subchannel_scaling": "blockwise"}


def fp8_recipe_name(name: str) -> str:
    return FP8_RECIPE_ALIASES.get(name, name)
