"""Let NeMo's checkpoint converters run on a CPU-only machine without Transformer Engine.

Everything here is scoped by :func:`cpu_conversion` and undone on exit; nothing in the installed
packages is edited, and on a machine that has TE and CUDA every patch is skipped, so NeMo's own
code path runs unchanged there.

Why each patch exists (NeMo 2.7.3, megatron-core 0.16.1, torch CPU build):

* Llama configs default to ``apply_rope_fusion=True`` (and other fused kernels). Megatron's
  ``TransformerConfig.__post_init__`` raises "apply_rope_fusion is not available. Please install
  TE >= 1.4." without TE, so neither ``HFLlamaImporter.config`` nor loading the context of a
  checkpoint trained on GPUs can even build the config. We switch the unavailable fusions off
  *on the object only*: the saved context keeps the original arguments, so a checkpoint written
  here is the same as one written on a TE machine. TE counts as usable only with CUDA (a CPU node
  of a NeMo container has TE installed): otherwise the layer spec is Megatron's local one.
* NeMo's LoRA code cannot apply (hence not merge) adapters without TE: ``LoRA.transform`` compares
  with ``te.Linear`` where ``te`` is a placeholder that raises, and ``peft.utils`` believes TE is
  there (megatron's TE extension module imports, with mock classes) and calls ``isinstance`` on
  them. We give ``te`` a class nothing is an instance of and tell ``peft.utils`` TE is absent.
  Without CUDA, configs also get ``use_cpu_initialization=True`` (adapters are allocated with it).
* megatron-core's dist-checkpoint writer always calls ``torch.cuda.synchronize()`` after
  preloading tensors and broadcasts its failure flag on ``torch.cuda.current_device()``; NeMo's
  loader asserts ``torch.cuda.is_initialized()``. Without CUDA those are no-ops, so we make them so.

:func:`cpu_conversion` also puts back the process-wide state that NeMo's trainers change and never
restore (on every machine, TE or not), so that a conversion called from Python leaves the process
as it found it, e.g. for a Lightning training run afterwards (see :func:`_restore_process_state`).
"""

from __future__ import annotations

import contextlib
from unittest import mock

# Fused kernels that need TE/apex/CUDA. Switching them off changes speed, never the weights.
_TE_FUSIONS = (
    "bias_activation_fusion",
    "masked_softmax_fusion",
    "persist_layer_norm",
    "bias_dropout_fusion",
    "gradient_accumulation_fusion",
    "cross_entropy_loss_fusion",
)


def have_te() -> bool:
    from nemo.collections.llm.gpt.model.base import HAVE_TE

    return bool(HAVE_TE)


def rope_fusion_available() -> bool:
    from megatron.core.models.common.embeddings import rope_utils

    return rope_utils.fused_apply_rotary_pos_emb is not None or rope_utils.fused_apply_rotary_pos_emb_thd is not None


def _sanitize(config, te_usable: bool, rope_fusion: bool, cuda: bool) -> None:
    if not cuda:
        config.use_cpu_initialization = True  # else LoRA adapters are allocated on the CUDA device
    if not (te_usable and rope_fusion) and getattr(config, "apply_rope_fusion", False):
        config.apply_rope_fusion = False
    if te_usable:
        return
    for name in _TE_FUSIONS:
        if getattr(config, name, False):
            setattr(config, name, False)
    if hasattr(config, "use_transformer_engine_full_layer_spec"):
        config.use_transformer_engine_full_layer_spec = False
    from nemo.collections.llm.gpt.model.base import default_layer_spec, local_layer_spec

    # default_layer_spec picks TE's spec whenever TE is installed, even without a GPU.
    spec = getattr(config, "transformer_layer_spec", None)
    if spec is default_layer_spec or "transformer_engine" in getattr(spec, "__name__", ""):
        config.transformer_layer_spec = local_layer_spec


def _patch_configs(stack: contextlib.ExitStack) -> None:
    import torch
    from megatron.core.transformer.transformer_config import TransformerConfig

    cuda = torch.cuda.is_available()
    te_usable, rope_fusion = have_te() and cuda, rope_fusion_available()
    if te_usable and rope_fusion:
        return
    original = TransformerConfig.__post_init__

    def post_init(self):
        _sanitize(self, te_usable, rope_fusion, cuda)
        original(self)

    stack.enter_context(mock.patch.object(TransformerConfig, "__post_init__", post_init))


