"""``recipes/pipelines/tutorial.yaml`` end to end through NeMo's real Megatron path on the CPU, at the tiny size.

The shipped file, unchanged, with command-line overrides only: the tiny Llama instead of 8B (its HF folder
made here, random weights, as ``Llama-3.1-8B-Instruct``), ``--backend megatron --cpu``, a few steps, one
process. Stages: preprocess -> prepare_sft -> import (HF -> NeMo) -> pretrain (from the import) -> finetune
(``nemo_model: ""``: from the newest pretraining checkpoint) -> export (NeMo -> HF, ``${last:...}``); then the
exported model is evaluated and chatted with. Oracles: the stages' own files and logs, torch reading the trainer
state inside the checkpoints; for the export, the logits of megatron-core's own GPTModel built from the finetuned
NeMo checkpoint's files (read with torch.distributed.checkpoint and YAML: the conversion suite's independent
reader) against transformers on the exported folder; transformers' own greedy ``generate`` on that folder (a
second implementation of what ``recipes.evaluate`` and ``recipes.chat`` answer).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
import torch

from mt_helpers import cli
from testlib import REPO

sys.path.insert(0, str(REPO / "tests" / "unit" / "conversion"))
import convert_helpers as helpers  # noqa: E402
import test_convert_nemo_side as nemo_side  # noqa: E402
from convert_helpers import hf_greedy, write_hf_llama  # noqa: E402

pytestmark = [pytest.mark.megatron, pytest.mark.slow]

TUTORIAL = str(REPO / "recipes" / "pipelines" / "tutorial.yaml")
SAMPLE = REPO / "recipes" / "data" / "sample"
TRAINING = ["model_size=tiny", "num_gpus=1", "cpu=true", "backend=megatron", "tensor_model_parallel_size=1",
            "global_batch_size=2", "hf_model_id=[]"]  # -M tiny builds its own architecture: no HF id beside it
TINY_ON_CPU = ["preprocess.tokenizer-type=Llama-3.1-8B-Instruct",  # the local folder: its bundled tokenizer
               *(f"pretrain.{item}" for item in TRAINING), "pretrain.max_steps=4",
               *(f"finetune.{item}" for item in TRAINING), "finetune.max_steps=2"]
STAGES = ["preprocess", "prepare_sft", "import", "pretrain", "finetune", "export"]


def _tutorial_inputs(root: Path) -> None:
    """What the tutorial's header says to bring, at tiny size: wikinews text, Alpaca rows, the model folder."""
    (root / "data/custom_dataset/json").mkdir(parents=True)
    (root / "data/custom_dataset/json/wikinews-zhtw.jsonl").write_text((SAMPLE / "pretrain_zh_en.jsonl").read_text())
    (root / "data/sft/raw").mkdir(parents=True)
    rows = [json.loads(line) for line in (SAMPLE / "instructions.jsonl").read_text().splitlines()[:120]]
    (root / "data/sft/raw/alpaca-zhtw.jsonl").write_text("".join(
        json.dumps({"instruction": r["input"], "input": "", "output": r["output"]}, ensure_ascii=False) + "\n"
        for r in rows))
    write_hf_llama(root / "Llama-3.1-8B-Instruct")


def _global_step(checkpoint: Path) -> int:
    return torch.load(checkpoint / "weights" / "common.pt", weights_only=False, map_location="cpu")["global_step"]


@pytest.fixture(scope="module")
def tutorial(tmp_path_factory) -> Path:
    """The shipped pipeline, run once from a fresh working tree: the tree."""
    root = tmp_path_factory.mktemp("tutorial")
    _tutorial_inputs(root)
    cli(root, "pipeline", TUTORIAL, *TINY_ON_CPU, "-y", timeout=1500)
    return root


