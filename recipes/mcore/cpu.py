"""NeMo 2's real Megatron training path on CPU (gloo): the CUDA-only calls it makes, redirected.

Active only inside :func:`cpu_training`, which only the training process of a ``--backend megatron
--cpu`` run enters (:func:`recipes.mcore.train.run`). Everything else that runs is NeMo's and
megatron-core's own code: the strategy, megatron-core's DDP and optimizer, distributed checkpoints,
AutoResume. Each replacement below names the call and why it is safe; none changes arithmetic,
except that random draws come from CPU generators (same distributions, other values than a GPU's).

Configuration, not patching, switches off the fused kernels that need CUDA or Transformer Engine
(:data:`CPU_MODEL_CONFIG`, set on the recipe by ``recipes.megatron.recipe``).
"""

from __future__ import annotations

import contextlib
from unittest import mock

import torch
from torch.overrides import TorchFunctionMode

# Model-config fields whose kernels need CUDA/TE; the recipe sets them False for --cpu. The last three
# would work through torch.compile on CPU but cost ~20-30 s of compilation a launch on a cold cache.
CPU_MODEL_CONFIG = {
    "apply_rope_fusion": False, "persist_layer_norm": False, "masked_softmax_fusion": False,
    "gradient_accumulation_fusion": False,
    "bias_activation_fusion": False, "bias_dropout_fusion": False, "cross_entropy_loss_fusion": False,
}


def _is_cuda(device) -> bool:
    if isinstance(device, bool):
        return False
    if isinstance(device, int):  # a bare index is a CUDA ordinal
        return True
    if isinstance(device, torch.device):
        return device.type == "cuda"
    return isinstance(device, str) and device.startswith("cuda")


# Empty all-gathers: one of no elements is a no-op, as NCCL's zero-count collectives are on GPUs. NeMo's
# progress printer logs megatron-core's timers on rank 0 only (the other ranks' printers are disabled), and
# Timers gathers a [world, 0] tensor when none is registered: with gloo, rank 0 then waits in that all-gather
# while the others run the next collective, and a run of 2 or more ranks hangs after its first step.
_ALL_GATHERS = {f for f in (getattr(torch.distributed, name, None) for name in ("all_gather_single",
                                                                              "all_gather_into_tensor")) if f}


def _no_elements(args, kwargs) -> bool:
    tensors = list(args[:2]) + [kwargs.get(k) for k in ("output_tensor", "input_tensor")]
    tensors = [t for t in tensors if isinstance(t, torch.Tensor)]
    return bool(tensors) and all(t.numel() == 0 for t in tensors)


class CpuDevices(TorchFunctionMode):
    """Replacement 4: literal CUDA requests become CPU ones.

    megatron-core's optimizer allocates ``torch.tensor(..., device='cuda')`` and picks its mixed-precision
    branch by ``param.type() == 'torch.cuda.BFloat16Tensor'``; NeMo's strategy logs
    ``torch.tensor(x, pin_memory=True).to("cuda")``; batches and loss buffers are moved to
    ``torch.cuda.current_device()``. Here a CUDA ``device=`` (or ``.to(cuda)``/``.cuda()``) means the CPU,
    ``pin_memory`` (a CUDA host-buffer feature) is dropped, and ``Tensor.type()`` answers with the CUDA
    name of the same dtype, so megatron-core takes the branch it takes on a GPU.
    """

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = dict(kwargs or {})
        if func in _ALL_GATHERS and not kwargs.get("async_op") and _no_elements(args, kwargs):
            return None  # an empty all-gather: see _ALL_GATHERS
        if _is_cuda(kwargs.get("device")):
            kwargs["device"] = "cpu"
        if kwargs.get("pin_memory"):
            kwargs["pin_memory"] = False
        if func is torch.Tensor.cuda:
            return args[0]
        if func is torch.Tensor.to:
            args = tuple("cpu" if _is_cuda(a) else a for a in args)
        result = func(*args, **kwargs)
        if func is torch.Tensor.type and len(args) == 1 and not kwargs and isinstance(result, str):
            return result.replace("torch.", "torch.cuda.", 1) if not result.startswith("torch.cuda.") else result
        return result


class _NoStream:
    """Replacement 2: ``torch.cuda.Stream()`` (NeMo runs ``init_ddp`` on a side stream): nothing to order on CPU."""

    def __init__(self, *args, **kwargs):
        pass

    def synchronize(self):
        pass

    def wait_stream(self, other):
        pass


