"""Llama checkpoint conversion: Hugging Face / Meta <-> NeMo 2, on CPU, with or without TE.

``import_hf`` / ``export_hf`` are plain functions, so a recipe can run them as a NeMo-Run task
(e.g. ``run.Partial(import_hf, source=..., output_path=...)`` on a CPU Slurm partition).
Importing this package does not import NeMo.
"""

from recipes.conversion.api import export_hf, import_hf

__all__ = ["export_hf", "import_hf"]
