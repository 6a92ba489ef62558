"""The resolved options of one training job, shared by the CLI, the validators and both backends.

The CLI turns flags into a :class:`RecipeOptions`; ``recipes.megatron.recipe`` and ``recipes.hf`` turn one
into a ``nemo_run.Partial``. Keeping this a plain dataclass keeps the backends independent of argparse.
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass, field
from pathlib import Path

TASKS = ("pretrain", "sft", "lora", "dora")
RESULTS_ENV = "RECIPES_RESULTS_DIR"
PRETRAIN_SPLIT = "900,50,50"  # train,validation,test documents per prefix (NeMo's PreTrainingDataModule default)


def default_results_dir() -> str:
    return os.environ.get(RESULTS_ENV, "results")


def nemo_models_dir() -> str:
    """NeMo's model cache (``$NEMO_HOME/models``, default ``~/.cache/nemo/models``), resolved where the job is planned.

    The import task writes there and the training task restores from there by absolute path, so both
    agree inside a container too (the directory is mounted like every other job path).
    """
    home = os.environ.get("NEMO_HOME") or os.path.join("~", ".cache", "nemo")
    return str(Path(home).expanduser().absolute() / "models")


def experiment_dir(results_dir: str, experiment: str) -> str:
    """Stable per-experiment directory: logs and checkpoints, the same on every (re)launch."""
    return str(Path(results_dir).expanduser().absolute() / experiment)


@dataclass
class RecipeOptions:
    task: str = "pretrain"
    model: str = "llama31_8b"
    backend: str = "megatron"
    experiment: str = "llama31_pretraining"
    results_dir: str = field(default_factory=default_results_dir)
    num_nodes: int = 1
    num_gpus: int = 8
    hf_model_id: str | None = None
    nemo_model: str | None = None
    tokenizer: str | None = None
    seq_length: int | None = None
    max_steps: int = 100
    global_batch_size: int | None = None
    micro_batch_size: int = 1
    lr: float | None = None
    tensor_model_parallel_size: int = 1
    pipeline_model_parallel_size: int = 1
    context_parallel_size: int = 1
    sequence_parallel: bool | None = None  # None: the recipe's default
    fp8: bool = False
    fp8_recipe: str = "delayed"
    dataset_path: str | None = None  # the -D text (canonical: absolute prefixes, normalised weights)
    data: object = None  # the same, typed (recipes.spec.data_spec.DataSpec), as planning parsed it: builders read this
    packed_sequence: bool = False
    qlora: bool = False  # small-model backend: LoRA over a 4-bit (bitsandbytes) base; CUDA only
    wandb: bool = False
    wandb_project: str | None = None
    wandb_name: str | None = None
    seed: int = 1234
    val_check_interval: int | None = None
    ckpt_every_n_steps: int | None = None
    cpu: bool = False  # --cpu: CPU processes (gloo); the Megatron backend's CPU mode for debug-size models

    @property
    def log_dir(self) -> str:
        return experiment_dir(self.results_dir, self.experiment)

    @property
    def checkpoint_dir(self) -> str:
        return str(Path(self.log_dir) / "checkpoints")

    @property
    def import_dir(self) -> str | None:
        """Where ``--hf_model_id`` is imported to NeMo for the Megatron backend (the cache layout NeMo uses)."""
        return str(Path(nemo_models_dir()) / self.hf_model_id.lstrip("/")) if self.hf_model_id else None

    @property
    def world_size(self) -> int:
        return self.num_nodes * self.num_gpus

    @property
    def model_parallel_size(self) -> int:
        return self.tensor_model_parallel_size * self.pipeline_model_parallel_size * self.context_parallel_size

    @property
    def data_parallel_size(self) -> int:
        return max(1, self.world_size // max(1, self.model_parallel_size))

    @property
    def peft(self) -> str | None:
        return self.task if self.task in ("lora", "dora") else None

    def replace(self, **changes) -> "RecipeOptions":
        return dataclasses.replace(self, **changes)
