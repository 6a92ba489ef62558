"""Every model × task registered with NeMo-Run's CLI, so NeMo-Run users can use them directly::

    nemo llm pretrain --factory llama31_8b_pretrain trainer.max_steps=10
    nemo llm finetune --factory tiny_lora

(after ``import recipes.backends.factories``, e.g. from a ``run.cli.main`` script). Each factory has the
signature of NeMo's own (``dir``, ``name``, ``num_nodes``, ``num_gpus_per_node``).
"""

from __future__ import annotations

from typing import Callable, Optional

import nemo_run as run
from nemo.collections import llm

from recipes.backends import build_recipe
from recipes.config.models import MODELS
from recipes.config.options import TASKS, RecipeOptions, default_results_dir
from recipes.hf.task import train

TARGETS = {"pretrain": llm.pretrain, "sft": llm.finetune, "lora": llm.finetune, "dora": llm.finetune}


def _make_factory(model: str, task: str) -> Callable[..., run.Partial]:
    def factory(dir: Optional[str] = None, name: str = "default", num_nodes: int = 1,
                num_gpus_per_node: int = 8) -> run.Partial:
        tp, pp, cp = MODELS[model].default_parallelism(task)
        opts = RecipeOptions(task=task, model=model, backend="megatron", experiment=name,
                             results_dir=dir or default_results_dir(), num_nodes=num_nodes,
                             num_gpus=num_gpus_per_node, tensor_model_parallel_size=tp,
                             pipeline_model_parallel_size=pp, context_parallel_size=cp)
        opts.global_batch_size = 8 if MODELS[model].is_debug else (512 if task == "pretrain" else 128)
        return build_recipe(opts)

    factory.__name__ = factory.__qualname__ = f"{model}_{task}"
    factory.__doc__ = f"{MODELS[model].description}: {task} (Megatron backend)."
    return run.cli.factory(target=TARGETS[task], name=factory.__name__)(factory)


def _make_hf_factory(model: str, task: str) -> Callable[..., run.Partial]:
    """The small-model backend (CPU or one GPU per process) for debug models."""
    def factory(dir: Optional[str] = None, name: str = "default", num_nodes: int = 1,
                num_gpus_per_node: int = 1) -> run.Partial:
        opts = RecipeOptions(task=task, model=model, backend="hf", experiment=name,
                             results_dir=dir or default_results_dir(), num_nodes=num_nodes,
                             num_gpus=num_gpus_per_node, tensor_model_parallel_size=1,
                             pipeline_model_parallel_size=1, context_parallel_size=1,
                             # the demo's paths; set data.paths / data.dataset_root to use others
                             dataset_path="data/sample_text_document" if task == "pretrain" else "data/sft")
        return build_recipe(opts)

    factory.__name__ = factory.__qualname__ = f"{model}_{task}_hf"
    factory.__doc__ = f"{MODELS[model].description}: {task} (small-model backend)."
    return run.cli.factory(target=train, name=factory.__name__)(factory)


FACTORIES = {f"{model}_{task}": _make_factory(model, task) for model in MODELS for task in TASKS}
FACTORIES.update({f"{model}_{task}_hf": _make_hf_factory(model, task)
                  for model in MODELS if MODELS[model].is_debug for task in TASKS})
