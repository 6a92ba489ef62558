"""Test helpers shared by every suite (import as ``testlib``: the root conftest puts tests/ on sys.path).

Not named ``tests.*``: other installed packages ship a top-level ``tests`` package.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
SECRET_NAMES = ("HF_TOKEN", "HUGGING_FACE_HUB_TOKEN", "WANDB_API_KEY", "NGC_API_KEY")
SITE_ENV_NAMES = ("RECIPES_ACCOUNT", "SBATCH_ACCOUNT", "RECIPES_PARTITION", "SBATCH_PARTITION",
                  "RECIPES_CONTAINER_IMAGE", "RECIPES_CONTAINER_MOUNTS", "RECIPES_TIME", "SBATCH_TIMELIMIT",
                  "RECIPES_GPU_MEMORY")


def write_mmap(prefix: Path, documents: list[list[int]]) -> Path:
    """A real Megatron .bin/.idx pair written with megatron-core's builder."""
    import numpy as np
    import torch
    from megatron.core.datasets.indexed_dataset import IndexedDatasetBuilder

    prefix.parent.mkdir(parents=True, exist_ok=True)
    builder = IndexedDatasetBuilder(str(prefix) + ".bin", dtype=np.int32)
    for doc in documents:
        builder.add_document(torch.tensor(doc, dtype=torch.int32), [len(doc)])
    builder.finalize(str(prefix) + ".idx")
    return prefix


def write_sft_folder(folder: Path, rows: int = 8) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name in ("training", "validation", "test"):
        with (folder / f"{name}.jsonl").open("w") as handle:
            for i in range(rows):
                handle.write(json.dumps({"input": f"What is {i} + 1?", "output": str(i + 1)}) + "\n")
    return folder


LLAMA_MODEL = "nemo.collections.llm.gpt.model.llama.LlamaModel"
LLAMA_CONFIG = "nemo.collections.llm.gpt.model.llama.Llama31Config"


def write_nemo_checkpoint(path: Path, model: str = LLAMA_MODEL, config: str = LLAMA_CONFIG) -> Path:
    """A NeMo 2 checkpoint's files as a save leaves them: context/ and a real torch_dist weights/ of one
    small tensor (enough for every check that runs before NeMo; not loadable as a model)."""
    import torch
    import torch.distributed.checkpoint as dcp

    dcp.save({"module.w": torch.zeros(256)}, checkpoint_id=str(path / "weights"))
    torch.save({}, path / "weights" / "common.pt")
    (path / "weights" / "metadata.json").write_text('{"sharded_backend": "torch_dist"}')
    (path / "context").mkdir()
    (path / "context" / "model.yaml").write_text(f"_target_: {model}\nconfig:\n  _target_: {config}\n")
    (path / "context" / "io.json").write_text("{}")
    return path


def run_module(module: str, *args: str, env: dict | None = None, cwd=None, timeout: int = 600):
    """``python -m module args`` in a subprocess with this interpreter (and the repo on sys.path)."""
    full_env = {**os.environ, **(env or {})}
    full_env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), full_env.get("PYTHONPATH")]))
    return subprocess.run([sys.executable, "-m", module, *args], capture_output=True, text=True,
                          env=full_env, cwd=cwd, timeout=timeout)


def files_containing(root: Path, needle: str) -> list[Path]:
    """Every file under ``root`` whose bytes contain ``needle``."""
    hits = []
    for path in Path(root).rglob("*"):
        if path.is_file() and not path.is_symlink():
            try:
                if needle.encode() in path.read_bytes():
                    hits.append(path)
            except OSError:
                continue
    return hits
