"""Session fixtures for the conversion tests.

NeMo conversions cost ~15 s each (plus ~12 s to import NeMo once), so the documented commands of
docs/convert.md run once per session in a prepared workspace (``docs_workspace``) and the
round-trip/export tests check what they wrote.
"""

from __future__ import annotations

import importlib
import json
import shlex
import shutil
import sys
from pathlib import Path

import pytest

from convert_helpers import (EVAL_ROWS, EVAL_TOKENS, documented_commands, hf_greedy, write_hf_cache, write_hf_llama,
                             write_meta_checkpoint)

HF_ID = "meta-llama/Llama-3.1-8B"  # documented id; served from a fake HF cache holding a tiny model


@pytest.fixture(scope="session")
def tiny_hf(tmp_path_factory) -> Path:
    """Llama 3.1 layout: GQA, rope_scaling llama3 (non-default values), untied embeddings."""
    return write_hf_llama(tmp_path_factory.mktemp("hf") / "tiny31")


@pytest.fixture(scope="session")
def tiny_hf_tied(tmp_path_factory) -> Path:
    """Another layout, in bf16 (as real checkpoints are): tied embeddings, no RoPE scaling, no GQA
    (4 KV heads), another theta/eps."""
    return write_hf_llama(tmp_path_factory.mktemp("hf") / "tiny_tied", seed=1, tie_word_embeddings=True,
                          torch_dtype="bfloat16",
                          rope_scaling=None, num_key_value_heads=4, rope_theta=10000.0, rms_norm_eps=1e-6,
                          max_position_embeddings=4096)


@pytest.fixture(scope="session")
def hf_cache(tmp_path_factory, tiny_hf) -> Path:
    cache = tmp_path_factory.mktemp("hf_cache")
    write_hf_cache(cache, HF_ID, tiny_hf)
    return cache


@pytest.fixture
def offline_cache(hf_cache, monkeypatch):
    """huggingface_hub reads its cache dir and offline flag per call from these constants."""
    from huggingface_hub import constants

    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(hf_cache))
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    return hf_cache


def _prepare(ws: Path, tiny_hf_tied: Path, tiny_hf: Path) -> None:
    shutil.copytree(tiny_hf_tied, ws / "Llama-3.2-1B")
    write_meta_checkpoint(ws / "Llama3.2-1B", tiny_hf_tied)
    # The test set of the documented evaluate: half the references are transformers' own greedy answers of
    # the HF model that nemo_ckpt/llama31_8b is imported from, half surely wrong.
    answers = hf_greedy(tiny_hf, EVAL_ROWS, EVAL_TOKENS)
    rows = [{"input": q, "output": a if i % 2 == 0 else "zzz"} for i, (q, a) in enumerate(zip(EVAL_ROWS, answers))]
    (ws / "data/sft").mkdir(parents=True)
    (ws / "data/sft/test.jsonl").write_text("".join(json.dumps(row) + "\n" for row in rows))


def _finetune_run(ws: Path, ckpt: Path) -> None:
    """Stand-in for a finetuning run's last checkpoint: <run>/checkpoints/<name>-last, weights/ +
    context/ as NeMo writes them (the imported checkpoint; Megatron training needs a GPU)."""
    shutil.copytree(ws / "nemo_ckpt/llama31_8b", ckpt)


def _lora_run(ws: Path, ckpt: Path) -> None:
    """A LoRA finetuning run's checkpoint on top of the imported model; its adapter weights are kept
    for the LoRA test's reference."""
    import torch
    from lora_helpers import write_lora_checkpoint

    torch.save(write_lora_checkpoint(ws / "nemo_ckpt/llama31_8b", ckpt), ws / "lora_adapters.pt")


RUNS = {"results/llama31_finetuning/": _finetune_run, "results/llama31_lora/": _lora_run}


@pytest.fixture(scope="session")
def docs_workspace(tmp_path_factory, hf_cache, tiny_hf_tied, tiny_hf):
    """Run every documented command in order; returns (workspace, {command: (exit code, stderr, stdout)})."""
    from huggingface_hub import constants

    ws = tmp_path_factory.mktemp("docs_ws")
    _prepare(ws, tiny_hf_tied, tiny_hf)
    results = {}
    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(ws)
        mp.setattr(constants, "HF_HUB_CACHE", str(hf_cache))
        mp.setattr(constants, "HF_HUB_OFFLINE", True)
        for command in documented_commands():
            argv = shlex.split(command)
            source = argv[argv.index("--source") + 1] if "--source" in argv else ""
            for prefix, prepare in RUNS.items():
                if source.startswith(prefix):
                    prepare(ws, ws / source)
            results[command] = _run_in_process(command)
    return ws, results


def _run_in_process(command: str) -> tuple[int, str, str]:
    import contextlib
    import io

    class Stream(io.StringIO):
        def __init__(self, real):
            super().__init__()
            self.real = real

        def fileno(self):  # megatron calls faulthandler.enable() on import; evaluate/chat redirect fd 1
            return self.real.fileno()

    _, _, module, *argv = shlex.split(command)
    err, out = Stream(sys.__stderr__), Stream(sys.__stdout__)
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(out):
        try:
            code = importlib.import_module(module).main(argv)
        except SystemExit as exc:  # argparse: --help, bad flags
            code = exc.code
    return code, err.getvalue(), out.getvalue()
