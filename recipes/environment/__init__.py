"""``python -m recipes.doctor``: the environment's checks (``checks``, ``paths``) and the NeMo /
megatron-core pair check (``stack``, also run by ``scripts/setup.sh``).
"""