def _patch_cuda_only_io(stack: contextlib.ExitStack) -> None:
    import torch

    if torch.cuda.is_available():
        return
    import megatron.core.dist_checkpointing.strategies.torch as mcore_torch
    import nemo.lightning.io.pl as nemo_pl
    from megatron.core.dist_checkpointing.strategies.filesystem_async import FileSystemWriterAsync

    preload = FileSystemWriterAsync.preload_tensors
    finalize = mcore_torch.save_state_dict_async_finalize

    def preload_sync(write_buckets, non_blocking=True):
        return preload(write_buckets, False)  # non_blocking=True ends in torch.cuda.synchronize()

    def finalize_on_cpu(*args, **kwargs):
        # The failure flag is a 1-element tensor broadcast over gloo: CPU is the right device.
        with mock.patch("torch.cuda.current_device", return_value="cpu"):
            return finalize(*args, **kwargs)

    stack.enter_context(mock.patch.object(FileSystemWriterAsync, "preload_tensors", staticmethod(preload_sync)))
    stack.enter_context(mock.patch.object(mcore_torch, "save_state_dict_async_finalize", finalize_on_cpu))
    stack.enter_context(mock.patch.object(nemo_pl, "_fix_tensors_device", lambda ckpt: ckpt))


def _patch_lora(stack: contextlib.ExitStack) -> None:
    import types

    from nemo.collections.llm.peft import lora
    from nemo.collections.llm.peft import utils as peft_utils

    if have_te():
        return
    stack.enter_context(mock.patch.object(lora, "te", types.SimpleNamespace(Linear=type("NoTELinear", (), {}))))
    stack.enter_context(mock.patch.object(peft_utils, "HAVE_TE", False))


def _restore_process_state(stack: contextlib.ExitStack) -> None:
    """Undo, on exit, what NeMo's trainers leave behind in the process:

    * ``MegatronStrategy.setup`` replaces ``_select_data_fetcher`` in Lightning's fit, evaluation
      and prediction loop *modules* with a wrapper that returns ``None`` for any other strategy
      (and wraps again on each setup). Every later Lightning run in the process then fails with
      "'NoneType' object has no attribute 'setup'" in ``FitLoop.setup_data``.
    * The process group and Megatron's parallel state (NeMo's importer tears them down, the
      exporter and LoRA loading do not), and NeMo's ``AppState`` singleton that points at them.
    * ``MASTER_ADDR``/``MASTER_PORT`` and Megatron's ``NVTE_*_ATTN`` attention-backend variables
      (a later Megatron model with another backend would fail its check of them).
    * The global RNGs: Megatron's parallel init seeds Python, NumPy and torch with 1234.

    A process group that already existed before the conversion belongs to the caller: kept.
    """
    import os

    import torch
    from lightning.pytorch.loops import evaluation_loop, fit_loop, prediction_loop
    from lightning.pytorch.utilities.seed import isolate_rng
    from nemo.utils import AppState

    fetchers = {loop: loop._select_data_fetcher for loop in (fit_loop, evaluation_loop, prediction_loop)}

    def restore_fetchers():
        for loop, fetcher in fetchers.items():
            loop._select_data_fetcher = fetcher

    app_state = vars(AppState())
    saved_app_state = dict(app_state)

    def restore_app_state():
        app_state.clear()
        app_state.update(saved_app_state)

    def tear_down_distributed():
        from megatron.core import parallel_state

        parallel_state.destroy_model_parallel()
        if torch.distributed.is_initialized():
            torch.distributed.destroy_process_group()

    stack.callback(restore_fetchers)
    stack.enter_context(mock.patch.dict(os.environ))
    stack.enter_context(isolate_rng())
    stack.callback(restore_app_state)
    if not (torch.distributed.is_available() and torch.distributed.is_initialized()):
        stack.callback(tear_down_distributed)


@contextlib.contextmanager
def cpu_conversion():
    """Run NeMo import/export/LoRA merge inside this block on a machine without TE and/or CUDA."""
    with contextlib.ExitStack() as stack:
        _restore_process_state(stack)
        _patch_configs(stack)
        _patch_cuda_only_io(stack)
        _patch_lora(stack)
        yield


def cpu_trainer():
    """A 1-process CPU trainer for loading checkpoints.

    ``ckpt_async_save=False``: NeMo's async checkpoint IO imports ``dist_checkpointing.strategies.
    tensorstore``, which megatron-core 0.16 no longer has, so the default strategy cannot even be
    set up. TESTING state skips DDP setup (it opens a CUDA stream and is useless for conversion).
    """
    from lightning.pytorch.trainer.states import TrainerFn
    from nemo.lightning import MegatronStrategy, Trainer

    trainer = Trainer(
        devices=1,
        accelerator="cpu",
        strategy=MegatronStrategy(ddp="pytorch", setup_optimizers=False, ckpt_async_save=False),
    )
    trainer.state.fn = TrainerFn.TESTING
    return trainer
