"""``python -m recipes.pipeline``: a pipeline file (``reader``) planned into checked stages (``plan``,
``stages``, ``argv``), run here or on Slurm (``runner``, ``slurm``), read back (``status``).

The bundled pipeline files (``demo.yaml``, ``tutorial.yaml``) live beside the code.
"""