def test_every_stage_ran_from_the_previous_ones_output(tutorial):
    root = tutorial
    state = root / "results" / "pipelines" / "tutorial"
    manifests = {name: json.loads((state / f"{name}.json").read_text()) for name in STAGES}
    assert "--backend megatron" in manifests["pretrain"]["command"] and "--cpu" in manifests["finetune"]["command"]

    # pretrain started from the import, finetune from pretraining's newest checkpoint (not the cwd).
    pretrain, finetune = (root / "results" / name / "checkpoints" for name in ("llama31_pretraining",
                                                                               "llama31_finetuning"))
    assert [_global_step(p) for p in pretrain.glob("*-last")] == [4]
    assert [_global_step(p) for p in finetune.glob("*-last")] == [2]
    assert f"--nemo_model {root}/nemo_ckpt/Llama-3.1-8B-Instruct" in manifests["pretrain"]["command"]
    assert "--nemo_model ''" in manifests["finetune"]["command"], manifests["finetune"]["command"]

    # export: an HF Llama of the tiny architecture.
    config = json.loads((root / "hf_ckpt" / "config.json").read_text())
    assert (config["num_hidden_layers"], config["hidden_size"]) == (2, 64)


@pytest.fixture
def model_parallel():
    with helpers.single_process_model_parallel():
        yield


def _finetuned_model(checkpoint: Path, tmp_path: Path):
    """megatron-core's GPTModel with the NeMo checkpoint's tensors (no NeMo code reads them)."""
    import yaml
    from torch.distributed.checkpoint.format_utils import dcp_to_torch_save

    dcp_to_torch_save(str(checkpoint / "weights"), str(tmp_path / "weights.pt"))
    loaded = torch.load(tmp_path / "weights.pt", weights_only=False)
    tensors = {k[len("module."):]: v for k, v in loaded.items()
               if k.startswith("module.") and isinstance(v, torch.Tensor) and "_extra_state" not in k}
    config = yaml.safe_load((checkpoint / "context" / "model.yaml").read_text())["config"]
    # A training run's config leaves the vocabulary to the tokenizer (padded to a multiple of 128): the rows.
    config["vocab_size"] = config["vocab_size"] or tensors["embedding.word_embeddings.weight"].shape[0]
    return nemo_side.megatron_gpt(config, tensors), config


def test_export_gives_the_finetuned_checkpoint_logits(tutorial, model_parallel, tmp_path):
    (checkpoint,) = (tutorial / "results" / "llama31_finetuning" / "checkpoints").glob("*-last")
    model, config = _finetuned_model(checkpoint, tmp_path)
    assert (config["num_layers"], config["hidden_size"]) == (2, 64)
    tokens = helpers.fixed_tokens()
    reference = nemo_side.causal_logits(model, tokens)
    exported = tutorial / "hf_ckpt"
    logits = helpers.hf_logits(exported, tokens)
    # NeMo pads the embedding to a multiple of 128 rows; the export keeps the tokenizer's ids. (The bundled
    # tokenizer has 128257: Llama 3's 128256 and <|image|>, so the export has one row more than its source.)
    vocab = logits.shape[-1]
    assert vocab <= reference.shape[-1]
    assert (logits - reference[..., :vocab]).abs().max().item() <= 1e-4  # fp32 both sides; only kernels differ
    # Pretraining and finetuning changed the imported weights:
    source = helpers.hf_logits(tutorial / "Llama-3.1-8B-Instruct", tokens)
    assert (source - logits[..., :source.shape[-1]]).abs().max().item() > 1e-3


def test_evaluate_and_chat_on_the_export(tutorial):
    root = tutorial
    report = root / "eval" / "report.json"
    rows = [json.loads(line) for line in (SAMPLE / "instructions.jsonl").read_text().splitlines()[:2]]
    cli(root, "evaluate", "--model_path", "hf_ckpt", "--test_file", str(SAMPLE / "instructions.jsonl"), "--limit", "2",
        "--max_new_tokens", "3", "--output", str(report))
    answers = json.loads(report.read_text())
    assert answers["num_samples"] == 2
    assert [s["prediction"] for s in answers["samples"]] == hf_greedy(root / "hf_ckpt", [r["input"] for r in rows], 3)
    chat = cli(root, "chat", "--model_path", "hf_ckpt", "--prompt", "How are you?", "--temperature", "0",
               "--max_new_tokens", "4")
    assert chat.stdout == hf_greedy(root / "hf_ckpt", ["How are you?"], 4)[0] + "\n"
