"""Argument parsing for ``recipes.pretrain`` and ``recipes.finetune`` (the tutorial scripts' flags).

Only the standard library is imported here, so ``--help`` answers at once; NeMo and NeMo-Run are
imported after parsing and validation.
"""

from __future__ import annotations

import argparse

from executors import EXECUTORS
from recipes import backends
from recipes.config.models import MODELS
from recipes.config.options import flag_fields
from recipes.core.errors import UsageError

PEFT_CHOICES = ("none", "lora", "dora")
DEFAULT_EXPERIMENT = {"pretrain": "llama31_pretraining", "finetune": "llama31_finetuning"}

EPILOG = """\
Trailing KEY=VALUE arguments override any field of the resolved recipe, e.g.
  trainer.max_steps=10 optim.config.lr=1e-5 trainer.val_check_interval=50
Secrets: export HF_TOKEN / WANDB_API_KEY; jobs receive them through the environment by name.
Exit status: 0 success, 2 usage or validation error, 1 run failure."""


def build_parser(entry: str) -> argparse.ArgumentParser:
    """``entry`` is ``pretrain`` or ``finetune``."""
    parser = argparse.ArgumentParser(
        prog=f"python -m recipes.{entry}", epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter,
        description=("Continual pretraining (or from scratch) of a Llama model." if entry == "pretrain"
                     else "Finetune a Llama model: full SFT, LoRA or DoRA."),
    )
    run = parser.add_argument_group("where it runs")
    run.add_argument("--executor", choices=EXECUTORS, default="local",
                     help="local: this machine (torchrun when -G > 1); torchrun; slurm; docker (default: local)")
    run.add_argument("-E", "--experiment", default=DEFAULT_EXPERIMENT[entry],
                     help="experiment name; logs and checkpoints go to RESULTS_DIR/EXPERIMENT (default: %(default)s)")
    run.add_argument("--results_dir", "--log_dir", dest="results_dir", default=None,
                     help="root of experiment directories (default: $RECIPES_RESULTS_DIR or ./results)")
    run.add_argument("-a", "--account", help="Slurm account (or $RECIPES_ACCOUNT / $SBATCH_ACCOUNT / site file)")
    run.add_argument("-p", "--partition", help="Slurm partition (or $RECIPES_PARTITION / site file)")
    run.add_argument("--cpu_partition", help="Slurm partition for CPU-only tasks such as the HF -> NeMo import "
                                              "(or $RECIPES_CPU_PARTITION / site file; default: -p)")
    run.add_argument("-t", "--time", help="Slurm time limit, e.g. 04:00:00")
    run.add_argument("-i", "--container_image", help="container image (pyxis on Slurm; docker executor)")
    run.add_argument("--container_mounts", help="comma-separated SRC:DST mounts; default: every path the job uses")
    run.add_argument("-N", "--num_nodes", type=int, default=1, help="nodes (default: 1)")
    run.add_argument("-G", "--num_gpus", "--devices", dest="num_gpus", type=int, default=None,
                     help="GPUs per node (default: all visible locally, 8 on Slurm); with --cpu: processes")
    run.add_argument("--cpu", action="store_true", help="run on CPUs (small-model backend); no GPUs requested")
    run.add_argument("--retries", type=int, default=0, help="Slurm: requeue up to N times after a failure")
    run.add_argument("--dependency", action="append", default=[], metavar="JOBID",
                     help="Slurm: start after this job (repeatable)")
    run.add_argument("--dependency_type", default="afterok", choices=("afterok", "afterany", "afternotok", "after"))
    run.add_argument("--signal", help="Slurm --signal, e.g. TERM@120: save a checkpoint before the time limit")
    run.add_argument("--sbatch", action="append", default=[], metavar="KEY=VALUE",
                     help="extra sbatch parameter, e.g. --sbatch qos=high (repeatable)")
    run.add_argument("--env", action="append", default=[], metavar="KEY=VALUE",
                     help="environment variable for the job (never secrets; repeatable)")
    run.add_argument("--packager", choices=("git", "none"), default=None,
                     help="Slurm: ship committed code (git, default in a git checkout) or use the image's copy (none)")
    run.add_argument("--allow_dirty", action="store_true",
                     help="with --packager git: submit although uncommitted changes will not travel")
    run.add_argument("--job_dir", help="NeMo-Run job files (default: $NEMORUN_HOME/experiments)")

    model = parser.add_argument_group("model and data")
    model.add_argument("-M", "--model", "--model_size", dest="model", default="llama31_8b",
                       help=f"model: {', '.join(MODELS)} (default: %(default)s)")
    model.add_argument("--backend", choices=("auto", *backends.names()), default="auto",
                       help="auto: Megatron, or the small-model HF backend for debug models without a GPU")
    model.add_argument("--hf_model_id", help="HF id or local HF folder: starting weights and tokenizer")
    model.add_argument("-n", "--nemo_model", nargs="?", const="", default=None,
                       help="NeMo checkpoint to start from; given empty (the tutorial's `--nemo_model ${NEMO_MODEL}` "
                            "with it unset) in finetuning: the newest checkpoint of llama31_pretraining")
    model.add_argument("--hf_token", help="deprecated: export HF_TOKEN instead (command lines are visible)")
    model.add_argument("--tokenizer", help="tokenizer (HF id or folder; default: the model's)")
    model.add_argument("-D", "--dataset_path", help=("Megatron mmap prefix(es) 'W1 P1 W2 P2' or a folder of .bin/.idx"
                                                     if entry == "pretrain" else
                                                     "folder with training.jsonl, validation.jsonl[, test.jsonl]"))
    if entry == "pretrain":  # accepted only to explain where it belongs
        model.add_argument("--peft", default=None, help=argparse.SUPPRESS)
        model.add_argument("--mock_data", action="store_true",
                           help="Megatron: train on random tokens (a smoke test); without it -D is required")
    if entry == "finetune":
        model.add_argument("--peft", type=str.lower, choices=PEFT_CHOICES, default="none",
                           help="none: full finetuning, as the tutorial script (default); lora or dora: adapters")

    _add_option_flags(model, entry, "model and data")
    train = parser.add_argument_group("training")
    _add_option_flags(train, entry, "training")
    train.add_argument("--gpu_memory", type=float, metavar="GB",
                       help="memory of one GPU in GiB for the pre-flight estimate (default: site file, else local GPUs)")
    train.add_argument("--no_memory_check", action="store_true",
                       help="do not refuse a job whose memory estimate exceeds the GPU (the table is still printed)")
    train.add_argument("--wandb_token", help="deprecated: export WANDB_API_KEY instead (command lines are visible)")

    act = parser.add_argument_group("what to do")
    act.add_argument("--dryrun", action="store_true", help="print the recipe (and sbatch script); run nothing")
    act.add_argument("--detach", action="store_true", help="submit and return (Slurm)")
    act.add_argument("-y", "--yes", action="store_true", help="do not ask for confirmation")
    act.add_argument("--debug", action="store_true", help="show the traceback of an internal error (or RECIPES_DEBUG=1)")
    act.add_argument("--rehearse", action="store_true",
                     help="first run this recipe shrunk to debug size on this CPU (2 steps, a checkpoint, a resume; "
                          "about a minute); a failure stops the submission")
    act.add_argument("--restart", action="store_true",
                     help="start this experiment over: its directory is kept, renamed EXPERIMENT.old-<time>")
    parser.add_argument("overrides", nargs="*", metavar="KEY=VALUE", help="recipe overrides (dotted)")
    return parser


def _add_option_flags(group, entry: str, title: str) -> None:
    """The flags declared on :class:`RecipeOptions` fields (:func:`recipes.config.options.flag`) of this group."""
    for f in flag_fields(entry):
        if f.metadata["group"] == title:
            group.add_argument(*f.metadata["flags"], dest=f.name, **f.metadata["argparse"])


def flag_names(entry: str | None = None) -> dict[str, str]:
    """argparse destination -> how problems name it (``-a/--account``), read off the parsers themselves
    (of ``entry``, else of both commands)."""
    actions = [a for e in ([entry] if entry else list(DEFAULT_EXPERIMENT)) for a in build_parser(e)._actions]
    return {a.dest: "/".join(a.option_strings) for a in actions if a.option_strings}


def parse_key_values(items: list[str], flag: str) -> dict[str, str]:
    result = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise UsageError(f"{flag}: {item!r} is not KEY=VALUE; e.g. {flag} NAME=value")
        result[key] = value
    return result
