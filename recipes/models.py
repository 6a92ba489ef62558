"""Registry of model sizes. Adding a size is one entry in ``MODELS``.

``nemo_recipe`` names the module of NeMo's own factories (``nemo.collections.llm.recipes.<name>``)
that the Megatron backend builds on; ``arch`` (debug models only) overrides the architecture so a
Llama with the real layout but a few small layers runs anywhere.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from recipes.errors import UsageError

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

    @property
    def is_debug(self) -> bool:
        return bool(self.arch)


TINY_ARCH = {
    "num_layers": 2,
    "hidden_size": 64,
    "ffn_hidden_size": 256,
    "num_attention_heads": 4,
    "num_query_groups": 2,
    "seq_length": 256,
    "rotary_base": 500_000,
    "share_embeddings_and_output_weights": False,
}

MODELS: dict[str, ModelSpec] = {
    spec.name: spec
    for spec in (
        ModelSpec("llama31_8b", "llama31_8b", "meta-llama/Llama-3.1-8B", 131072, 8192, "Llama 3.1 8B (default)"),
        ModelSpec("llama31_70b", "llama31_70b", "meta-llama/Llama-3.1-70B", 131072, 8192, "Llama 3.1 70B"),
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
