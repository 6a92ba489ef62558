"""HF -> NeMo -> HF on CPU without TE: same logits (fp32, 1e-5), config, tokenizer; a finetuning-run
checkpoint exports to a model transformers loads and generates with. Uses the outputs of the
documented commands (conftest.docs_workspace)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from convert_helpers import ROPE_31, assert_nothing_written, fixed_tokens, hf_logits

# case -> (original HF fixture, its NeMo import, the HF export), all from docs/convert.md
CASES = {
    "gqa_rope31_finetune_ckpt": ("tiny_hf", "nemo_ckpt/llama31_8b", "hf_ckpt/llama31_finetuned"),
    "bf16_tied_no_scaling": ("tiny_hf_tied", "nemo_ckpt/llama32_1b", "hf_ckpt/llama32_1b"),
}
CONFIG_FIELDS = ("num_hidden_layers", "hidden_size", "intermediate_size", "num_attention_heads", "num_key_value_heads",
                 "head_dim", "vocab_size", "rope_theta", "rope_scaling", "tie_word_embeddings", "rms_norm_eps",
                 "max_position_embeddings", "bos_token_id", "eos_token_id", "hidden_act", "dtype", "model_type")


def paths(request, docs_workspace, case):
    ws, _ = docs_workspace
    original, nemo, exported = CASES[case]
    return request.getfixturevalue(original), ws / nemo, ws / exported


@pytest.mark.parametrize("case", CASES)
def test_logits_match(request, docs_workspace, case):
    import torch

    original, _, exported = paths(request, docs_workspace, case)
    tokens = fixed_tokens()
    diff = (hf_logits(original, tokens) - hf_logits(exported, tokens)).abs().max().item()
    assert diff <= 1e-5
    assert torch.equal(tokens, fixed_tokens())


@pytest.mark.parametrize("case", CASES)
def test_config_carried_over(request, docs_workspace, case):
    original, _, exported = paths(request, docs_workspace, case)
    before, after = (json.loads((d / "config.json").read_text()) for d in (original, exported))
    assert {k: before.get(k) for k in CONFIG_FIELDS} == {k: after.get(k) for k in CONFIG_FIELDS}
    if case == "bf16_tied_no_scaling":
        assert after["tie_word_embeddings"] is True and after["rope_scaling"] is None and after["dtype"] == "bfloat16"
        assert after["num_key_value_heads"] == after["num_attention_heads"] == 4
    else:
        assert after["rope_scaling"] == ROPE_31 and after["num_key_value_heads"] == 2
        assert after["tie_word_embeddings"] is False


@pytest.mark.parametrize("case", CASES)
def test_weights_saved_like_the_original(request, docs_workspace, case):
    from safetensors import safe_open

    original, _, exported = paths(request, docs_workspace, case)
    keys = []
    for d in (original, exported):
        with safe_open(str(d / "model.safetensors"), "pt") as f:
            keys.append(sorted(f.keys()))
    assert keys[0] == keys[1]
    assert ("lm_head.weight" in keys[1]) == (case != "bf16_tied_no_scaling")


@pytest.mark.parametrize("case", CASES)
def test_tokenizer_carried_over(request, docs_workspace, case):
    from transformers import AutoTokenizer

    original, _, exported = paths(request, docs_workspace, case)
    assert (exported / "tokenizer.json").is_file() and (exported / "tokenizer_config.json").is_file()
    a, b = AutoTokenizer.from_pretrained(original), AutoTokenizer.from_pretrained(exported)
    text = "Hello world! <|begin_of_text|>你好，世界 <|eot_id|> 12345 <|start_header_id|>user<|end_header_id|>"
    assert a(text).input_ids == b(text).input_ids
    assert (len(a), a.bos_token_id, a.eos_token_id, a.pad_token) == (len(b), b.bos_token_id, b.eos_token_id, b.pad_token)


def test_nemo_checkpoint_holds_the_architecture(docs_workspace):
    import torch
    from nemo.collections.llm.gpt.model.llama import Llama31Config
    from nemo.lightning import io

    from recipes.conversion.cpu_compat import cpu_conversion

    ws, _ = docs_workspace
    with cpu_conversion():
        a = io.load_context(ws / "nemo_ckpt/llama31_8b", subpath="model.config")
        b = io.load_context(ws / "nemo_ckpt/llama32_1b", subpath="model.config")
    assert isinstance(a, Llama31Config) and not isinstance(b, Llama31Config)
    assert (a.num_layers, a.hidden_size, a.ffn_hidden_size, a.num_attention_heads, a.num_query_groups,
            a.vocab_size, a.rotary_base, a.share_embeddings_and_output_weights) == (2, 64, 256, 4, 2, 128256, 5e5, False)
    assert (a.scale_factor, a.low_freq_factor, a.high_freq_factor, a.old_context_len) == (16.0, 2.0, 8.0, 4096)
    assert (b.num_query_groups, b.rotary_base, b.layernorm_epsilon, b.share_embeddings_and_output_weights) == (
        4, 1e4, 1e-6, True)
    assert (a.params_dtype, b.params_dtype, b.bf16) == (torch.float32, torch.bfloat16, True)
    for ckpt in ("nemo_ckpt/llama31_8b", "nemo_ckpt/llama32_1b"):
        assert {p.name for p in (ws / ckpt).iterdir()} == {"weights", "context"}
        assert (ws / ckpt / "context/nemo_tokenizer/tokenizer.json").is_file()
        assert str(ws) not in (ws / ckpt / "context/io.json").read_text()  # relocatable: no temp/abs paths
    for folder in ("nemo_ckpt", "hf_ckpt"):
        assert not [p.name for p in (ws / folder).iterdir() if p.name.startswith(".")]


def test_finetune_checkpoint_exports_and_generates(docs_workspace, tiny_hf):
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    ws, _ = docs_workspace
    outputs = []
    for model_dir in (tiny_hf, ws / "hf_ckpt/llama31_finetuned"):
        tokenizer = AutoTokenizer.from_pretrained(model_dir)
        model = AutoModelForCausalLM.from_pretrained(model_dir)
        prompt = tokenizer("The capital of France is", return_tensors="pt")
        with torch.no_grad():
            generated = model.generate(**prompt, max_new_tokens=8, do_sample=False, pad_token_id=tokenizer.eos_token_id)
        assert generated.shape[1] == prompt.input_ids.shape[1] + 8
        outputs.append(tokenizer.decode(generated[0]))
    assert outputs[0] == outputs[1]


def test_without_the_cpu_patches_the_context_cannot_even_be_built(docs_workspace):
    from megatron.core.transformer.transformer_config import TransformerConfig
    from nemo.lightning import io

    from recipes.conversion.cpu_compat import cpu_conversion, rope_fusion_available

    if rope_fusion_available():
        pytest.skip("TE present: NeMo's own path works unpatched")
    ws, _ = docs_workspace
    post_init = TransformerConfig.__post_init__
    with pytest.raises(ValueError, match="apply_rope_fusion is not available"):
        io.load_context(ws / "nemo_ckpt/llama31_8b", subpath="model.config")
    with cpu_conversion():
        assert io.load_context(ws / "nemo_ckpt/llama31_8b", subpath="model.config").apply_rope_fusion is False
    assert TransformerConfig.__post_init__ is post_init  # patches undone


def test_real_export_interrupted_midway_leaves_nothing(docs_workspace, tmp_path, monkeypatch):
    """NeMo's exporter dies while writing the HF weights: nothing appears at --output_path."""
    from transformers import PreTrainedModel

    from recipes.conversion import export_hf

    ws, _ = docs_workspace

    def crash(self, save_directory, *args, **kwargs):
        Path(save_directory).mkdir(parents=True, exist_ok=True)
        (Path(save_directory) / "model.safetensors").write_bytes(b"half")
        raise OSError("No space left on device")

    monkeypatch.setattr(PreTrainedModel, "save_pretrained", crash)
    out = tmp_path / "hf_ckpt" / "crashed"
    with pytest.raises(OSError, match="No space left"):
        export_hf(ws / "nemo_ckpt/llama32_1b", out)
    assert_nothing_written(out)
