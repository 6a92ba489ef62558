"""Builders for the conversion tests: tiny random Llama HF folders, a fake HF cache, a fake Meta
checkpoint, a LoRA NeMo checkpoint. (A unique module name: several suites have helpers.)"""

from __future__ import annotations

import contextlib
import json
import re
import shutil
from pathlib import Path

from testlib import LLAMA_CONFIG, LLAMA_MODEL, write_nemo_checkpoint

REPO = Path(__file__).resolve().parents[3]
DOC = REPO / "docs" / "convert.md"
EVAL_ROWS = [f"Question: what is {i} plus one?" for i in range(6)]  # docs/convert.md's evaluate test set
EVAL_TOKENS = 4  # and its --max_new_tokens
VOCAB = 128256  # the real Llama 3 vocabulary: the bundled tokenizer is the real one

# Llama 3.1-style RoPE scaling with non-default values, so that every field must be carried.
ROPE_31 = {"rope_type": "llama3", "factor": 16.0, "low_freq_factor": 2.0, "high_freq_factor": 8.0,
           "original_max_position_embeddings": 4096}


# Just enough of a Hugging Face / NeMo checkpoint folder for the validation (bad input) tests.
LLAMA_CONFIG = {"model_type": "llama", "architectures": ["LlamaForCausalLM"], "hidden_size": 64}


def hf_dir(path: Path, config=None, weights=("model.safetensors",), tokenizer=True) -> Path:
    path.mkdir(parents=True)
    (path / "config.json").write_text(json.dumps(LLAMA_CONFIG if config is None else config))
    for name in weights:
        (path / name).write_bytes(_empty_safetensors(1024) if name.endswith(".safetensors") else b"\0" * 1024)
    if tokenizer:
        (path / "tokenizer.json").write_text("{}")
    return path


def _empty_safetensors(size: int) -> bytes:
    """A whole safetensors file of ``size`` bytes holding no tensors (its JSON header padded with spaces)."""
    header = b'{"__metadata__":{}}'.ljust(size - 8)
    return (size - 8).to_bytes(8, "little") + header


def nemo_dir(path: Path, model=LLAMA_MODEL, config=LLAMA_CONFIG) -> Path:
    return write_nemo_checkpoint(path, model, config)


def assert_nothing_written(out: Path) -> None:
    assert not out.exists()
    if out.parent.exists():
        assert not [p.name for p in out.parent.iterdir() if p.name.startswith(f".{out.name}")]


def write_hf_llama(path: Path, seed: int = 0, **overrides) -> Path:
    """A random 2-layer Llama (hidden 64, GQA 4 heads / 2 KV heads; fp32 unless ``torch_dtype``) with the
    bundled Llama 3 tokenizer. Every weight, norms included, is random: a dropped tensor cannot go unnoticed."""
    import torch
    from transformers import LlamaForCausalLM

    from recipes.config.models import get_model, hf_llama_config
    from recipes.data.tokenizer import bundled_llama3_dir

    fields = dict(max_position_embeddings=65536, rope_scaling=dict(ROPE_31), torch_dtype="float32")
    fields.update(overrides)
    torch.manual_seed(seed)
    model = LlamaForCausalLM(hf_llama_config(get_model("tiny"), **fields))
    with torch.no_grad():
        for param in model.parameters():
            param.normal_(0.0, 0.5)
    model.to(getattr(torch, fields["torch_dtype"])).save_pretrained(path)
    for item in bundled_llama3_dir().iterdir():
        shutil.copy(item, path / item.name)
    return path


def write_hf_cache(cache: Path, repo_id: str, model_dir: Path, revision: str = "0" * 40) -> Path:
    """Lay ``model_dir`` out as a snapshot of ``repo_id`` in an HF hub cache folder."""
    repo = cache / ("models--" + repo_id.replace("/", "--"))
    snapshot = repo / "snapshots" / revision
    shutil.copytree(model_dir, snapshot)
    (repo / "refs").mkdir(parents=True, exist_ok=True)
    (repo / "refs" / "main").write_text(revision)
    return snapshot


