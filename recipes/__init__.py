"""Llama recipe library on NeMo 2, NeMo-Run and Megatron-Core.

Entry points (each a thin CLI over importable modules):

    python -m recipes.pretrain   ...   continual pretraining / pretraining from scratch
    python -m recipes.finetune   ...   SFT, LoRA, DoRA
    python -m recipes.preprocess ...   JSONL/parquet -> Megatron mmap (.bin/.idx)
    python -m recipes.prepare_sft ...  raw instruction/dialogue data -> training/validation/test.jsonl

Nothing here imports NeMo at import time: ``--help`` must stay fast.
"""

__version__ = "0.1.0"

from recipes.core import quiet as _quiet  # noqa: E402  (light: no torch/NeMo)

_quiet.install()  # third-party warnings that do not apply here, each named with its reason

from recipes.launch.jobcontrol import follow_launcher as _follow_launcher  # noqa: E402

_follow_launcher()  # in a local job: stop (checkpoint first) when the launcher is gone
