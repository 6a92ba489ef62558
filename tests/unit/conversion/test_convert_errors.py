"""Bad input: one line on stderr naming the flag/file and the fix, exit 2, nothing written. No NeMo needed."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from convert_helpers import LLAMA_CONFIG, assert_nothing_written, hf_dir, nemo_dir
from recipes.conversion.command import build_parser, main
from recipes.core.errors import UsageError


def run(capsys, *argv) -> str:
    code = main(list(argv))
    err = capsys.readouterr().err.strip()
    assert code == 2, err
    assert len(err.splitlines()) == 1 and err.startswith("recipes.convert: error: "), err
    return err


@pytest.mark.parametrize("setup, expected", [
    (lambda d: None, "no such directory"),
    (lambda d: d.mkdir(), "is not a model directory: no config.json"),
    (lambda d: d.write_text("x"), "is a file"),
    (lambda d: hf_dir(d, {"model_type": "gpt2", "architectures": ["GPT2LMHeadModel"]}),
     "model_type 'gpt2' (GPT2LMHeadModel) is not a Llama model"),
    (lambda d: hf_dir(d, weights=()), "config.json but no weights"),
    (lambda d: hf_dir(d, tokenizer=False), "no tokenizer"),
    (lambda d: hf_dir(d, {**LLAMA_CONFIG, "attention_bias": True}), "attention_bias/mlp_bias"),
    (lambda d: hf_dir(d, {**LLAMA_CONFIG, "rope_scaling": {"rope_type": "yarn", "factor": 4.0}}),
     "rope_scaling type 'yarn' is not supported"),
    (lambda d: (d / "config.json").parent.mkdir() or (d / "config.json").write_text("{not json"), "is not valid JSON"),
    (lambda d: nemo_dir(d), "is already a NeMo checkpoint; use `python -m recipes.convert export`"),
])
def test_import_rejects_bad_source(tmp_path, capsys, setup, expected):
    source, out = tmp_path / "src", tmp_path / "nemo_ckpt" / "out"
    setup(source)
    err = run(capsys, "import", "--source", str(source), "--output_path", str(out))
    assert expected in err and "--source" in err
    assert_nothing_written(out)


def test_import_rejects_incomplete_sharded_download(tmp_path, capsys):
    source = hf_dir(tmp_path / "src", weights=("model-00001-of-00002.safetensors",))
    index = {"weight_map": {"a": "model-00001-of-00002.safetensors", "b": "model-00002-of-00002.safetensors"}}
    (source / "model.safetensors.index.json").write_text(json.dumps(index))
    err = run(capsys, "import", "--source", str(source), "--output_path", str(tmp_path / "out"))
    assert "1 of 2 weight shards listed in model.safetensors.index.json are missing" in err


def test_import_hf_id_not_cached_offline(tmp_path, capsys, monkeypatch):
    from huggingface_hub import constants

    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path / "empty_cache"))
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    err = run(capsys, "import", "--source", "meta-llama/Llama-3.1-8B", "--output_path", str(tmp_path / "out"))
    assert "not in the local Hugging Face cache" in err and "huggingface-cli download meta-llama/Llama-3.1-8B" in err


def test_existing_output_needs_overwrite(tmp_path, capsys):
    source = hf_dir(tmp_path / "src")
    out = tmp_path / "out"
    (out / "keep").mkdir(parents=True)
    err = run(capsys, "import", "--source", str(source), "--output_path", str(out))
    assert f"--output_path {out} already exists; pass --overwrite" in err
    assert (out / "keep").is_dir()


def test_not_enough_disk_space(tmp_path, capsys, monkeypatch):
    import shutil
    from collections import namedtuple

    usage = namedtuple("usage", "total used free")
    monkeypatch.setattr(shutil, "disk_usage", lambda path: usage(10**12, 10**12 - 10**6, 10**6))
    source = hf_dir(tmp_path / "src")
    out = tmp_path / "nemo_ckpt" / "out"
    err = run(capsys, "import", "--source", str(source), "--output_path", str(out))
    assert "not enough free disk space" in err and "MiB free" in err
    assert_nothing_written(out)


def test_disk_estimate_uses_source_weight_sizes(tmp_path, monkeypatch):
    import shutil
    from collections import namedtuple

    from recipes.conversion.staging import check_output
    from recipes.core.errors import UsageError

    usage = namedtuple("usage", "total used free")
    monkeypatch.setattr(shutil, "disk_usage", lambda path: usage(0, 0, 3 * 1024**3))
    check_output(tmp_path / "a", False, 2 * 1024**3)  # fits
    with pytest.raises(UsageError, match=r"about 3\.4 GiB needed, 3\.0 GiB free"):
        check_output(tmp_path / "a", False, 3 * 1024**3)


def test_output_must_not_overlap_source(tmp_path, capsys):
    source = nemo_dir(tmp_path / "ckpt")
    err = run(capsys, "export", "--source", str(source), "--output_path", str(source), "--overwrite")
    assert "overlaps --source" in err
    assert (source / "weights").is_dir()


@pytest.mark.parametrize("setup, expected", [
    (lambda d: None, "no such directory; pass a NeMo checkpoint such as <run>/checkpoints/<name>-last"),
    (lambda d: d.write_text("x"), "is a file"),
    (lambda d: d.with_suffix(".nemo").write_text("x"), "NeMo 1 .nemo archives are not supported"),
    (lambda d: hf_dir(d), "is already a Hugging Face model folder; nothing to export"),
    (lambda d: d.mkdir(), "is not a NeMo checkpoint: expected weights/ and context/"),
    (lambda d: nemo_dir(d / "checkpoints" / "sft--step=9-last"), "contains checkpoints; pass one of them"),
    (lambda d: nemo_dir(d, "nemo.collections.llm.gpt.model.mistral.MistralModel",
                        "nemo.collections.llm.gpt.model.mistral.MistralConfig7B"), "holds a MistralModel"),
    (lambda d: nemo_dir(d, config="nemo.collections.llm.gpt.model.llama.Llama4Experts16Config"), "Llama4"),
])
def test_export_rejects_bad_source(tmp_path, capsys, setup, expected):
    source, out = tmp_path / "run", tmp_path / "hf_ckpt" / "out"
    setup(source)
    if expected.startswith("NeMo 1"):
        source = source.with_suffix(".nemo")
    err = run(capsys, "export", "--source", str(source), "--output_path", str(out))
    assert expected in err
    assert_nothing_written(out)


def test_export_lora_without_its_base(tmp_path, capsys):
    ckpt = nemo_dir(tmp_path / "lora-last")
    (ckpt / "weights" / "adapter_metadata.json").write_text(json.dumps({"model_ckpt_path": str(tmp_path / "gone")}))
    err = run(capsys, "export", "--source", str(ckpt), "--output_path", str(tmp_path / "out"))
    assert f"base model {tmp_path / 'gone'}" in err and "is missing here" in err


def test_flags():
    args = build_parser().parse_args(["import", "--source", "x", "--output_path", "y"])
    assert args.overwrite is False
    args = build_parser().parse_args(["export", "--source", "x", "--output-path", "y", "--overwrite"])
    assert args.overwrite is True and args.output_path == "y"
    with pytest.raises(UsageError, match="required: --source"):  # one line, exit 2 from main
        build_parser().parse_args(["import", "--output_path", "y"])
    with pytest.raises(UsageError, match="unrecognized arguments: false"):  # a real boolean flag: no value
        build_parser().parse_args(["import", "--source", "x", "--output_path", "y", "--overwrite", "false"])


def test_cli_does_not_import_nemo_before_validation(tmp_path):
    import subprocess
    import sys

    code = ("import sys; from recipes.conversion.command import main; rc = main(['import', '--source', 'missing', "
            "'--output_path', 'out']); print(rc, 'nemo' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True,
                         env={**__import__("os").environ, "PYTHONPATH": str(Path(__file__).resolve().parents[3])})
    assert out.stdout.split() == ["2", "False"], out.stderr
