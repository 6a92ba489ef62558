"""recipes.evaluate / recipes.chat on NeMo 2 checkpoints (recipes.hf.model_source). The documented commands of
docs/convert.md ran in ``docs_workspace``; their answers must be transformers' own greedy ``generate`` on
the original HF weights (for the LoRA checkpoint: those weights + alpha/dim * B @ A, merged here by hand).
Bad checkpoints: one line, exit 2, nothing written, no temporary export left; Ctrl-C / SIGTERM during the
export leave nothing either."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tarfile
import time
from pathlib import Path

import pytest

from convert_helpers import EVAL_ROWS, EVAL_TOKENS, REPO, hf_greedy, nemo_dir

EXPORTED = "exported the NeMo checkpoint"
LORA = "results/llama31_lora/checkpoints/llama31_lora--val_loss=0.00-epoch=0-consumed_samples=800.0-last"


def _documented(results: dict, module: str) -> tuple[int, str, str]:
    (command,) = [c for c in results if c.startswith(f"python -m {module} ")]
    return results[command]


def _export_line(err: str, checkpoint: Path) -> Path:
    """The one stderr line saying what was exported; the temporary folder it names."""
    lines = [line for line in err.splitlines() if EXPORTED in line]
    assert len(lines) == 1 and f"{EXPORTED} {checkpoint} " in lines[0], lines
    return Path(lines[0].split(" Hugging Face folder ")[1].split(" (")[0])


def test_evaluate_on_a_nemo_checkpoint_is_generate_on_its_hf_original(docs_workspace, tiny_hf, tmp_path,
                                                                       monkeypatch):
    from recipes.evaluation.evaluate import main

    ws, results = docs_workspace
    code, err, out = _documented(results, "recipes.evaluate")
    assert code == 0, err
    report = json.loads((ws / "eval/llama31_8b.json").read_text())
    assert json.loads(out)["num_samples"] == len(EVAL_ROWS)  # stdout is the report alone: NeMo's logs went to stderr
    assert [s["prediction"] for s in report["samples"]] == hf_greedy(tiny_hf, EVAL_ROWS, EVAL_TOKENS)
    assert report["exact_match"] == 0.5 and report["model_path"] == "nemo_ckpt/llama31_8b"
    temp = _export_line(err, ws / "nemo_ckpt/llama31_8b")
    assert temp.name == "hf" and not temp.parent.exists()
    # The same evaluation on the HF folder the checkpoint was imported from: every metric identical.
    monkeypatch.chdir(ws)
    assert main(["--model_path", str(tiny_hf), "--test_file", "data/sft/test.jsonl", "--max_new_tokens",
                 str(EVAL_TOKENS), "--output", str(tmp_path / "hf.json"), "--labels"]) == 0
    from_hf = json.loads((tmp_path / "hf.json").read_text())
    same = sorted(set(report) - {"model_path", "latency_p50_s", "latency_p95_s"})
    assert "bleu" in same and "accuracy" in same and "samples" in same
    assert {k: report[k] for k in same} == {k: from_hf[k] for k in same}


def test_chat_on_a_lora_nemo_checkpoint_is_generate_on_the_hand_merged_model(docs_workspace, tiny_hf, tmp_path):
    import torch
    from lora_helpers import merged_by_hand
    from safetensors.torch import load_file, save_file

    ws, results = docs_workspace
    code, err, out = _documented(results, "recipes.chat")
    assert code == 0, err
    merged = shutil.copytree(tiny_hf, tmp_path / "merged")
    state = merged_by_hand(load_file(str(tiny_hf / "model.safetensors")), torch.load(ws / "lora_adapters.pt"))
    save_file(state, str(merged / "model.safetensors"), metadata={"format": "pt"})
    prompt = "Question: what is 2 plus one?"
    (expected,) = hf_greedy(merged, [prompt], 5)
    assert out == expected + "\n"
    assert hf_greedy(tiny_hf, [prompt], 5) != [expected]  # the base model answers otherwise: LoRA was merged
    assert not _export_line(err, ws / LORA).parent.exists()


def test_hf_adapter_on_a_nemo_checkpoint_is_applied_to_its_export(docs_workspace, tiny_hf, tmp_path, capsys):
    """--adapter (a PEFT folder trained on the HF model) is honoured on top of the exported checkpoint:
    the answer is transformers' greedy generate on PEFT's own merge of that adapter into the HF original."""
    import torch
    from peft import LoraConfig, PeftModel, get_peft_model
    from transformers import AutoModelForCausalLM

    from recipes.evaluation.chat import main

    ws, _ = docs_workspace
    torch.manual_seed(3)
    base = AutoModelForCausalLM.from_pretrained(tiny_hf, dtype=torch.float32)
    get_peft_model(base, LoraConfig(r=4, lora_alpha=8, target_modules=["q_proj", "v_proj", "down_proj"],
                                    init_lora_weights=False)).save_pretrained(tmp_path / "adapter")
    merged = PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(tiny_hf, dtype=torch.float32),
                                       tmp_path / "adapter").merge_and_unload()
    merged.save_pretrained(tmp_path / "merged")
    for tokenizer_file in tiny_hf.glob("tokenizer*"):
        shutil.copy(tokenizer_file, tmp_path / "merged" / tokenizer_file.name)
    prompt = "Question: what is 5 plus one?"
    (expected,) = hf_greedy(tmp_path / "merged", [prompt], 5)
    assert hf_greedy(tiny_hf, [prompt], 5) != [expected]  # the adapter changes the answer
    capsys.readouterr()
    assert main(["--model_path", str(ws / "nemo_ckpt/llama31_8b"), "--adapter", str(tmp_path / "adapter"),
                 "--prompt", prompt, "--temperature", "0", "--max_new_tokens", "5"]) == 0
    captured = capsys.readouterr()
    assert captured.out == expected + "\n"
    assert not _export_line(captured.err, ws / "nemo_ckpt/llama31_8b").parent.exists()


@pytest.fixture(scope="module")
def bad_paths(docs_workspace, tmp_path_factory):
    """Damaged copies of the imported checkpoint and other wrong --model_path values."""
    ws, _ = docs_workspace
    root, nemo = tmp_path_factory.mktemp("bad"), ws / "nemo_ckpt/llama31_8b"
    for name in ("good", "no_shard", "truncated", "no_metadata"):
        shutil.copytree(nemo, root / name)
    (root / "no_shard/weights/__0_1.distcp").unlink()
    shard = root / "truncated/weights/__0_0.distcp"
    shard.write_bytes(shard.read_bytes()[:1000])  # a copy cut short
    (root / "no_metadata/weights/.metadata").unlink()
    shutil.copytree(nemo / "context", root / "no_weights/context")  # weights/ never written
    nemo_dir(root / "run/checkpoints/x-last")
    (root / "neither").mkdir()
    (root / "neither/notes.txt").write_text("x\n")
    (root / "test.jsonl").write_text('{"input": "a", "output": "b"}\n')
    with tarfile.open(root / "megatron_gpt_345m.nemo", "w") as tar:  # NeMo 1's layout: a tar of yaml + ckpt
        tar.add(root / "test.jsonl", arcname="model_config.yaml")
    with tarfile.open(root / "llama31_8b.nemo", "w") as tar:  # a NeMo 2 checkpoint folder, tarred
        tar.add(nemo / "context", arcname="llama31_8b/context")
    nemo_dir(root / "gpt", model="nemo.collections.llm.gpt.model.base.GPTModel", config="x.GPTConfig")
    (root / "tmp").mkdir()
    return root


@pytest.fixture
def bad(bad_paths, monkeypatch):
    monkeypatch.chdir(bad_paths)
    monkeypatch.setattr("tempfile.tempdir", str(bad_paths / "tmp"))  # a temporary export would land here
    return bad_paths


def snapshot(root: Path) -> dict[str, tuple]:
    return {str(p.relative_to(root)): (p.is_dir(), p.lstat().st_size, p.lstat().st_mtime_ns)
            for p in sorted(root.rglob("*"))}


CASES = {
    "missing": (["--model_path", "nowhere"], ["--model_path: nowhere does not exist", "NeMo 2 checkpoint"]),
    "neither": (["--model_path", "neither"], ["--model_path: neither is neither a Hugging Face model folder",
                                              "nor a NeMo 2 checkpoint"]),
    "no_shard": (["--model_path", "no_shard"], ["--model_path", "weights/__0_1.distcp is missing"]),
    "truncated": (["--model_path", "truncated"], ["--model_path", "weights/__0_0.distcp is truncated"]),
    "no_metadata": (["--model_path", "no_metadata"], ["--model_path", "weights/.metadata is missing"]),
    "no_weights": (["--model_path", "no_weights"], ["--model_path", "a NeMo checkpoint without weights/"]),
    "run_dir": (["--model_path", "run"], ["--model_path: run holds NeMo checkpoints", "run/checkpoints/x-last"]),
    "nemo1": (["--model_path", "megatron_gpt_345m.nemo"], ["NeMo 1 .nemo archive", "recipes.conversion.command import"]),
    "nemo2_tar": (["--model_path", "llama31_8b.nemo"], ["archive of a NeMo 2 checkpoint", "tar -xf llama31_8b.nemo"]),
    "not_llama": (["--model_path", "gpt"], ["--model_path", "not a Llama"]),
    "nemo_adapter": (["--model_path", "good", "--adapter", "truncated"],
                     ["--adapter: truncated is a NeMo checkpoint", "as --model_path alone"]),
}


@pytest.mark.parametrize("command", ["recipes.evaluate", "recipes.chat"])
@pytest.mark.parametrize("case", CASES)
def test_bad_model_path_is_one_line_and_leaves_nothing(bad, capsys, command, case):
    import importlib

    flags, needles = CASES[case]
    extra = ["--test_file", "test.jsonl", "--output", "r.json"] if command == "recipes.evaluate" else ["--prompt", "hi"]
    before = snapshot(bad)
    assert importlib.import_module(command).main([*flags, *extra]) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"python -m {command}: error: "), lines
    assert all(needle in lines[0] for needle in needles), lines[0]
    assert snapshot(bad) == before  # nothing written, the temporary folder's parent (TMPDIR) still empty


@pytest.mark.parametrize("sig, status", [(signal.SIGINT, 130), (signal.SIGTERM, 128 + signal.SIGTERM)])
def test_interrupted_export_leaves_no_temporary_folder(docs_workspace, tmp_path, sig, status):
    ws, _ = docs_workspace
    temp = tmp_path / "tmp"
    temp.mkdir()
    env = {**os.environ, "PYTHONPATH": str(REPO), "TMPDIR": str(temp)}
    with open(tmp_path / "log", "w") as log:
        proc = subprocess.Popen([sys.executable, "-m", "recipes.chat", "--model_path", str(ws / "nemo_ckpt/llama31_8b"),
                                 "--prompt", "hi"], env=env, stdout=log, stderr=subprocess.STDOUT)
        try:
            deadline = time.monotonic() + 120
            while not any(p.name.startswith("recipes-nemo-export-") for p in temp.iterdir()):
                assert proc.poll() is None and time.monotonic() < deadline, (tmp_path / "log").read_text()
                time.sleep(0.02)
            proc.send_signal(sig)  # the export has started: its folder exists
            assert proc.wait(timeout=120) == status, (tmp_path / "log").read_text()
        finally:
            proc.kill()
    assert [p.name for p in temp.iterdir() if not p.name.startswith("torchinductor")] == []


def test_a_failed_export_leaves_no_temporary_folder(bad):
    """``hf_model_dir`` alone (as a pipeline step would use it) on a checkpoint missing a shard: NeMo's
    loader fails inside the export, the error propagates, and the temporary folder is gone."""
    from recipes.hf.model_source import hf_model_dir

    with pytest.raises(Exception, match="__0_1.distcp|No such file"):
        with hf_model_dir("no_shard", "test"):
            pytest.fail("the export cannot succeed")
    assert list((bad / "tmp").iterdir()) == []
