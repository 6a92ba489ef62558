"""Output safety with a stand-in converter (no NeMo): temp name + rename, nothing half-written on
failure or Ctrl-C, --overwrite replaces only once the new output is complete."""

from __future__ import annotations

import sys
import types
from pathlib import Path

import pytest

from recipes.conversion import export_hf, import_hf
from recipes.conversion.command import main
from convert_helpers import assert_nothing_written, hf_dir, nemo_dir


@pytest.fixture
def fake_connectors(monkeypatch):
    """Replace the NeMo-backed module; each run_* writes part of a checkpoint, then does ``behaviour``."""
    calls = []
    state = {"behaviour": None}

    def convert(kind):
        def run(source, output):
            calls.append((kind, Path(source), Path(output)))
            (Path(output) / "weights").mkdir(parents=True)
            (Path(output) / "weights" / "part.distcp").write_bytes(b"x" * 10)
            if state["behaviour"]:
                raise state["behaviour"]
            (Path(output) / "config.json").write_text("{}")
            (Path(output) / "model.safetensors").write_bytes(b"x")
            (Path(output) / "tokenizer_config.json").write_text("{}")
        return run

    module = types.SimpleNamespace(run_import=convert("import"), run_export=convert("export"),
                                   run_merge_lora=convert("merge"))
    monkeypatch.setitem(sys.modules, "recipes.conversion.connectors", module)
    return calls, state


def test_success_writes_under_temp_name_then_renames(tmp_path, fake_connectors):
    calls, _ = fake_connectors
    out = tmp_path / "nemo_ckpt" / "tiny"
    assert import_hf(str(hf_dir(tmp_path / "src")), out) == out
    (_, _, staging), = calls
    assert staging.parent == out.parent and staging.name.startswith(".tiny.partial-")
    assert (out / "weights" / "part.distcp").is_file()
    assert sorted(p.name for p in out.parent.iterdir()) == ["tiny"]


@pytest.mark.parametrize("error", [RuntimeError("disk died"), KeyboardInterrupt()])
def test_failure_midway_leaves_nothing(tmp_path, fake_connectors, error):
    _, state = fake_connectors
    state["behaviour"] = error
    out = tmp_path / "nemo_ckpt" / "tiny"
    with pytest.raises(type(error)):
        import_hf(str(hf_dir(tmp_path / "src")), out)
    assert_nothing_written(out)


def test_ctrl_c_from_the_cli(tmp_path, fake_connectors, capsys):
    _, state = fake_connectors
    state["behaviour"] = KeyboardInterrupt()
    out = tmp_path / "hf_ckpt" / "tiny"
    code = main(["export", "--source", str(nemo_dir(tmp_path / "ckpt")), "--output_path", str(out)])
    assert code == 130 and "interrupted" in capsys.readouterr().err
    assert_nothing_written(out)


def test_overwrite_replaces_only_when_complete(tmp_path, fake_connectors):
    _, state = fake_connectors
    out = tmp_path / "hf_ckpt" / "tiny"
    (out / "old").mkdir(parents=True)
    state["behaviour"] = RuntimeError("boom")
    with pytest.raises(RuntimeError):
        export_hf(nemo_dir(tmp_path / "ckpt"), out, overwrite=True)
    assert (out / "old").is_dir()  # the previous output survives a failed overwrite
    state["behaviour"] = None
    export_hf(tmp_path / "ckpt", out, overwrite=True)
    assert not (out / "old").exists() and (out / "config.json").is_file()
    assert sorted(p.name for p in out.parent.iterdir()) == ["tiny"]


def test_export_refuses_output_without_tokenizer(tmp_path, fake_connectors, monkeypatch):
    calls, _ = fake_connectors

    def no_tokenizer(source, output):
        (Path(output)).mkdir(parents=True)
        (Path(output) / "config.json").write_text("{}")
        (Path(output) / "model.safetensors").write_bytes(b"x")

    monkeypatch.setattr(sys.modules["recipes.conversion.connectors"], "run_export", no_tokenizer)
    out = tmp_path / "hf"
    with pytest.raises(RuntimeError, match="could not save the tokenizer"):
        export_hf(nemo_dir(tmp_path / "ckpt"), out)
    assert_nothing_written(out)


def test_lora_checkpoint_is_merged_then_exported(tmp_path, fake_connectors):
    import json

    calls, _ = fake_connectors
    base = nemo_dir(tmp_path / "base")
    lora = nemo_dir(tmp_path / "lora-last")
    (lora / "weights" / "adapter_metadata.json").write_text(json.dumps({"model_ckpt_path": str(base)}))
    out = tmp_path / "hf_ckpt" / "merged"
    export_hf(lora, out)
    (merge, src, merged), (export, merged_in, staging) = calls
    assert (merge, src, export) == ("merge", lora, "export") and merged_in == merged
    assert merged.name.startswith(".merged.merged-") and not merged.exists()  # intermediate removed
    assert sorted(p.name for p in out.parent.iterdir()) == ["merged"]
