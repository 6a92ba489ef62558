"""The architecture of a local ``--hf_model_id`` folder, as the Megatron recipe's model-config fields.

The Megatron backend restores the imported weights into the model its recipe builds, so that model must
have the folder's shape: a Llama folder smaller (or other) than the ``-M`` size would otherwise fail to
load, or train with the size's RoPE scaling instead of the checkpoint's. Read at planning time from
``config.json`` (no NeMo import); the same fields NeMo's HF importer reads (``HFLlamaImporter.config``).
"""

from __future__ import annotations

import json
from pathlib import Path

# Megatron on CPU is for debug-size models: a step of anything larger takes minutes (and 1B+ needs GiBs).
CPU_MAX_PARAMS = 200_000_000


def read_config(hf_model_id: str | None) -> dict | None:
    """``config.json`` of a local Llama folder, else None (a hub id or anything unreadable: nothing to adopt)."""
    if not hf_model_id or not Path(hf_model_id).is_dir():
        return None
    try:
        config = json.loads((Path(hf_model_id) / "config.json").read_text())
    except (OSError, ValueError):
        return None
    return config if isinstance(config, dict) and config.get("model_type") == "llama" else None


def megatron_arch(config: dict) -> dict:
    """NeMo Llama-config fields for an HF Llama ``config``."""
    heads = config["num_attention_heads"]
    rope = config.get("rope_scaling") or {}
    llama3 = rope.get("rope_type", rope.get("type")) == "llama3"
    return {
        "num_layers": config["num_hidden_layers"],
        "hidden_size": config["hidden_size"],
        "ffn_hidden_size": config["intermediate_size"],
        "num_attention_heads": heads,
        "num_query_groups": config.get("num_key_value_heads") or heads,
        "rotary_base": config.get("rope_theta", 10000.0),
        "layernorm_epsilon": config.get("rms_norm_eps", 1e-5),
        "share_embeddings_and_output_weights": bool(config.get("tie_word_embeddings", False)),
        # NeMo's Llama 3.1/3.2 configs always apply Llama 3 RoPE scaling; factor 1 makes it the identity,
        # which is what a folder without rope_scaling means.
        "scale_factor": float(rope.get("factor", 8.0)) if llama3 else 1.0,
        **({"low_freq_factor": float(rope.get("low_freq_factor", 1.0)),
            "high_freq_factor": float(rope.get("high_freq_factor", 4.0)),
            "old_context_len": int(rope.get("original_max_position_embeddings", 8192))} if llama3 else {}),
    }


def parameter_count(config: dict) -> int:
    """Parameters of an HF Llama ``config`` (embeddings, attention, MLP, norms; output head unless tied)."""
    hidden, layers, ffn = config["hidden_size"], config["num_hidden_layers"], config["intermediate_size"]
    heads = config["num_attention_heads"]
    kv = (config.get("num_key_value_heads") or heads) * (hidden // heads)
    vocab = config["vocab_size"]
    per_layer = hidden * (hidden + 2 * kv) + hidden * hidden + 3 * hidden * ffn + 2 * hidden
    head = 0 if config.get("tie_word_embeddings") else vocab * hidden
    return vocab * hidden + layers * per_layer + hidden + head
