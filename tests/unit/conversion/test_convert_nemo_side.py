"""After import, the NeMo checkpoint Megatron trains from holds the HF weights, tensor by tensor.

The round trip HF -> NeMo -> HF cannot see a mapping error that import and export make symmetrically
(two norms swapped both ways). Here the NeMo side is read on its own: ``weights/`` with
torch.distributed.checkpoint (no connector code, no GPU), ``context/model.yaml`` as YAML, and each
tensor is compared with the HF tensor it comes from under Megatron-core's layout, written out below.
Then megatron-core's own GPTModel, built from the context and loaded with those tensors, gives the
HF model's logits on CPU.
"""

from __future__ import annotations

import json

import pytest

pytest.importorskip("nemo.collections.llm")

PREFIX = "module."


@pytest.fixture(scope="module", params=["tiny_hf", "tiny_hf_tied"])
def imported(request, tmp_path_factory):
    """(HF folder, its NeMo import, the NeMo tensors, the NeMo model config)."""
    import torch
    import yaml
    from torch.distributed.checkpoint.format_utils import dcp_to_torch_save

    from recipes.conversion.api import import_hf

    hf = request.getfixturevalue(request.param)
    out = tmp_path_factory.mktemp("nemo_side")
    nemo = import_hf(str(hf), out / "nemo")
    dcp_to_torch_save(str(nemo / "weights"), str(out / "weights.pt"))
    loaded = torch.load(out / "weights.pt", weights_only=False)
    tensors = {key[len(PREFIX):]: value for key, value in loaded.items()
               if isinstance(value, torch.Tensor) and "_extra_state" not in key}
    config = yaml.safe_load((nemo / "context" / "model.yaml").read_text())["config"]
    return hf, nemo, tensors, config


def hf_tensors(hf) -> dict:
    from safetensors.torch import load_file

    return load_file(str(hf / "model.safetensors"))


def megatron_qkv(q, k, v, heads: int, groups: int):
    """Megatron's fused QKV rows: for each query group, its q heads, then its k head, then its v head."""
    import torch

    head_dim = q.shape[0] // heads
    per_group = heads // groups
    rows = []
    for group in range(groups):
        for head in range(group * per_group, (group + 1) * per_group):
            rows.append(q[head * head_dim:(head + 1) * head_dim])
        rows.append(k[group * head_dim:(group + 1) * head_dim])
        rows.append(v[group * head_dim:(group + 1) * head_dim])
    return torch.cat(rows)


def expected_nemo_tensors(hf_state: dict, hf_config: dict) -> dict:
    """What each NeMo tensor must hold; layers are stacked on dim 0 as NeMo's torch_dist saves them."""
    import torch

    heads, groups = hf_config["num_attention_heads"], hf_config["num_key_value_heads"]
    layers = range(hf_config["num_hidden_layers"])

    def stack(make):
        return torch.stack([make(f"model.layers.{i}.") for i in layers])

    expected = {
        "embedding.word_embeddings.weight": hf_state["model.embed_tokens.weight"],
        "decoder.final_layernorm.weight": hf_state["model.norm.weight"],
        "decoder.layers.self_attention.linear_qkv.layer_norm_weight":
            stack(lambda p: hf_state[p + "input_layernorm.weight"]),
        "decoder.layers.mlp.linear_fc1.layer_norm_weight":
            stack(lambda p: hf_state[p + "post_attention_layernorm.weight"]),
        "decoder.layers.self_attention.linear_qkv.weight": stack(lambda p: megatron_qkv(
            hf_state[p + "self_attn.q_proj.weight"], hf_state[p + "self_attn.k_proj.weight"],
            hf_state[p + "self_attn.v_proj.weight"], heads, groups)),
        "decoder.layers.self_attention.linear_proj.weight": stack(lambda p: hf_state[p + "self_attn.o_proj.weight"]),
        "decoder.layers.mlp.linear_fc1.weight": stack(lambda p: torch.cat(
            [hf_state[p + "mlp.gate_proj.weight"], hf_state[p + "mlp.up_proj.weight"]])),
        "decoder.layers.mlp.linear_fc2.weight": stack(lambda p: hf_state[p + "mlp.down_proj.weight"]),
    }
    if not hf_config["tie_word_embeddings"]:
        expected["output_layer.weight"] = hf_state["lm_head.weight"]
    return expected


def test_every_nemo_tensor_is_its_hf_tensor(imported):
    import torch

    hf, _, tensors, _ = imported
    hf_config = json.loads((hf / "config.json").read_text())
    expected = expected_nemo_tensors(hf_tensors(hf), hf_config)
    assert sorted(tensors) == sorted(expected)  # nothing missing, nothing extra (no output layer when tied)
    for key, want in expected.items():
        assert tensors[key].dtype == want.dtype, key
        assert torch.equal(tensors[key], want), key


