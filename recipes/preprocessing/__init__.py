"""``python -m recipes.preprocess``: the command (``command``), its Slurm settings (``slurm``), and
the sharded run with its resumable merge (``shards``). The encoding itself is in :mod:`recipes.data`.
"""
