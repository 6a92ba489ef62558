"""Registry of model sizes. Adding a size is one entry in ``MODELS``.

``nemo_recipe`` names the module of NeMo's own factories (``nemo.collections.llm.recipes.<name>``)
that the Megatron backend builds on; ``arch`` (debug models only) overrides the architecture so a
Llama with the real layout but a few small layers runs anywhere.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from recipes.core.errors import UsageError

LLAMA3_VOCAB = 128256


@dataclass(frozen=True)
class ModelSpec:
    name: str
    nemo_recipe: str
    hf_id: str
    max_seq_length: int
    default_seq_length: int
    description: str
    arch: dict = field(default_factory=dict)  # Megatron (NeMo config) field -> value
    # NeMo's recipe defaults (TP, PP, CP) per task; a test checks them against NeMo's factories.
    parallelism: dict = field(default_factory=lambda: dict(SMALL_PARALLELISM))

    def default_parallelism(self, task: str) -> tuple[int, int, int]:
        return self.parallelism["lora" if task == "dora" else task]

    def default_seq_length_for(self, task: str, packed: bool = False) -> int:
        """NeMo's defaults: pretraining at the model's length; finetuning 2048 (4096 packed)."""
        if task == "pretrain" or self.is_debug:
            return self.default_seq_length
        return 4096 if packed else 2048

    @property
    def is_debug(self) -> bool:
        return bool(self.arch)


SMALL_PARALLELISM = {"pretrain": (1, 1, 1), "sft": (1, 1, 1), "lora": (1, 1, 1)}

TINY_ARCH = {
    "num_layers": 2,
    "hidden_size": 64,
    "ffn_hidden_size": 256,
    "num_attention_heads": 4,
    "num_query_groups": 2,
    "seq_length": 256,
    "rotary_base": 500_000,
    "share_embeddings_and_output_weights": False,
    # NeMo's Llama 3.2 config rescales RoPE by 32 (Llama 3 scaling); factor 1 is the identity, so the
    # Megatron debug Llama is the same model as the small-model backend's (its HF config has no rope_scaling).
    "scale_factor": 1.0,
}
# The fields that make the debug model small; --rehearse puts these on the user's model and keeps its RoPE.
SHAPE_FIELDS = ("num_layers", "hidden_size", "ffn_hidden_size", "num_attention_heads", "num_query_groups")

MODELS: dict[str, ModelSpec] = {
    spec.name: spec
    for spec in (
        ModelSpec("llama31_8b", "llama31_8b", "meta-llama/Llama-3.1-8B", 131072, 8192, "Llama 3.1 8B (default)",
                  parallelism={"pretrain": (1, 1, 2), "sft": (2, 1, 1), "lora": (1, 1, 1)}),
        ModelSpec("llama31_70b", "llama31_70b", "meta-llama/Llama-3.1-70B", 131072, 8192, "Llama 3.1 70B",
                  parallelism={"pretrain": (4, 4, 2), "sft": (8, 4, 1), "lora": (8, 1, 1)}),
        ModelSpec("llama32_1b", "llama32_1b", "meta-llama/Llama-3.2-1B", 131072, 8192, "Llama 3.2 1B"),
        ModelSpec("tiny", "llama32_1b", "meta-llama/Llama-3.2-1B", 2048, 256,
                  "debug Llama: Llama 3 layout and tokenizer, 2 layers, hidden 64 (tests, demo)", TINY_ARCH),
    )
}

# The tutorials' `--model_size 8B` spelling.
ALIASES = {"8b": "llama31_8b", "70b": "llama31_70b", "1b": "llama32_1b", "llama3_8b": "llama31_8b"}


def get_model(name: str) -> ModelSpec:
    key = ALIASES.get(name.lower(), name.lower())
    if key not in MODELS:
        raise UsageError(f"-M/--model: unknown model {name!r}; choose one of {', '.join(MODELS)}")
    return MODELS[key]


def hf_llama_config(spec: ModelSpec, **overrides):
    """A ``transformers.LlamaConfig`` with ``spec``'s debug architecture (random weights, nothing downloaded)."""
    from transformers import LlamaConfig

    arch = spec.arch
    if not arch:
        raise UsageError(f"model {spec.name!r} is not a debug model; load its weights with --hf_model_id")
    config = dict(
        vocab_size=LLAMA3_VOCAB,
        hidden_size=arch["hidden_size"],
        intermediate_size=arch["ffn_hidden_size"],
        num_hidden_layers=arch["num_layers"],
        num_attention_heads=arch["num_attention_heads"],
        num_key_value_heads=arch["num_query_groups"],
        max_position_embeddings=spec.max_seq_length,
        rope_theta=float(arch["rotary_base"]),
        rms_norm_eps=1e-5,
        tie_word_embeddings=arch["share_embeddings_and_output_weights"],
        bos_token_id=128000,
        eos_token_id=128001,
    )
    config.update(overrides)
    return LlamaConfig(**config)
