"""LoRA NeMo checkpoint -> merged HF model on CPU: the exported weights are base + alpha/dim * B @ A,
computed here independently of NeMo (incl. the split of the fused qkv / fc1 adapters)."""

from __future__ import annotations

import re

import pytest

from lora_helpers import ALPHA, DIM

HEADS, GROUPS, HEAD_DIM = 4, 2, 16  # tiny_hf
MERGED = "hf_ckpt/llama31_lora_merged"


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


def test_lora_checkpoint_exports_merged(docs_workspace, tiny_hf):
    import torch
    from safetensors.torch import load_file

    ws, _ = docs_workspace
    adapters = torch.load(ws / "lora_adapters.pt")
    assert len(adapters) == 8  # 4 target modules x 2 layers
    expected = load_file(str(tiny_hf / "model.safetensors"))
    for name, (a, b) in adapters.items():
        for key, delta in hf_deltas(name, ALPHA / DIM * b @ a).items():
            expected[key] = expected[key] + delta
    merged = load_file(str(ws / MERGED / "model.safetensors"))
    assert sorted(merged) == sorted(expected)
    changed = 0
    for key, value in expected.items():
        torch.testing.assert_close(merged[key], value, atol=1e-5, rtol=1e-5, msg=key)
        changed += not torch.equal(value, load_file(str(tiny_hf / "model.safetensors"))[key])
    assert changed == 2 * 7  # q, k, v, o, gate, up, down in both layers


def test_merged_model_generates(docs_workspace):
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    ws, _ = docs_workspace
    tokenizer = AutoTokenizer.from_pretrained(ws / MERGED)
    model = AutoModelForCausalLM.from_pretrained(ws / MERGED)
    prompt = tokenizer("Hello", return_tensors="pt")
    with torch.no_grad():
        out = model.generate(**prompt, max_new_tokens=4, do_sample=False, pad_token_id=tokenizer.eos_token_id)
    assert out.shape[1] == prompt.input_ids.shape[1] + 4


@pytest.mark.parametrize("name", ["decoder.layers.1.self_attention.linear_qkv"])
def test_qkv_split_reference(name):
    """The test's own split agrees with transformers' view of GQA rows (q: 64, k: 32, v: 32)."""
    import torch

    parts = hf_deltas(name, torch.arange((HEADS + 2 * GROUPS) * HEAD_DIM).float().unsqueeze(1))
    assert [tuple(v.shape) for v in parts.values()] == [(64, 1), (32, 1), (32, 1)]
    assert parts["model.layers.1.self_attn.k_proj.weight"][:16, 0].tolist() == list(range(32, 48))
