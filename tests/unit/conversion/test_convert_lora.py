"""LoRA NeMo checkpoint -> merged HF model on CPU: the exported weights are base + alpha/dim * B @ A,
computed here independently of NeMo (incl. the split of the fused qkv / fc1 adapters)."""

from __future__ import annotations

import pytest

from lora_helpers import GROUPS, HEAD_DIM, HEADS, hf_deltas, merged_by_hand

MERGED = "hf_ckpt/llama31_lora_merged"


def test_lora_checkpoint_exports_merged(docs_workspace, tiny_hf):
    import torch
    from safetensors.torch import load_file

    ws, _ = docs_workspace
    adapters = torch.load(ws / "lora_adapters.pt")
    assert len(adapters) == 8  # 4 target modules x 2 layers
    expected = merged_by_hand(load_file(str(tiny_hf / "model.safetensors")), adapters)
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
