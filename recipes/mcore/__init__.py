"""What the Megatron backend runs inside the training process (never at planning time).

:mod:`recipes.mcore.train` holds the recipe's target functions (NeMo's ``llm.pretrain`` /
``llm.finetune`` behind the stack checks), :mod:`recipes.mcore.compat` the megatron-core 0.16
adapter, :mod:`recipes.mcore.cpu` the CPU mode's replacements of CUDA-only calls.
"""