def write_meta_checkpoint(path: Path, hf_dir: Path) -> Path:
    """Meta's original layout (params.json, consolidated.00.pth with Meta's key names, and the real
    Llama 3 tiktoken tokenizer.model) for the model in ``hf_dir``."""
    import torch
    from transformers import AutoConfig
    from safetensors.torch import load_file

    from recipes.data.tokenizer import bundled_llama3_dir

    cfg = AutoConfig.from_pretrained(hf_dir)
    hf = load_file(str(hf_dir / "model.safetensors"))
    path.mkdir(parents=True)
    names = {"self_attn.q_proj": "attention.wq", "self_attn.k_proj": "attention.wk", "self_attn.v_proj": "attention.wv",
             "self_attn.o_proj": "attention.wo", "mlp.gate_proj": "feed_forward.w1", "mlp.down_proj": "feed_forward.w2",
             "mlp.up_proj": "feed_forward.w3", "input_layernorm": "attention_norm",
             "post_attention_layernorm": "ffn_norm"}
    state = {"tok_embeddings.weight": hf["model.embed_tokens.weight"], "norm.weight": hf["model.norm.weight"],
             "output.weight": hf.get("lm_head.weight", hf["model.embed_tokens.weight"])}  # tied: same tensor
    heads = {"self_attn.q_proj": cfg.num_attention_heads, "self_attn.k_proj": cfg.num_key_value_heads}
    for key, value in hf.items():
        match = re.match(r"model\.layers\.(\d+)\.(.+)\.weight$", key)
        if match:
            if match[2] in heads:  # undo the rotary permutation HF applies to Meta's q/k
                n, (rows, cols) = heads[match[2]], value.shape
                value = value.view(n, 2, rows // n // 2, cols).transpose(1, 2).reshape(rows, cols)
            state[f"layers.{match[1]}.{names[match[2]]}.weight"] = value.clone()
    torch.save(state, path / "consolidated.00.pth")
    params = {"dim": cfg.hidden_size, "n_layers": cfg.num_hidden_layers, "n_heads": cfg.num_attention_heads,
              "n_kv_heads": cfg.num_key_value_heads, "vocab_size": cfg.vocab_size, "multiple_of": 256,
              "ffn_dim_multiplier": 1.0, "norm_eps": cfg.rms_norm_eps, "rope_theta": cfg.rope_theta,
              "use_scaled_rope": True}
    (path / "params.json").write_text(json.dumps(params))
    shutil.copy(bundled_llama3_dir() / "tokenizer.model", path / "tokenizer.model")
    return path


def documented_commands() -> list[str]:
    """The ``python -m recipes.*`` lines of the bash blocks in docs/convert.md."""
    commands = []
    for block in re.findall(r"```bash\n(.*?)```", DOC.read_text(), flags=re.S):
        commands += [line.strip() for line in block.splitlines() if line.strip().startswith("python -m recipes.")]
    return commands


def documented_python() -> list[str]:
    return re.findall(r"```python\n(.*?)```", DOC.read_text(), flags=re.S)


def hf_logits(model_dir: Path, tokens):
    import torch
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32)
    with torch.no_grad():
        return model(tokens).logits


def fixed_tokens():
    import torch

    return torch.randint(0, VOCAB, (2, 23), generator=torch.Generator().manual_seed(1234))


def hf_greedy(model_dir: Path, texts: list[str], max_new_tokens: int) -> list[str]:
    """transformers' own greedy ``generate`` on ``model_dir``: the answer to BOS + each text, stopping at
    EOS or Llama 3's end of turn, decoded without special tokens (as evaluate / chat print them)."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32).eval()
    tok = AutoTokenizer.from_pretrained(model_dir)
    stops = [tok.eos_token_id, tok.convert_tokens_to_ids("<|eot_id|>")]
    answers = []
    for text in texts:
        ids = torch.tensor([[tok.bos_token_id] + tok.encode(text, add_special_tokens=False)])
        with torch.no_grad():
            out = model.generate(ids, attention_mask=torch.ones_like(ids), max_new_tokens=max_new_tokens,
                                 do_sample=False, eos_token_id=stops, pad_token_id=stops[0])
        answers.append(tok.decode(out[0, ids.shape[1]:], skip_special_tokens=True).strip())
    return answers


@contextlib.contextmanager
def single_process_model_parallel():
    """A one-process gloo group with Megatron's parallel state (TP 1, PP 1), torn down afterwards."""
    import torch.distributed as dist
    from megatron.core import parallel_state

    assert not dist.is_initialized()
    dist.init_process_group("gloo", store=dist.HashStore(), rank=0, world_size=1)
    try:
        parallel_state.initialize_model_parallel(1, 1)
        yield
    finally:
        parallel_state.destroy_model_parallel()
        dist.destroy_process_group()