def test_nemo_config_matches_the_hf_config(imported):
    hf, _, _, config = imported
    hf_config = json.loads((hf / "config.json").read_text())
    assert config["num_layers"] == hf_config["num_hidden_layers"]
    assert config["hidden_size"] == hf_config["hidden_size"]
    assert config["ffn_hidden_size"] == hf_config["intermediate_size"]
    assert config["num_attention_heads"] == hf_config["num_attention_heads"]
    assert config["num_query_groups"] == hf_config["num_key_value_heads"]
    assert config["kv_channels"] == hf_config["hidden_size"] // hf_config["num_attention_heads"]
    assert config["rotary_base"] == hf_config["rope_theta"]
    assert config["layernorm_epsilon"] == hf_config["rms_norm_eps"]
    assert config["share_embeddings_and_output_weights"] is hf_config["tie_word_embeddings"]
    assert config["vocab_size"] == hf_config["vocab_size"]
    assert config["normalization"] == "RMSNorm" and config["gated_linear_unit"] is True
    assert config["activation_func"]["_target_"] == "torch.nn.functional.silu"
    assert config["add_bias_linear"] is False and config["position_embedding_type"] == "rope"
    scaling = hf_config["rope_scaling"]
    if scaling is None:
        assert config["_target_"].rsplit(".", 1)[-1] != "Llama31Config"  # no Llama 3.1 rescaling of RoPE
    else:
        assert config["_target_"] == "nemo.collections.llm.gpt.model.llama.Llama31Config"
        assert (config["scale_factor"], config["low_freq_factor"], config["high_freq_factor"],
                config["old_context_len"]) == (scaling["factor"], scaling["low_freq_factor"],
                                               scaling["high_freq_factor"], scaling["original_max_position_embeddings"])


# Megatron's local (non-TE) layer spec names the fused norms of the TE names on disk like this.
LOCAL_SPEC_NAMES = {"self_attention.linear_qkv.layer_norm_weight": "input_layernorm.weight",
                    "mlp.linear_fc1.layer_norm_weight": "pre_mlp_layernorm.weight"}


def megatron_gpt(config: dict, tensors: dict):
    """megatron-core's GPTModel (local spec, CPU) built from the NeMo context and loaded with its tensors."""
    import torch
    import torch.nn.functional as F
    from megatron.core.models.gpt import GPTModel
    from megatron.core.models.gpt.gpt_layer_specs import get_gpt_layer_local_spec
    from megatron.core.transformer.transformer_config import TransformerConfig

    fused_off = dict.fromkeys(("bias_activation_fusion", "masked_softmax_fusion", "persist_layer_norm",
                               "bias_dropout_fusion", "apply_rope_fusion"), False)
    transformer = TransformerConfig(
        num_layers=config["num_layers"], hidden_size=config["hidden_size"], ffn_hidden_size=config["ffn_hidden_size"],
        num_attention_heads=config["num_attention_heads"], num_query_groups=config["num_query_groups"],
        kv_channels=config["kv_channels"], normalization="RMSNorm", layernorm_epsilon=config["layernorm_epsilon"],
        gated_linear_unit=True, activation_func=F.silu, add_bias_linear=False, hidden_dropout=0.0,
        attention_dropout=0.0, use_cpu_initialization=True, perform_initialization=False,
        params_dtype=torch.float32, **fused_off)
    model = GPTModel(transformer, get_gpt_layer_local_spec(normalization="RMSNorm"), vocab_size=config["vocab_size"],
                     max_sequence_length=config["seq_length"], position_embedding_type="rope",
                     rotary_base=config["rotary_base"],
                     share_embeddings_and_output_weights=config["share_embeddings_and_output_weights"])
    state = {}
    for key, value in tensors.items():
        if key.startswith("decoder.layers."):
            rest = key[len("decoder.layers."):]
            state.update({f"decoder.layers.{i}.{LOCAL_SPEC_NAMES.get(rest, rest)}": value[i].float()
                          for i in range(value.shape[0])})
        else:
            state[key] = value.float()
    missing, unexpected = model.load_state_dict(state, strict=False)
    assert not unexpected and all("_extra_state" in key for key in missing)
    if config["_target_"].endswith("Llama31Config"):  # what Llama31Config.configure_model does
        rope = model.rotary_pos_emb
        rope.inv_freq = rope._apply_scaling(
            rope.inv_freq, factor=config["scale_factor"], low_freq_factor=config["low_freq_factor"],
            high_freq_factor=config["high_freq_factor"], original_max_position_embeddings=config["old_context_len"])
    return model.eval()


def causal_logits(model, tokens):
    """A forward on CPU. Two device shims, no maths changed: RoPE moves its frequencies to
    ``torch.cuda.current_device()`` (here: the CPU), and attention dropout (p = 0, eval) forks the CUDA
    RNG tracker (here: a no-op)."""
    import contextlib
    from unittest import mock

    import torch
    from megatron.core import tensor_parallel

    length = tokens.shape[1]
    mask = torch.triu(torch.ones(length, length, dtype=torch.bool), diagonal=1)[None, None]  # True = hidden
    tracker = tensor_parallel.get_cuda_rng_tracker()
    with torch.no_grad(), mock.patch("torch.cuda.current_device", return_value="cpu"), \
            mock.patch.object(tracker, "fork", lambda *args, **kwargs: contextlib.nullcontext()):
        return model(tokens, torch.arange(length)[None].expand_as(tokens), mask)


@pytest.fixture
def model_parallel():
    from convert_helpers import single_process_model_parallel

    with single_process_model_parallel():
        yield


def test_megatron_forward_gives_the_hf_logits(imported, model_parallel):
    from convert_helpers import fixed_tokens, hf_logits

    hf, _, tensors, config = imported
    tokens = fixed_tokens()
    reference = hf_logits(hf, tokens)
    logits = causal_logits(megatron_gpt(config, tensors), tokens)
    assert logits.shape == reference.shape
    # Both run in fp32 on the same values (a bf16 checkpoint is upcast on both sides): only kernels differ.
    assert (logits - reference).abs().max().item() <= 1e-4
