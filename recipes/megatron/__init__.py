"""The Megatron backend's machinery on NeMo 2: recipes from NeMo's own factories, the CPU rehearsal
and the pre-flight memory estimate (``memory``, plain arithmetic).

Importing this package imports nothing; ``recipe`` and ``rehearse`` import NeMo, and the Megatron backend
(:mod:`recipes.backends.megatron`) loads them when it first builds a recipe.
"""
