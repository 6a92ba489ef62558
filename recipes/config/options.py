"""The resolved options of one training job, shared by the CLI, the validators and both backends.

The CLI turns flags into a :class:`RecipeOptions` (and builds the flags of its :func:`flag` fields); ``recipes.megatron.recipe`` and ``recipes.hf`` turn one
into a ``nemo_run.Partial``. Keeping this a plain dataclass keeps the backends independent of argparse.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
from dataclasses import MISSING, dataclass, field
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


FP8_RECIPE_NAMES = ("delayed", "tensorwise", "current", "mxfp8", "blockwise")  # the Megatron recipe's FP8_RECIPES
# The tutorial scripts' spellings (NeMo-Tutorial pretrain.py/finetune.py) -> ours; same NeMo precision plugins.
FP8_RECIPE_ALIASES = {"delayed_scaling": "delayed", "current_scaling": "current", "subchannel_scaling": "blockwise"}


def fp8_recipe_name(name: str) -> str:
    return FP8_RECIPE_ALIASES.get(name, name)


def optional_int(text: str) -> int | None:
    """``--max_steps None`` (the tutorials' spelling) means the default."""
    if text.lower() in ("none", ""):
        return None
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None


def flag(*names: str, default=None, group: str = "training", entries: tuple[str, ...] = ("pretrain", "finetune"),
         read_back: tuple[str, ...] = (), cli_default=MISSING, **argparse_kwargs):
    """A :class:`RecipeOptions` field that is also a command-line flag.

    ``names`` and ``argparse_kwargs`` are ``add_argument``'s (a bool field is a ``store_true`` flag);
    ``group`` is the ``--help`` group, ``entries`` the commands that have it; ``cli_default`` the parser's
    default where planning resolves the value (e.g. ``None``: the recipe's); ``read_back`` the recipe
    paths (the same on every backend) whose override sets this field."""
    if not argparse_kwargs.get("action") and isinstance(default, bool):
        argparse_kwargs["action"] = "store_true"
    argparse_kwargs["default"] = default if cli_default is MISSING else cli_default
    return field(default=default, metadata={"flags": names, "group": group, "entries": entries,
                                            "read_back": read_back, "argparse": argparse_kwargs})


def flag_fields(entry: str | None = None) -> list[dataclasses.Field]:
    """The fields of :class:`RecipeOptions` that are flags (of ``entry``: pretrain or finetune), in order."""
    return [f for f in dataclasses.fields(RecipeOptions)
            if "flags" in f.metadata and (entry is None or entry in f.metadata["entries"])]


@dataclass
class RecipeOptions:
    """One training job's options. A field made with :func:`flag` is also a flag of ``recipes.pretrain`` /
    ``recipes.finetune``: the CLI adds it (:mod:`recipes.job.cli`), planning copies it
    (:mod:`recipes.job.plan`), problems name it by its flags (:mod:`recipes.job.support`) and an override
    of one of its ``read_back`` recipe paths updates it (:mod:`recipes.job.built`). A new option is a
    field here, the backends that honour it, and its docs."""

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
    dataset_path: str | None = None  # the -D text (canonical: absolute prefixes, normalised weights)
    data: object = None  # the same, typed (recipes.config.data_spec.DataSpec), as planning parsed it: builders read this
    cpu: bool = False  # --cpu: CPU processes (gloo); the Megatron backend's CPU mode for debug-size models
    packed_sequence: bool = flag("--packed_sequence", default=False, group="model and data", entries=("finetune",),
                                 help="pack sequences (needs -m 1)")
    qlora: bool = flag("--qlora", default=False, group="model and data", entries=("finetune",),
                       help="small-model backend: LoRA over a 4-bit base (bitsandbytes, CUDA only)")
    # The training group, in --help order.
    seq_length: int | None = flag("-s", "--seq_length", type=int, read_back=("data.seq_length",),
                                  help="sequence length (default: the model's)")
    max_steps: int = flag("--max_steps", default=100, type=optional_int, cli_default=None,
                          read_back=("trainer.max_steps",),
                          help="optimizer steps (default, or None: one epoch of the training data)")
    global_batch_size: int | None = flag("-g", "--global_batch_size", type=int, read_back=("data.global_batch_size",))
    micro_batch_size: int = flag("-m", "--micro_batch_size", default=1, type=int, read_back=("data.micro_batch_size",))
    lr: float | None = flag("--lr", type=float, read_back=("optim.config.lr",),
                            help="peak learning rate (default: the recipe's)")
    tensor_model_parallel_size: int = flag("-T", "--tensor_model_parallel_size", default=1, type=int, cli_default=None,
                                           read_back=("trainer.strategy.tensor_model_parallel_size",),
                                           help="(default: the recipe's)")
    pipeline_model_parallel_size: int = flag("-P", "--pipeline_model_parallel_size", default=1, type=int,
                                             cli_default=None,
                                             read_back=("trainer.strategy.pipeline_model_parallel_size",),
                                             help="(default: the recipe's)")
    context_parallel_size: int = flag("-C", "--context_parallel_size", default=1, type=int, cli_default=None,
                                      read_back=("trainer.strategy.context_parallel_size",),
                                      help="(default: the recipe's)")
    sequence_parallel: bool | None = flag("--sequence_parallel", action="store_true",  # None: the recipe's default
                                          read_back=("trainer.strategy.sequence_parallel",), help="needs -T > 1")
    fp8: bool = flag("--fp8", default=False, help="FP8 mixed precision (Hopper+, Transformer Engine)")
    fp8_recipe: str = flag("--fp8_recipe", default="delayed",
                           help=f"one of {', '.join(FP8_RECIPE_NAMES)} (the tutorial's delayed_scaling, "
                                "current_scaling, subchannel_scaling also work)")
    seed: int = flag("--seed", default=1234, type=int)
    val_check_interval: int | None = flag("--val_check_interval", type=int, read_back=("trainer.val_check_interval",),
                                          help="validate every N steps")
    ckpt_every_n_steps: int | None = flag("--ckpt_every_n_steps", type=int,
                                          read_back=("log.ckpt.every_n_train_steps",),
                                          help="save a checkpoint every N steps")
    wandb: bool = flag("--wandb", default=False, help="log to Weights & Biases (WANDB_API_KEY from the env)")
    wandb_project: str | None = flag("--wandb_project")
    wandb_name: str | None = flag("--wandb_name", help="W&B run name (default: the experiment name)")

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
