"""recipes.convert argument handling: the source's and the output's problems reported together, one line
each naming the flag, exit 2, nothing written, and NeMo never imported for bad input."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from bad_inputs_helpers import assert_one_line, run_bad
from recipes.conversion.command import main
from testlib import REPO, write_nemo_checkpoint

PREFIX = "recipes.convert: error: "
LLAMA = {"model_type": "llama", "architectures": ["LlamaForCausalLM"], "hidden_size": 64}


def write_real_safetensors(folder):
    import torch
    from safetensors.torch import save_file

    save_file({"a": torch.arange(1000, dtype=torch.float32), "b": torch.ones(10, 10)}, folder / "model.safetensors")
    return folder / "model.safetensors"


@pytest.fixture
def work(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "a_file").write_text("x\n")
    hf = tmp_path / "hf"
    hf.mkdir()
    (hf / "config.json").write_text(json.dumps(LLAMA))
    write_real_safetensors(hf)
    (hf / "tokenizer.json").write_text("{}")
    (tmp_path / "half_nemo" / "weights").mkdir(parents=True)  # a save cut before context/ was written
    return tmp_path


@pytest.mark.parametrize("args, needles", [
    (["import", "--source", "hf", "--output_path", "a_file/out"], ["--output_path a_file/out", "is a file, not a"]),
    (["import", "--source", "hf", "--output_path", "a_file"], ["--output_path a_file is a file"]),
    (["export", "--source", "half_nemo", "--output_path", "out"], ["--source", "half_nemo is not a NeMo checkpoint"]),
    (["import", "--source", "hf", "--output_path", "out", "--overwrite", "yes"], ["yes: unknown argument"]),
    (["import", "--output_path", "out"], ["required: --source"]),
    (["translate", "--source", "hf"], ["invalid choice: 'translate'"]),
])
def test_each_bad_input_is_one_line(work, capsys, args, needles):
    assert assert_one_line(run_bad(main, args, capsys, work), *needles).startswith(PREFIX)


@pytest.mark.parametrize("damage, needle", [
    (lambda data: data[: len(data) - 100], "truncated (4,"),  # the last tensor cut short
    (lambda data: data[:20], "truncated (its header alone"),
    (lambda data: b"\x10\0\0\0\0\0\0\0" + b"not json at all!" + data[24:], "not a safetensors file"),
])
def test_cut_short_weights_are_refused_before_nemo_runs(work, capsys, damage, needle):
    weights = write_real_safetensors(work / "hf")
    data = weights.read_bytes()
    weights.write_bytes(damage(data))
    line = assert_one_line(run_bad(main, ["import", "--source", "hf", "--output_path", "out"], capsys, work),
                           f"--source {weights}", needle, "download or copy it again")
    assert line.startswith(PREFIX)


def test_a_cut_short_pytorch_bin_is_refused_and_a_whole_one_passes(work, capsys):
    import torch

    from recipes.conversion.hf_weights import bin_problems

    (work / "hf" / "model.safetensors").unlink()
    weights = work / "hf" / "pytorch_model.bin"
    torch.save({"a": torch.arange(1000, dtype=torch.float32)}, weights)
    assert bin_problems(weights, "--source") == []
    weights.write_bytes(weights.read_bytes()[:3000])
    line = assert_one_line(run_bad(main, ["import", "--source", "hf", "--output_path", "out"], capsys, work),
                           f"--source {weights}: truncated", "download or copy it again")
    assert line.startswith(PREFIX)


def test_complete_weights_pass_the_check(work):
    from safetensors import safe_open

    from recipes.conversion.hf_weights import safetensors_problems

    weights = write_real_safetensors(work / "hf")
    with safe_open(str(weights), framework="pt") as handle:  # the library reads it: the file is whole
        assert sorted(handle.keys()) == ["a", "b"]
    assert safetensors_problems(weights, "--source") == []


HALF_WRITTEN = {  # a NeMo checkpoint as an interrupted save or copy leaves it -> the words of its one line
    "no_metadata": (lambda c: (c / "weights/.metadata").unlink(), "weights/.metadata is missing"),
    "no_shard": (lambda c: (c / "weights/__0_0.distcp").unlink(), "weights/__0_0.distcp is missing"),
    "cut_shard": (lambda c: (c / "weights/__0_0.distcp").write_bytes(b"\0" * 10), "weights/__0_0.distcp is truncated"),
    "no_common": (lambda c: (c / "weights/common.pt").unlink(), "weights/common.pt is missing"),
    "no_io_json": (lambda c: (c / "context/io.json").unlink(), "context/io.json is missing"),
}


@pytest.mark.parametrize("case", HALF_WRITTEN)
def test_a_half_written_nemo_checkpoint_is_one_line_not_an_internal_error(work, capsys, case):
    damage, words = HALF_WRITTEN[case]
    ckpt = write_nemo_checkpoint(work / "ckpt")
    damage(ckpt)
    line = assert_one_line(run_bad(main, ["export", "--source", "ckpt", "--output_path", "out"], capsys, work),
                           f"--source {ckpt}", words, "copy it again or pass another checkpoint")
    assert line.startswith(PREFIX)


def test_a_lora_checkpoint_whose_base_is_half_written(work, capsys):
    base, lora = write_nemo_checkpoint(work / "base"), write_nemo_checkpoint(work / "lora-last")
    (lora / "weights/adapter_metadata.json").write_text(json.dumps({"model_ckpt_path": str(base)}))
    (base / "weights/.metadata").unlink()
    assert_one_line(run_bad(main, ["export", "--source", "lora-last", "--output_path", "out"], capsys, work),
                    f"(base model {base}): weights/.metadata is missing")


def test_source_and_output_problems_together(work, capsys):
    lines = run_bad(main, ["import", "--source", "missing", "--output_path", "a_file/x", "--dtype", "bf16"],
                    capsys, work)
    assert len(lines) == 4, lines
    assert lines[0].startswith(PREFIX + "--dtype: unknown") and lines[1].startswith(PREFIX + "bf16: unknown")
    assert lines[2].startswith(PREFIX + "--source missing: no such directory")
    assert lines[3].startswith(PREFIX + "--output_path a_file/x:")


def test_bad_output_is_found_without_importing_nemo(work):
    code = ("import sys; from recipes.conversion.command import main; "
            "rc = main(['import', '--source', 'hf', '--output_path', 'a_file/out']); "
            "print(rc, any(m.startswith('nemo') for m in sys.modules))")
    env = {"PYTHONPATH": str(REPO), "PATH": "/usr/bin:/bin"}
    out = subprocess.run([sys.executable, "-c", code], cwd=work, capture_output=True, text=True, env=env, timeout=300)
    assert out.stdout.split() == ["2", "False"], out.stderr
    assert "Traceback" not in out.stderr