def _cpu_rng_add(self, name, seed):
    """Replacement 3a: megatron-core's ``CudaRNGStatesTracker.add`` with the state of a seeded CPU generator.

    Same bookkeeping and refusals as upstream (a seed or a name used twice).
    """
    self._is_initialized = True
    if seed in self.seeds_:
        raise Exception(f"seed {seed} already exists")
    self.seeds_.add(seed)
    if name in self.states_:
        raise Exception(f"cuda rng state {name} already exists")
    generator = torch.Generator()
    generator.manual_seed(seed)
    self.states_[name] = generator.get_state()


@contextlib.contextmanager
def _cpu_rng_fork(self, name="model-parallel-rng"):
    """Replacement 3b: ``CudaRNGStatesTracker.fork`` over the CPU generator (weight init, dropout).

    Upstream swaps the CUDA generator's state in and out and warns if the CPU state moved meanwhile;
    here the draws happen on the CPU generator, so its state is swapped instead.
    """
    if name not in self.states_:
        raise Exception(f"cuda rng state {name} is not added")
    outside = torch.get_rng_state()
    torch.set_rng_state(self.states_[name])
    try:
        yield
    finally:
        self.states_[name] = torch.get_rng_state()
        torch.set_rng_state(outside)


def _seed_tracker_too(original):
    """Replacement 3c: NeMo seeds megatron-core's tracker only ``if torch.cuda.device_count() > 0``."""

    def set_random_seed(seed_):
        original(seed_)
        from megatron.core import parallel_state, tensor_parallel

        tensor_parallel.model_parallel_cuda_manual_seed(seed_ + 100 * parallel_state.get_pipeline_model_parallel_rank())

    return set_random_seed


def _rng_patches(stack: contextlib.ExitStack) -> None:
    from megatron.core.tensor_parallel import random as mcore_random
    from nemo.lightning import megatron_init

    tracker = mcore_random.CudaRNGStatesTracker
    stack.enter_context(mock.patch.object(tracker, "add", _cpu_rng_add))
    stack.enter_context(mock.patch.object(tracker, "fork", _cpu_rng_fork))
    # Activation recompute saves and restores the "CUDA" state: the CPU generator's here.
    stack.enter_context(mock.patch.object(mcore_random, "_get_cuda_rng_state", lambda *a, **k: torch.get_rng_state()))
    stack.enter_context(mock.patch.object(mcore_random, "_set_cuda_rng_state", lambda s, *a, **k: torch.set_rng_state(s)))
    stack.enter_context(mock.patch.object(megatron_init, "_set_random_seed",
                                          _seed_tracker_too(megatron_init._set_random_seed)))


def _cuda_module_patches(stack: contextlib.ExitStack) -> None:
    """Replacements 1, 2 and the legacy constructor of NeMo's SFT dataset check."""
    cuda = torch.cuda
    # 1: `device=torch.cuda.current_device()` (NeMo's batch moves and loss reductions, megatron-core's DDP
    # buffers and RoPE): index 0, which CpuDevices maps to the CPU.
    stack.enter_context(mock.patch.object(cuda, "current_device", lambda: 0))
    # 2: streams and synchronisation order CUDA kernels; CPU ops are already ordered.
    stack.enter_context(mock.patch.object(cuda, "Stream", _NoStream))
    stack.enter_context(mock.patch.object(cuda, "stream", lambda stream=None: contextlib.nullcontext()))
    stack.enter_context(mock.patch.object(cuda, "synchronize", lambda device=None: None))
    # NeMo's SFT dataset cross-checks its workers with `torch.cuda.LongTensor([1])` (an all-reduce of ones).
    stack.enter_context(mock.patch.object(cuda, "LongTensor", lambda data: torch.tensor(data, dtype=torch.long)))


def _checkpoint_patches(stack: contextlib.ExitStack) -> None:
    """Replacement 5: NeMo asserts ``torch.cuda.is_initialized()`` after loading a distributed checkpoint,
    then moves CUDA tensors to the current CUDA device: on CPU there is none and nothing to move."""
    import nemo.lightning.io.pl as nemo_pl

    stack.enter_context(mock.patch.object(nemo_pl, "_fix_tensors_device", lambda ckpt: ckpt))


@contextlib.contextmanager
def cpu_training():
    """The training process of a CPU Megatron run executes inside this block."""
    with contextlib.ExitStack() as stack:
        _cuda_module_patches(stack)
        _rng_patches(stack)
        _checkpoint_patches(stack)
        stack.enter_context(CpuDevices())
        yield
