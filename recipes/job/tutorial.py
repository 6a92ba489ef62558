"""Fidelity to the tutorial scripts (NeMo-Tutorial ``pretraining/pretrain.py``, ``finetuning/finetune.py``).

Their flags keep their meaning here. Where the project follows the tutorial:

- ``--max_steps`` absent or ``None``: one epoch of the training data (the tutorial computed it for
  pretraining, assuming 2 bytes per token; here the token count is read from the ``.idx`` files);
- continual pretraining (from ``-n`` or ``--hf_model_id``) without ``--lr``: 1e-5, the tutorial's;
- ``-T`` > 1 without ``--sequence_parallel``: sequence parallelism on, as the tutorial (which also
  forced it on with TP 1, where Megatron refuses it);
- finetuning without ``--peft``: full finetuning; an empty ``--nemo_model`` (``--nemo_model ${NEMO_MODEL}``
  with NEMO_MODEL unset): the newest ``-last`` checkpoint of the pretraining experiment.

Where it keeps NeMo's recipe instead (sequence length, packing, batch size, parallel layout, the
LoRA learning rate, the prompt template), :func:`differences` prints one line per difference with
the flag that restores the tutorial's behaviour. Only for the real models (the tutorials' own);
the ``tiny`` debug model has no tutorial counterpart.
"""

from __future__ import annotations

import math
import os
from pathlib import Path

from recipes import backends
from recipes.config.models import get_model
from recipes.core.errors import UsageError
from recipes.data.mmap_paths import parse_mmap_paths

CONTINUAL_PRETRAIN_LR = 1e-5
PRETRAIN_EXPERIMENT = "llama31_pretraining"  # where the tutorial's finetune.py looks for checkpoints
_IDX_MAGIC = b"MMIDIDX\x00\x00"


def tutorial_defaults(entry: str) -> dict:
    """The tutorial script's defaults for the flags it shares with ours (finetune.py, pretrain.py)."""
    common = {"global_batch_size": 2048, "tensor_model_parallel_size": 1, "pipeline_model_parallel_size": 1,
              "context_parallel_size": 1, "seq_length": 8192}
    if entry == "pretrain":
        return {**common, "lr": 1e-5}
    return {**common, "lr": 5e-6, "packed_sequence": True}


def differences(entry: str, args, opts) -> list[str]:
    """One note per value that differs from what the tutorial script would have used, with the fix."""
    if get_model(opts.model).is_debug:
        return []
    given = {name for name, value in vars(args).items() if value not in (None, False, [])}
    tutorial = tutorial_defaults(entry)
    flags = {"global_batch_size": "-g", "tensor_model_parallel_size": "-T", "pipeline_model_parallel_size": "-P",
             "context_parallel_size": "-C", "seq_length": "-s", "lr": "--lr"}
    resolved = {"global_batch_size": opts.global_batch_size, "tensor_model_parallel_size": opts.tensor_model_parallel_size,
                "pipeline_model_parallel_size": opts.pipeline_model_parallel_size,
                "context_parallel_size": opts.context_parallel_size, "seq_length": _seq_length(opts),
                "lr": opts.lr if opts.lr is not None else _recipe_lr(opts)}
    notes = []
    for name, flag in flags.items():
        if name in given or resolved[name] == tutorial[name]:
            continue
        notes.append(f"{flag} {resolved[name]:g} (NeMo's {opts.model} {opts.task} recipe); the tutorial script's "
                     f"default was {tutorial[name]:g}: pass {flag} {tutorial[name]:g} for it")
    if entry == "finetune":
        if not opts.packed_sequence:
            notes.append("sequences are not packed (NeMo's recipe); the tutorial script packed them: pass "
                         "--packed_sequence (with -m 1)")
        notes.append("prompt: NeMo's '{input} {output}'; the tutorial wrapped rows in a Llama 3 chat template with "
                     "a system prompt: prepare the folder with python -m recipes.prepare_sft --template llama3")
    if entry == "pretrain" and opts.hf_model_id and not opts.nemo_model:
        notes.append(f"starting from the weights of --hf_model_id {opts.hf_model_id} (imported); the tutorial "
                     "script trained from scratch without -n: drop --hf_model_id and pass --tokenizer for that")
    return notes


