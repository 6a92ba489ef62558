"""Write a NeMo LoRA checkpoint on CPU the way a LoRA finetuning run saves one.

We cannot run Megatron training on CPU, so instead of training we load the base checkpoint, apply
NeMo's ``LoRA`` transform, give the adapters random weights (a fresh LoRA adapter is a no-op:
``linear_out`` starts at zero), and save through NeMo's own ``WrappedAdapterIO`` (adapter tensors
only + ``weights/adapter_metadata.json`` naming the base) and ``TrainerContext.io_dump`` with the
LoRA recorded as the model's ``model_transform``, as ``llm.finetune(..., peft=lora)`` does.
"""

from __future__ import annotations

import re
from pathlib import Path

TARGETS = ["linear_qkv", "linear_proj", "linear_fc1", "linear_fc2"]
DIM, ALPHA = 4, 8
HEADS, GROUPS, HEAD_DIM = 4, 2, 16  # tiny_hf


def write_lora_checkpoint(base: Path, out: Path, seed: int = 7) -> dict:
    """Returns {nemo module name (e.g. decoder.layers.0.self_attention.linear_qkv): (A, B)}."""
    from nemo.collections.llm.api import _set_with_io
    from nemo.collections.llm.peft.lora import LoRA
    from nemo.lightning import _strategy_lib, io
    from nemo.lightning.ckpt_utils import ckpt_to_context_subdir
    from nemo.lightning.io.pl import MegatronCheckpointIO, TrainerContext
    from nemo.lightning.pytorch.callbacks.peft import WrappedAdapterIO
    from nemo.lightning.pytorch.strategies.utils import RestoreConfig

    from recipes.conversion.cpu_compat import cpu_conversion, cpu_trainer

    with cpu_conversion():
        model = io.load_context(base / "context", "model")
        model.config.perform_initialization = False
        lora = LoRA(target_modules=TARGETS, dim=DIM, alpha=ALPHA)
        trainer = cpu_trainer()
        trainer.strategy.restore_config = RestoreConfig(path=str(base), load_model_state=True, load_optim_state=False)
        trainer.strategy._setup_optimizers = False
        trainer.strategy.connect(model)
        trainer.strategy.setup_environment()
        with _strategy_lib.megatron_cpu_init_context(model.config):
            model.configure_model()
        trainer.strategy.setup(trainer)  # loads the base weights (restore_config)
        model.trainer = trainer
        lora(model)  # freezes the base weights: only adapters require grad
        lora.set_params_to_save(trainer)  # as PEFT.apply_transform does during training
        adapters = _randomize(model, seed)
        _set_with_io(model, "model_transform", lora)
        adapter_io = WrappedAdapterIO(MegatronCheckpointIO(save_ckpt_format="torch_dist", parallel_save=False), peft=lora)
        adapter_io.model_ckpt_path = Path(base)
        trainer.strategy._checkpoint_io = adapter_io
        trainer.strategy._init_model_parallel = False
        trainer.save_checkpoint(out)
        TrainerContext.from_trainer(trainer).io_dump(ckpt_to_context_subdir(out), yaml_attrs=["model"])
    return adapters


def _randomize(model, seed: int) -> dict:
    import torch

    generator = torch.Generator().manual_seed(seed)
    adapters = {}
    with torch.no_grad():
        for name, module in model.named_modules():
            adapter = getattr(module, "adapter", None)
            if adapter is None or not hasattr(adapter, "linear_in"):
                continue
            for linear in (adapter.linear_in, adapter.linear_out):
                linear.weight.copy_(torch.randn(linear.weight.shape, generator=generator) * 0.3)
            key = name.split("module.", 1)[-1]
            adapters[key] = (adapter.linear_in.weight.detach().clone(), adapter.linear_out.weight.detach().clone())
    return adapters


def hf_deltas(name: str, delta):
    """NeMo module name + merged delta -> {HF parameter name: delta}."""
    layer = int(re.search(r"layers\.(\d+)\.", name)[1])
    prefix = f"model.layers.{layer}."
    if name.endswith("linear_qkv"):
        per_group = delta.view(GROUPS, HEADS // GROUPS + 2, HEAD_DIM, -1)  # Megatron: [q.., k, v] per KV group
        q = per_group[:, : HEADS // GROUPS].reshape(HEADS * HEAD_DIM, -1)
        k, v = (per_group[:, i].reshape(GROUPS * HEAD_DIM, -1) for i in (HEADS // GROUPS, HEADS // GROUPS + 1))
        return {prefix + "self_attn.q_proj.weight": q, prefix + "self_attn.k_proj.weight": k,
                prefix + "self_attn.v_proj.weight": v}
    if name.endswith("linear_fc1"):
        gate, up = delta.chunk(2)
        return {prefix + "mlp.gate_proj.weight": gate, prefix + "mlp.up_proj.weight": up}
    target = {"linear_proj": "self_attn.o_proj", "linear_fc2": "mlp.down_proj"}[name.rsplit(".", 1)[-1]]
    return {prefix + target + ".weight": delta}


def merged_by_hand(hf_state: dict, adapters: dict) -> dict:
    """HF weights + alpha/dim * B @ A of each NeMo adapter (``write_lora_checkpoint``'s return value)."""
    merged = dict(hf_state)
    for name, (a, b) in adapters.items():
        for key, delta in hf_deltas(name, ALPHA / DIM * b @ a).items():
            merged[key] = merged[key] + delta
    return merged
