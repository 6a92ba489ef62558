"""Where the installed NVIDIA stack and NeMo 2.7's calls disagree: narrow, checked adapters.

Applied in the training process (:mod:`recipes.mcore.train`), on GPUs and on CPU alike, each only when
the installed code needs it; ``recipes.doctor`` reports the same checks before anything runs.

* **megatron-core >= 0.16 with NeMo 2.7** (e.g. nvcr.io/nvidia/nemo:26.02): NeMo's
  ``setup_megatron_optimizer`` passes ``no_weight_decay_cond``, ``scale_lr_cond`` and ``lr_mult`` to
  ``get_megatron_optimizer``, which 0.16 removed (Megatron-LM PR #2047), so training dies with a
  TypeError once the model is built. With the defaults NeMo passes for Llama (None, None, 1.0), dropping
  them is exact: 0.16's ``config_overrides=None`` applies the same rule (no weight decay on biases
  and 1-D parameters). Any other value is refused with the reason, never silently dropped.
* **LoRA/DoRA without Transformer Engine**: ``nemo.collections.llm.peft.utils`` takes TE as present
  when megatron-core's TE extension imports (it does, with stand-in classes, without TE), so
  ``isinstance(m, <stand-in>)`` raises TypeError, and ``peft.lora`` touches ``te.Linear`` on NeMo's
  placeholder, which raises. Both are told the truth when ``transformer_engine`` is absent.
* **The distributed optimizer without TE or Apex**: megatron-core then falls back to torch's AdamW,
  whose ``state_dict()`` the distributed optimizer cannot save in a resumable form (resume fails with
  ``assert len(steps) == 1``). It is switched off in that case, with one line saying so.
"""

from __future__ import annotations

import functools
import importlib.util
import inspect
import sys

REMOVED_IN_016 = {"no_weight_decay_cond": None, "scale_lr_cond": None, "lr_mult": 1.0}


class StackMismatch(RuntimeError):
    """The installed megatron-core cannot do what NeMo asked for."""


def optimizer_signature_ok() -> bool:
    """True when ``get_megatron_optimizer`` accepts every keyword NeMo 2.7 passes."""
    from megatron.core import optimizer

    parameters = inspect.signature(optimizer.get_megatron_optimizer).parameters
    return all(name in parameters for name in REMOVED_IN_016)


def adapt_optimizer_call() -> bool:
    """Wrap ``megatron.core.optimizer.get_megatron_optimizer`` when it lacks NeMo's keywords; True if wrapped."""
    from megatron.core import optimizer

    if optimizer_signature_ok() or getattr(optimizer.get_megatron_optimizer, "_recipes_adapter", False):
        return False
    original = optimizer.get_megatron_optimizer

    @functools.wraps(original)
    def get_megatron_optimizer(config, model_chunks, *args, **kwargs):
        for name, default in REMOVED_IN_016.items():
            value = kwargs.pop(name, default)
            if value != default:
                raise StackMismatch(
                    f"NeMo passes {name}={value!r} to get_megatron_optimizer, which this megatron-core no longer "
                    "accepts; use megatron-core 0.15.x (constraints.txt) or an image that pairs them "
                    "(python -m recipes.doctor)")
        return original(config, model_chunks, *args, **kwargs)

    get_megatron_optimizer._recipes_adapter = True
    optimizer.get_megatron_optimizer = get_megatron_optimizer  # NeMo imports it from the module at call time
    return True


def have_transformer_engine() -> bool:
    return importlib.util.find_spec("transformer_engine") is not None


def tell_peft_no_te() -> bool:
    """Make NeMo's LoRA code take the non-TE path when TE is not installed; True if it had to be told."""
    if have_transformer_engine():
        return False
    import types

    from nemo.collections.llm.peft import lora
    from nemo.collections.llm.peft import utils as peft_utils

    peft_utils.HAVE_TE = False
    # `isinstance(m, te.Linear)` must be False, not raise: a class nothing is an instance of.
    lora.te = types.SimpleNamespace(Linear=type("NoTransformerEngineLinear", (), {}))
    return True


def fused_adam_available() -> bool:
    """megatron-core uses TE's or Apex's FusedAdam; without both it falls back to torch's AdamW."""
    import torch
    from megatron.core import optimizer

    return optimizer.Adam is not torch.optim.AdamW


def distributed_optimizer_fallback(optim) -> bool:
    """Turn the distributed optimizer off when it would save a checkpoint it cannot resume from."""
    config = getattr(optim, "config", None)
    if not getattr(config, "use_distributed_optimizer", False) or fused_adam_available():
        return False
    config.use_distributed_optimizer = False
    print("note: no Transformer Engine or Apex FusedAdam here: the distributed optimizer is off for this run "
          "(megatron-core's torch-AdamW fallback cannot resume from its checkpoints)", file=sys.stderr, flush=True)
    return True


def apply(optim=None) -> list[str]:
    """Every adapter the installed stack needs; the names of those applied."""
    import megatron.core

    applied = []
    if adapt_optimizer_call():  # the version is named so a log shows which megatron-core really ran
        applied.append(f"get_megatron_optimizer keywords (megatron-core >= 0.16; installed "
                       f"{megatron.core.__version__} at {megatron.core.__path__[0]})")
    if tell_peft_no_te():
        applied.append("LoRA without Transformer Engine")
    if optim is not None and distributed_optimizer_fallback(optim):
        applied.append("distributed optimizer off (no fused Adam)")
    return applied