def _seq_length(opts) -> int:
    return opts.seq_length or get_model(opts.model).default_seq_length_for(opts.task, opts.packed_sequence)


def _recipe_lr(opts) -> float:
    """NeMo's recipe learning rates (llama31_8b.pretrain_recipe / finetune_recipe)."""
    return {"pretrain": 3e-4, "sft": 5e-6, "lora": 1e-4, "dora": 1e-4}[opts.task]


def default_lr(entry: str, starts_from_weights: bool, debug_model: bool) -> float | None:
    """The learning rate when ``--lr`` is absent: the tutorial's for continual pretraining, else the recipe's."""
    if entry == "pretrain" and starts_from_weights and not debug_model:
        return CONTINUAL_PRETRAIN_LR
    return None


# ---- one epoch of data (--max_steps absent or None) ----

def idx_token_count(prefix: str) -> int:
    """Tokens in a Megatron ``.idx`` (sum of its sequence lengths), read with numpy only."""
    import numpy as np  # ~0.1 s of start-up that planning without data never needs

    with open(prefix + ".idx", "rb") as handle:
        header = handle.read(9 + 8 + 1 + 8 + 8)
        if len(header) < 34 or header[:9] != _IDX_MAGIC:
            raise ValueError(f"{prefix}.idx is not a Megatron index")
        sequences = int(np.frombuffer(header[18:26], dtype="<u8")[0])
        lengths = np.fromfile(handle, dtype="<i4", count=sequences)
    if len(lengths) != sequences:
        raise ValueError(f"{prefix}.idx is truncated")
    return int(lengths.sum(dtype=np.int64))


def train_share(split: str) -> float:
    parts = [float(p) for p in split.replace("/", ",").split(",")]
    return parts[0] / sum(parts)


def pretrain_epoch_steps(prefixes: list[str], seq_length: int, global_batch_size: int, split: str) -> tuple[int, int]:
    """(steps for one pass over the training split, tokens in it): ceil(tokens / (seq_length × GBS))."""
    tokens = int(sum(idx_token_count(p) for p in prefixes) * train_share(split))
    return max(1, math.ceil(tokens / (seq_length * global_batch_size))), tokens


def finetune_epoch_steps(folder: str, global_batch_size: int) -> tuple[int, int]:
    """(steps for one pass over training.jsonl, its rows): ceil(rows / GBS)."""
    with open(os.path.join(folder, "training.jsonl"), "rb") as handle:
        rows = sum(1 for line in handle if line.strip())
    return max(1, math.ceil(rows / global_batch_size)), rows


def epoch_steps(opts, split: str) -> tuple[int | None, str]:
    """(steps, explanation) for one epoch of ``opts.dataset_path``; (None, why) when it cannot be read."""
    if not opts.dataset_path:
        return None, "no -D/--dataset_path to count an epoch of"
    if (opts.global_batch_size or 0) < 1 or (_seq_length(opts) or 0) < 1:
        return None, "no valid batch size and sequence length to count an epoch with"
    try:
        if opts.task == "pretrain":
            pairs = getattr(opts.data, "pairs", None)
            if pairs is None:  # options made without planning

                pairs = parse_mmap_paths(opts.dataset_path)
            prefixes = [prefix for _, prefix in pairs]
            steps, tokens = pretrain_epoch_steps(prefixes, _seq_length(opts), opts.global_batch_size, split)
            return steps, (f"one epoch: {tokens:,} training tokens / ({_seq_length(opts)} × GBS "
                           f"{opts.global_batch_size}) = {steps} steps")
        steps, rows = finetune_epoch_steps(opts.dataset_path, opts.global_batch_size)
        return steps, f"one epoch: {rows:,} training rows / GBS {opts.global_batch_size} = {steps} steps"
    except (OSError, ValueError, UsageError) as exc:  # bad data: validation names the file
        return None, f"cannot count an epoch ({exc})"


# ---- the pretraining checkpoint an empty --nemo_model means ----

def latest_pretraining_checkpoint(results_dir: str, backend: str) -> str | None:
    """The newest complete checkpoint of the tutorial's pretraining experiment, as finetune.py looked it up
    (where the backend keeps it: :meth:`recipes.backends.base.Backend.latest_checkpoint`)."""
    return backends.get(backend).latest_checkpoint(Path(results_dir) / PRETRAIN_EXPERIMENT)

