"""Pre-flight GPU memory estimate for the Megatron recipes: per GPU, per pipeline stage.

Pure arithmetic (no torch, no NeMo): :func:`estimate` takes an :class:`Arch` and a :class:`Layout`
and returns the bytes of every term on every pipeline stage. The activation terms follow Korthikanti
et al., "Reducing Activation Recomputation in Large Transformer Models" (arXiv 2205.05198): with
dropout and without flash attention one layer stores ``s·b·h·(34 + 5·a·s/h)`` bytes, of which
``10·s·b·h`` are not split by tensor parallelism unless sequence parallelism is on. For Llama the
same terms are counted with SwiGLU, grouped-query attention, no dropout and flash attention (which
keeps only the per-head softmax statistics instead of the ``a·s²`` scores). See docs/memory.md.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace

GIB = 1024**3
# Allowance beyond the counted tensors: CUDA context, cuBLAS/TE workspaces and NCCL buffers (fixed),
# plus allocator fragmentation and temporaries as a share of the activations (Megatron-LM's 5%).
WORKSPACE_FIXED = 2 * GIB
FRAGMENTATION = 0.05
LORA_TARGETS = ("linear_qkv", "linear_proj", "linear_fc1", "linear_fc2")


@dataclass(frozen=True)
class Arch:
    num_layers: int
    hidden_size: int
    ffn_hidden_size: int
    num_attention_heads: int
    num_query_groups: int
    vocab_size: int = 128256
    tied_embeddings: bool = False
    gated_mlp: bool = True  # SwiGLU: fc1 is 2·ffn wide
    kv_channels: int | None = None
    dropout: bool = False
    flash_attention: bool = True
    norm_params: int = 1  # RMSNorm: weight only; LayerNorm: weight and bias
    vocab_divisible_by: int = 128

    @property
    def head_dim(self) -> int:
        return self.kv_channels or self.hidden_size // self.num_attention_heads

    @property
    def q_size(self) -> int:
        return self.head_dim * self.num_attention_heads

    @property
    def kv_size(self) -> int:
        return self.head_dim * self.num_query_groups

    def linear_shapes(self) -> dict[str, tuple[int, int]]:
        """(in, out) of each linear layer of one transformer layer."""
        h, f = self.hidden_size, self.ffn_hidden_size
        return {"linear_qkv": (h, self.q_size + 2 * self.kv_size), "linear_proj": (self.q_size, h),
                "linear_fc1": (h, f * (2 if self.gated_mlp else 1)), "linear_fc2": (f, h)}

    def padded_vocab(self, tp: int) -> int:
        step = self.vocab_divisible_by * tp
        return math.ceil(self.vocab_size / step) * step


# NeMo's Llama31Config8B / Llama31Config70B / Llama32Config1B (a test checks them against NeMo).
ARCHS = {
    "llama31_8b": Arch(32, 4096, 14336, 32, 8),
    "llama31_70b": Arch(80, 8192, 28672, 64, 8),
    "llama32_1b": Arch(16, 2048, 8192, 32, 8, tied_embeddings=True),
}


@dataclass(frozen=True)
class Layout:
    seq_length: int
    micro_batch_size: int = 1
    global_batch_size: int = 1
    tp: int = 1
    pp: int = 1
    cp: int = 1
    dp: int = 1
    vpp: int | None = None
    sequence_parallel: bool = False
    distributed_optimizer: bool = True
    grad_fp32: bool = True  # main grads kept in fp32 (NeMo's grad_reduce_in_fp32)
    recompute: str | None = None  # None, "selective" or "full"
    recompute_method: str | None = None  # full: "uniform" or "block"
    recompute_layers: int = 1
    recompute_modules: tuple[str, ...] = ("core_attn",)
    fp8: bool = False
    peft: str | None = None  # None (all weights train), "lora" or "dora"
    lora_dim: int = 32
    lora_targets: tuple[str, ...] = LORA_TARGETS

    @property
    def num_microbatches(self) -> int:
        return max(1, self.global_batch_size // (self.micro_batch_size * self.dp))


@dataclass
class StageMemory:
    stage: int
    layers: int
    params: int  # parameters on one GPU of this stage
    trainable: int
    weights: float
    grads: float
    optimizer: float
    activations: float
    in_flight: int  # micro-batches whose activations are held at the peak
    workspace: float = 0.0

    @property
    def total(self) -> float:
        return self.weights + self.grads + self.optimizer + self.activations + self.workspace


@dataclass
class Estimate:
    arch: Arch
    layout: Layout
    stages: list[StageMemory] = field(default_factory=list)

    @property
    def peak(self) -> StageMemory:
        return max(self.stages, key=lambda s: s.total)

    def fits(self, gpu_bytes: float) -> bool:
        return self.peak.total <= gpu_bytes


def layer_params(arch: Arch) -> tuple[int, int]:
    """(parameters in linear layers, parameters in norms) of one transformer layer, unsharded."""
    linear = sum(i * o for i, o in arch.linear_shapes().values())
    return linear, 2 * arch.norm_params * arch.hidden_size


def adapter_params(arch: Arch, layout: Layout) -> int:
    """LoRA (A: in×r, B: r×out) on each target of one layer; DoRA adds a magnitude per output."""
    total = 0
    for name, (n_in, n_out) in arch.linear_shapes().items():
        if name in layout.lora_targets:
            total += layout.lora_dim * (n_in + n_out) + (n_out if layout.peft == "dora" else 0)
    return total


def activation_terms(arch: Arch, layout: Layout) -> dict[str, tuple[float, bool]]:
    """Bytes one layer keeps for one micro-batch: name -> (bytes, split by TP without SP?)."""
    s, b, h, f = layout.seq_length / layout.cp, layout.micro_batch_size, arch.hidden_size, arch.ffn_hidden_size
    a, sbh = arch.num_attention_heads, s * b * arch.hidden_size
    lin_in = 1 if layout.fp8 else 2  # TE keeps the inputs of FP8 GEMMs in FP8
    if arch.flash_attention:
        core = 4 * a * s * b  # fp32 log-sum-exp per head and position
    else:  # scores after softmax (2), dropout mask (1) and dropped-out scores (2), or the softmax alone
        core = (5 if arch.dropout else 2) * a * s * s * b
    terms = {
        "norm inputs": (2 * 2 * sbh, False),
        "qkv input": (lin_in * sbh, False),
        "q, k, v": (2 * sbh * (arch.q_size + 2 * arch.kv_size) / h, True),
        "core attention": (core, True),
        "proj input": (lin_in * sbh * arch.q_size / h, True),
        "fc1 input": (lin_in * sbh, False),
        "activation input": (2 * s * b * f * (2 if arch.gated_mlp else 1), True),
        "fc2 input": (lin_in * s * b * f, True),
    }
    if arch.dropout:
        terms["dropout masks"] = (2 * sbh, False)
    if layout.peft:  # the rank-r intermediate of each adapter
        terms["adapters"] = (2 * s * b * layout.lora_dim * len(layout.lora_targets), False)
    if layout.recompute == "selective":
        recomputed = {"core_attn": ("core attention",), "mlp": ("activation input", "fc2 input"),
                      "layernorm": ("norm inputs",)}
        for module in layout.recompute_modules:
            for name in recomputed.get(module, ()):
                terms[name] = (0.0, True)
    return terms


def layer_activation_bytes(arch: Arch, layout: Layout) -> float:
    """One layer, one micro-batch, on one GPU (after TP/SP/CP splitting), without full recompute."""
    t = layout.tp
    return sum(size / t if (split or layout.sequence_parallel) else size
               for size, split in activation_terms(arch, layout).values())


def in_flight_microbatches(layout: Layout, stage: int) -> float:
    """Micro-batches of a stage's layers held at the 1F1B peak (Megatron's warm-up count + 1)."""
    p, m = layout.pp, layout.num_microbatches
    if p == 1:
        return 1
    if not layout.vpp:
        return min(p - stage, m)
    v = layout.vpp  # interleaved: chunks of L/(p·v) layers; warm-up of Megatron's interleaved schedule
    chunks = min((p - stage - 1) * 2 + (v - 1) * p + 1, m * v)
    return chunks / v


def stage_layer_counts(arch: Arch, layout: Layout) -> list[int]:
    base, extra = divmod(arch.num_layers, layout.pp)
    return [base + (1 if i >= layout.pp - extra else 0) for i in range(layout.pp)]


def stage_activations(arch: Arch, layout: Layout, stage: int, layers: int) -> tuple[float, float]:
    """(activation bytes at the stage's peak, micro-batches in flight)."""
    flight = in_flight_microbatches(layout, stage)
    per_layer = layer_activation_bytes(arch, layout)
    sbh = layout.seq_length / layout.cp * layout.micro_batch_size * arch.hidden_size
    checkpoint = 2 * sbh / (layout.tp if layout.sequence_parallel else 1)  # a recomputed chunk keeps its input
    if layout.recompute == "full":
        n = max(1, layout.recompute_layers)
        if layout.recompute_method == "block":
            kept = min(n, layers) * checkpoint + max(0, layers - n) * per_layer
            held = flight * kept + per_layer  # + one layer rebuilt during backward
        else:
            held = flight * math.ceil(layers / n) * checkpoint + min(n, layers) * per_layer
    else:
        held = flight * layers * per_layer
    s, b, t = layout.seq_length / layout.cp, layout.micro_batch_size, layout.tp
    if stage == 0:
        held += flight * 8 * s * b  # token ids and positions (int64)
    if stage == layout.pp - 1:
        vocab = arch.padded_vocab(t)
        split = t if layout.sequence_parallel else 1
        held += 2 * sbh / split + 2 * sbh / split  # final norm input, output layer input
        held += 4 * s * b * vocab / t  # fp32 logits kept by the vocab-parallel cross entropy
    return held, flight


def stage_params(arch: Arch, layout: Layout, stage: int, layers: int) -> tuple[int, int]:
    """(base parameters, trainable parameters) on one GPU of ``stage``; with PEFT only adapters train."""
    t, last = layout.tp, layout.pp - 1
    linear, norms = layer_params(arch)
    params = layers * (linear // t + norms)
    embedding = arch.padded_vocab(t) * arch.hidden_size // t
    if stage == 0:
        params += embedding
    if stage == last:
        params += arch.norm_params * arch.hidden_size
        if not arch.tied_embeddings or layout.pp > 1:  # tied with PP > 1: the last stage keeps a copy
            params += embedding
    if not layout.peft:
        return params, params
    return params, layers * adapter_params(arch, layout) // t


def estimate(arch: Arch, layout: Layout) -> Estimate:
    """Memory per GPU of every pipeline stage."""
    result = Estimate(arch, layout)
    shards = layout.dp * layout.cp if layout.distributed_optimizer else 1
    weight_bytes = 2 + (1 if layout.fp8 else 0)  # bf16, plus TE's FP8 copy of each weight
    for stage, layers in enumerate(stage_layer_counts(arch, layout)):
        base, trainable = stage_params(arch, layout, stage, layers)
        adapters = trainable if layout.peft else 0
        activations, flight = stage_activations(arch, layout, stage, layers)
        memory = StageMemory(stage, layers, base + adapters, trainable,
                             weights=base * weight_bytes + adapters * 2,
                             grads=trainable * (4 if layout.grad_fp32 else 2),
                             optimizer=trainable * 12 / shards, activations=activations, in_flight=math.ceil(flight))
        memory.workspace = WORKSPACE_FIXED + FRAGMENTATION * activations
        result.stages.append(memory)
    return result


def vary(layout: Layout, **changes) -> Layout:
    return replace(layout, **changes)
