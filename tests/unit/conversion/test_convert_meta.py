"""Meta's original format: detection, version inference, the exact instructions when transformers
does not ship its converter (the case with transformers 4.57 wheels), and the converter call."""

from __future__ import annotations

import importlib.util
import shutil
import sys
import types
from pathlib import Path

import pytest

from convert_helpers import assert_nothing_written, write_meta_checkpoint
from recipes.conversion import import_hf, meta
from recipes.conversion.command import main
from recipes.core.errors import UsageError


@pytest.fixture(scope="module")
def meta_ckpt(tmp_path_factory, tiny_hf) -> Path:
    return write_meta_checkpoint(tmp_path_factory.mktemp("meta") / "Llama3.2-1B", tiny_hf)  # dim 64 + scaled RoPE: Llama 3.2


@pytest.mark.parametrize("params, version", [
    ({"dim": 4096, "vocab_size": -1}, "2"),
    ({"dim": 4096, "vocab_size": 128256, "rope_theta": 500000.0}, "3"),
    ({"dim": 4096, "vocab_size": 128256, "use_scaled_rope": True}, "3.1"),
    ({"dim": 8192, "vocab_size": 128256, "use_scaled_rope": True}, "3.1"),
    ({"dim": 2048, "vocab_size": 128256, "use_scaled_rope": True}, "3.2"),
    ({"model": {"dim": 3072, "vocab_size": 128256, "use_scaled_rope": True}}, "3.2"),
])
def test_llama_version(params, version):
    assert meta.infer_llama_version(params, "x") == version


def test_unknown_vocabulary_is_rejected():
    with pytest.raises(UsageError, match="vocab_size 50257"):
        meta.infer_llama_version({"vocab_size": 50257}, "--source x")


def needs_blobfile(tokenizer_model: Path) -> bool:
    """What transformers' converter does with a Llama 3 tokenizer.model, asked of tiktoken: 0.7 reads even
    a local file through blobfile, later versions open it."""
    from tiktoken.load import load_tiktoken_bpe

    try:
        load_tiktoken_bpe(str(tokenizer_model))
    except ImportError as exc:
        return "blobfile" in str(exc)
    except Exception:  # noqa: BLE001 - a stand-in file that is not a tiktoken file was still opened
        return False
    return False


def test_detected_with_exact_instructions_when_transformers_lacks_the_converter(meta_ckpt, tmp_path, capsys):
    import transformers

    assert meta.converter() is None  # transformers wheels do not ship the script
    out = tmp_path / "nemo_ckpt" / "meta"
    assert main(["import", "--source", str(meta_ckpt), "--output_path", str(out)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1
    v = transformers.__version__
    assert (f"--source {meta_ckpt} is a Meta checkpoint (params.json + 1 consolidated.*.pth, Llama 3.2)" in err)
    assert (f"git clone --depth 1 --branch v{v} https://github.com/huggingface/transformers /tmp/transformers-src && "
            "python /tmp/transformers-src/src/transformers/models/llama/convert_llama_weights_to_hf.py "
            f"--input_dir {meta_ckpt} --output_dir {meta_ckpt}-hf --llama_version 3.2 --num_shards 1") in err
    assert f"then rerun with --source {meta_ckpt}-hf" in err
    assert ("pip install blobfile && git clone" in err) == needs_blobfile(meta_ckpt / "tokenizer.model")
    assert_nothing_written(out)


@pytest.mark.parametrize("remove, expected", [("consolidated.00.pth", "no consolidated.*.pth"),
                                              ("tokenizer.model", "without tokenizer.model")])
def test_incomplete_meta_checkpoint(meta_ckpt, tmp_path, remove, expected):
    broken = tmp_path / "broken"
    shutil.copytree(meta_ckpt, broken)
    (broken / remove).unlink()
    with pytest.raises(UsageError, match=expected):
        import_hf(str(broken), tmp_path / "out")


def test_meta_key_names(meta_ckpt):
    import torch

    state = torch.load(meta_ckpt / "consolidated.00.pth", weights_only=True)
    assert {"tok_embeddings.weight", "norm.weight", "output.weight", "layers.1.attention.wq.weight",
            "layers.0.feed_forward.w3.weight", "layers.0.attention_norm.weight", "layers.0.ffn_norm.weight"} <= set(state)


def test_converter_is_called_then_hf_import_runs(meta_ckpt, tiny_hf, tmp_path, monkeypatch):
    """With the converter available: transformers' write_tokenizer/write_model into a temp folder
    next to the output, then the HF import from it; the intermediate is removed."""
    calls = {}

    def write_tokenizer(tokenizer_path, input_tokenizer_path, llama_version="2", special_tokens=None, instruct=False,
                        push_to_hub=False):
        calls["tokenizer"] = (Path(tokenizer_path), Path(input_tokenizer_path), llama_version, special_tokens)
        Path(tokenizer_path).mkdir(parents=True, exist_ok=True)
        for name in ("tokenizer.json", "tokenizer_config.json"):
            shutil.copy(tiny_hf / name, Path(tokenizer_path) / name)
        return [None] * 128256

    def write_model(model_path, input_base_path, model_size=None, safe_serialization=True, llama_version="1",
                    vocab_size=None, num_shards=None, instruct=False, push_to_hub=False):
        calls["model"] = (Path(model_path), Path(input_base_path), llama_version, vocab_size, num_shards)
        for name in ("config.json", "model.safetensors"):
            shutil.copy(tiny_hf / name, Path(model_path) / name)

    fake = types.SimpleNamespace(DEFAULT_LLAMA_SPECIAL_TOKENS={"3.2": ["<|begin_of_text|>"]},
                                 write_tokenizer=write_tokenizer, write_model=write_model)
    monkeypatch.setitem(sys.modules, meta.CONVERTER_MODULE, fake)
    monkeypatch.setattr(meta, "missing_tokenizer_packages", lambda src: [])

    def run_import(hf_dir, output):
        calls["import"] = sorted(p.name for p in Path(hf_dir).iterdir())
        Path(output).mkdir()

    monkeypatch.setitem(sys.modules, "recipes.conversion.connectors", types.SimpleNamespace(run_import=run_import))
    out = tmp_path / "nemo_ckpt" / "meta"
    import_hf(str(meta_ckpt), out)
    hf_tmp = calls["tokenizer"][0]
    assert calls["tokenizer"][1:] == (meta_ckpt / "tokenizer.model", "3.2", ["<|begin_of_text|>"])
    assert calls["model"] == (hf_tmp, meta_ckpt, "3.2", 128256, 1)
    assert hf_tmp.parent == out.parent and hf_tmp.name.startswith(".meta.meta-hf-")
    assert calls["import"] == ["config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json"]
    assert out.is_dir() and sorted(p.name for p in out.parent.iterdir()) == ["meta"]


def test_converter_present_but_tokenizer_package_missing(meta_ckpt, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, meta.CONVERTER_MODULE, types.SimpleNamespace())
    monkeypatch.setattr(meta, "missing_tokenizer_packages", lambda src: ["blobfile"])
    with pytest.raises(UsageError, match="converting its tokenizer.model needs `pip install blobfile`"):
        import_hf(str(meta_ckpt), tmp_path / "out")
    assert not (tmp_path / "out").exists()
