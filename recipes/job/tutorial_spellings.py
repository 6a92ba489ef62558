"""Flags of the other tutorials' scripts, refused by ``recipes.pretrain`` / ``recipes.finetune`` with the
exact replacement (one line each, exit 2, nothing run).

- 004 (``run_finetune.sh``, HF Trainer + PEFT LoRA on LCCC): ``--use_cpu``, ``--learning_rate``,
  ``--num_train_epochs``, ``--per_device_train_batch_size``, ``--gradient_accumulation_steps``,
  ``--model_name_or_path``, ``--local_model``, ``--max_samples``, ``--skip_data_prep``, ``--config_file``;
- 000 (``nemo_2_example.py``): ``--finetune`` and ``--model-path``.

Replacements that depend on the resolved plan (epochs -> steps, accumulation -> global batch) are
worked out from it, so the line gives the number to pass. Only the standard library at import.
"""

from __future__ import annotations
from recipes.config.options import PRETRAIN_SPLIT
from recipes.job.tutorial import epoch_steps

# flag -> takes a value. Both spellings of 000's hyphenated flag are the script's own.
TUTORIAL_FLAGS = {
    "--use_cpu": False, "--learning_rate": True, "--num_train_epochs": True,
    "--per_device_train_batch_size": True, "--gradient_accumulation_steps": True,
    "--model_name_or_path": True, "--local_model": False, "--max_samples": True, "--skip_data_prep": False,
    "--config_file": True, "--finetune": False, "--model-path": True,
}


def split_spellings(argv: list[str]) -> tuple[list[str], dict[str, str | None]]:
    """(argv without the tutorial flags, {tutorial flag: its value or None}); ``--flag=value`` too."""
    rest: list[str] = []
    found: dict[str, str | None] = {}
    words = iter(argv)
    for word in words:
        flag, eq, value = word.partition("=")
        if flag not in TUTORIAL_FLAGS:
            rest.append(word)
        elif TUTORIAL_FLAGS[flag]:
            found[flag] = value if eq else next(words, None)
        else:
            found[flag] = None
    return rest, found


def spelling_problems(found: dict[str, str | None], plan) -> list[str]:
    """One line per tutorial flag: what to pass instead, with the value this plan resolves it to."""
    return [f"{flag}{'' if value is None else ' ' + value}: {_replacement(flag, value, found, plan)}"
            for flag, value in found.items()]


def _replacement(flag: str, value: str | None, found: dict, plan) -> str:
    opts = plan.opts
    simple = {
        "--use_cpu": "pass --cpu",
        "--learning_rate": f"pass --lr {value}",
        "--per_device_train_batch_size": f"pass -m {value}",
        "--model_name_or_path": f"pass --hf_model_id {value}",
        "--local_model": "drop it: --hf_model_id takes a local folder as it is",
        "--max_samples": f"limit the data where it is made: python -m recipes.download lccc --limit {value}",
        "--skip_data_prep": "drop it: this command trains on the prepared -D folder and never prepares data",
        "--config_file": "no JSON config here: pass its values as flags (--lr, --peft lora, --max_steps, ...)",
        "--finetune": "drop it: python -m recipes.finetune is the finetuning command",
        "--model-path": f"pass -n {value} (the NeMo checkpoint to start from)",
    }
    if flag in simple:
        return simple[flag]
    count = _positive_int(value)
    if count is None:
        return f"not a whole number; see {plan_flag(flag)}"
    if flag == "--num_train_epochs":
        steps, why = epoch_steps(_with_implied_batch(opts, found, plan), PRETRAIN_SPLIT)
        if steps is None:
            return f"pass --max_steps N ({why})"
        return (f"pass --max_steps {count * steps} ({count} epoch(s) of {steps} steps at GBS "
                f"{_with_implied_batch(opts, found, plan).global_batch_size}; without --max_steps one epoch is trained)")
    return (f"pass -g {_implied_batch(opts, found)} (micro batch {_micro(opts, found)} × {count} accumulation "
            f"steps × data-parallel size {opts.data_parallel_size})")


def _micro(opts, found: dict) -> int:
    return _positive_int(found.get("--per_device_train_batch_size")) or opts.micro_batch_size


def _implied_batch(opts, found: dict) -> int | None:
    """The global batch the HF Trainer flags mean: per-device batch × accumulation × data-parallel size."""
    steps = _positive_int(found.get("--gradient_accumulation_steps"))
    return _micro(opts, found) * steps * opts.data_parallel_size if steps else None


def _with_implied_batch(opts, found: dict, plan):
    """``opts`` with the global batch the tutorial flags imply, unless -g was given (epochs count with it)."""
    import dataclasses

    implied = _implied_batch(opts, found)
    if implied is None or "global_batch_size" in plan.explicit:
        return opts
    return dataclasses.replace(opts, global_batch_size=implied)


def plan_flag(flag: str) -> str:
    return {"--num_train_epochs": "--max_steps", "--gradient_accumulation_steps": "-g"}[flag]


def _positive_int(value: str | None) -> int | None:
    try:
        number = int(value) if value is not None else None
    except ValueError:
        return None
    return number if number and number > 0 else None
