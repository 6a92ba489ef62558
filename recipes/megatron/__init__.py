"""The Megatron backend's machinery on NeMo 2: recipes from NeMo's own factories, the CPU rehearsal,
the pre-flight memory estimate and the names the CLI validates against (``names``, without NeMo).

Importing this package imports nothing; ``recipe`` and ``rehearse`` load NeMo on first use.
"""
