"""Shared by tests/unit/*/test_bad_inputs_*.py: run an entry point, read its error lines, prove that
nothing on disk changed, and build tiny real model folders (random weights, nothing downloaded)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest


def snapshot(root: Path) -> dict[str, tuple]:
    """Every path under ``root`` with its kind, size and modification time: equal means untouched."""
    state = {}
    for path in sorted(Path(root).rglob("*")):
        info = path.lstat()
        state[str(path.relative_to(root))] = (path.is_dir(), 0 if path.is_dir() else info.st_size, info.st_mtime_ns)
    return state


def run_bad(main, argv: list[str], capsys, root: Path) -> list[str]:
    """Run ``main(argv)`` on bad input: exit 2, no traceback, nothing under ``root`` changed; the error lines."""
    before = snapshot(root)
    code = main(argv)
    err = capsys.readouterr().err
    assert code == 2, err
    assert "Traceback" not in err, err
    assert snapshot(root) == before, "the file system changed"
    return [line for line in err.splitlines() if ": error: " in line]


def assert_one_line(lines: list[str], *needles: str) -> str:
    assert len(lines) == 1, lines
    for needle in needles:
        assert needle in lines[0], lines[0]
    return lines[0]


def write_jsonl(path: Path, rows) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows), encoding="utf-8")
    return path


def qa_rows(count: int = 30) -> list[dict]:
    return [{"input": f"what is {i} plus one?", "output": str(i + 1)} for i in range(count)]


def write_tiny_llama(path: Path, seed: int = 0) -> Path:
    """A random 2-layer Llama from the ``tiny`` registry entry (tied embeddings) with the bundled tokenizer."""
    import torch
    from transformers import LlamaForCausalLM

    from recipes.config.models import get_model, hf_llama_config
    from recipes.data.tokenizer import bundled_llama3_dir

    torch.manual_seed(seed)
    model = LlamaForCausalLM(hf_llama_config(get_model("tiny"), tie_word_embeddings=True))
    model.save_pretrained(path)
    for item in bundled_llama3_dir().iterdir():
        shutil.copy(item, path / item.name)
    return path


def write_tiny_adapter(path: Path, base: Path) -> Path:
    """A LoRA adapter of ``base`` saved by PEFT (``adapter_config.json`` names the base folder)."""
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(base, dtype=torch.float32)
    peft = get_peft_model(model, LoraConfig(r=2, lora_alpha=4, target_modules=["q_proj", "v_proj"]))
    peft.save_pretrained(path)
    config = json.loads((path / "adapter_config.json").read_text())
    assert config["base_model_name_or_path"] == str(base), config
    return path


def broken_copies(model: Path, adapter: Path, root: Path) -> dict[str, Path]:
    """Damaged copies of real folders, each the way a real accident leaves one."""
    root.mkdir(parents=True, exist_ok=True)
    made = {}

    def copy(name: str, source: Path) -> Path:
        made[name] = shutil.copytree(source, root / name)
        return made[name]

    copy("garbage_config", model).joinpath("config.json").write_text("{not json")
    copy("unknown_model_type", model).joinpath("config.json").write_text(json.dumps({"model_type": "nonsense"}))
    weights = copy("truncated_weights", model) / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[: weights.stat().st_size // 2])  # a copy cut short
    (copy("half_written", model) / "model.safetensors").unlink()  # config written, weights never were
    copy("garbage_adapter_config", adapter).joinpath("adapter_config.json").write_text("]]")
    (copy("adapter_without_weights", adapter) / "adapter_model.safetensors").unlink()
    orphan = copy("orphan_adapter", adapter) / "adapter_config.json"
    orphan.write_text(json.dumps({**json.loads(orphan.read_text()), "base_model_name_or_path": str(root / "gone")}))
    return made


@pytest.fixture(scope="module")
def models(tmp_path_factory) -> dict[str, Path]:
    """A real tiny model, a real adapter of it, and damaged copies of both (import into a test module)."""
    root = tmp_path_factory.mktemp("models")
    model = write_tiny_llama(root / "model")
    adapter = write_tiny_adapter(root / "adapter", model)
    return {"model": model, "adapter": adapter, **broken_copies(model, adapter, root / "broken")}
