"""The typed job description and its parts: resolved options (``RecipeOptions``), the model registry,
the ``-D`` data value, run identity, dotted overrides and the Slurm settings resolver.

Imports nothing from the backends, launch or pipelines: everything above reads these types.
"""
