"""Names the CLI validates against without importing NeMo (kept in sync with recipes.megatron)."""

FP8_RECIPE_NAMES = ("delayed", "tensorwise", "current", "mxfp8", "blockwise")
