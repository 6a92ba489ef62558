"""Full SFT, LoRA and DoRA on a ``recipes.prepare_sft`` folder through ``python -m recipes.finetune
--backend megatron --cpu``: full SFT from random weights; LoRA from the pretrained checkpoint of the suite's
pretraining (``-n``); DoRA from a local Hugging Face folder (``--hf_model_id``: the HF -> NeMo import is the
experiment's first task).

Oracles: NeMo's own restore and checkpoint files (an adapter checkpoint holds only adapter weights and
names its base in ``adapter_metadata.json``), the losses in TensorBoard's event files.
"""

from __future__ import annotations

import json
import math
import sys

import pytest

from mt_helpers import EVERY_STEP, MEGATRON_CPU, REPO, cli, event_losses, last_checkpoint, output

sys.path.insert(0, str(REPO / "tests" / "unit" / "conversion"))
from convert_helpers import write_hf_llama  # noqa: E402

pytestmark = [pytest.mark.megatron, pytest.mark.slow]

STEPS = 3


def finetune(root, data, experiment: str, peft: str, *extra: str, model: str = "tiny"):
    proc = cli(root, "finetune", "-M", model, *MEGATRON_CPU, "--peft", peft, "-D", str(data["sft"]),
               "--max_steps", str(STEPS), "-s", "128", "-g", "2", "-E", experiment, "-y", *extra, EVERY_STEP)
    exp_dir = root / "results" / experiment
    (losses,) = event_losses(exp_dir)
    assert sorted(losses) == list(range(STEPS)) and all(math.isfinite(v) for v in losses.values()), losses
    return exp_dir, proc


def adapter_tensors(checkpoint) -> list[str]:
    """Names of the model tensors in a checkpoint's torch_dist metadata (no NeMo code)."""
    import torch.distributed.checkpoint as dcp

    metadata = dcp.FileSystemReader(str(checkpoint / "weights")).read_metadata()
    return [k for k in metadata.state_dict_metadata if k.startswith("module.") and "_extra_state" not in k]


def test_full_sft_from_random_weights(root, data):
    exp_dir, _ = finetune(root, data, "sft_full", "none")
    keys = adapter_tensors(last_checkpoint(exp_dir))
    assert "module.embedding.word_embeddings.weight" in keys and not any("adapter" in k for k in keys)


def test_lora_from_the_pretrained_checkpoint(root, data, straight):
    base = last_checkpoint(straight[0])
    exp_dir, proc = finetune(root, data, "sft_lora", "lora", "-n", str(base))
    text = output(proc)
    assert str(base) in text  # NeMo restores the base weights from -n
    checkpoint = last_checkpoint(exp_dir)
    metadata = json.loads((checkpoint / "weights" / "adapter_metadata.json").read_text())
    assert metadata["model_ckpt_path"].rstrip("/") == str(base)
    keys = adapter_tensors(checkpoint)
    assert keys and all(".adapter." in k for k in keys), keys  # only the adapters are trained and saved


def test_dora_from_a_hugging_face_folder(root, data):
    hf = write_hf_llama(root / "hf_tiny")
    # -M names NeMo's recipe; the model takes the folder's shape (2 layers, hidden 64: a debug size, so --cpu runs it).
    exp_dir, proc = finetune(root, data, "sft_dora", "dora", "--hf_model_id", str(hf), model="llama32_1b")
    imported = root / "nemo_home" / "models" / str(hf).lstrip("/")
    assert (imported / "weights").is_dir() and str(imported) in output(proc)  # NeMo restored the import
    checkpoint = last_checkpoint(exp_dir)
    base = json.loads((checkpoint / "weights" / "adapter_metadata.json").read_text())["model_ckpt_path"]
    assert base.rstrip("/") == str(imported)
    keys = adapter_tensors(checkpoint)
    assert any("weight_magnitude" in k for k in keys), keys  # DoRA's magnitude vector, beside LoRA's A and B
