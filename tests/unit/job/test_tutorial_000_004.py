"""Tutorials 000 (synthetic chat data -> finetune -> evaluate -> chat, ``nemo_2_example.py``) and 004 (LCCC
dialogue data, CPU LoRA, ``run_finetune.sh``): their command lines, in the project's spelling, resolve
(dry-run) to the training the tutorials describe; their scripts' own spellings are refused, one line
each, with the exact replacement, and that replacement resolves to the same training.

Expected values are the seed texts' (/work/shared/seeds/000_*.txt, 004_*.txt; lines cited), counts
worked out by hand from the data the test writes.
"""

from __future__ import annotations

import dataclasses
import json
import math
import re
import shlex

import pytest

from recipes.core.errors import ValidationErrors
from recipes.job.cli import build_parser
from recipes.job.plan import make_plan
from recipes.job.validate import validate
from testlib import run_module, write_nemo_checkpoint

pytest.importorskip("nemo.collections.llm")

DIALOGUES, TURNS, VAL_DIALOGUES = 120, 4, 12  # 004 line 112: --val_size 0.1 of the source dialogues
# 004 lines 154-161 (config/finetune_config.json): num_train_epochs 3.0, learning_rate 2e-5, lora_r 8, lora_alpha 16.
EPOCHS, LR_004, LORA_R, LORA_ALPHA = 3, 2e-5, 8, 16
# 004 line 304: `--use_cpu --max_samples 1000 --per_device_train_batch_size 1 --gradient_accumulation_steps 16`.
MICRO, ACCUMULATION = 1, 16
TUTORIAL_004 = ["--use_cpu", "--learning_rate", "2e-5", "--num_train_epochs", "3",
                "--per_device_train_batch_size", "1", "--gradient_accumulation_steps", "16"]


@pytest.fixture
def lccc(isolated):
    """LCCC-shaped dialogues (word-segmented turns), prepared as 004's data step: --max_turns 3, --val_size 0.1."""
    raw = isolated / "lccc-base.jsonl"
    raw.write_text("".join(json.dumps([f"你 好 {i} 第 {t} 句" for t in range(TURNS)], ensure_ascii=False) + "\n"
                           for i in range(DIALOGUES)))
    proc = run_module("recipes.prepare_sft", "--input", str(raw), "--output_dir", "data/sft/lccc", "--max_turns", "3",
                      "--val_size", "0.1", "--test_size", "0", "--strip_cjk_spaces", cwd=isolated)
    assert proc.returncode == 0, proc.stderr
    return isolated / "data" / "sft" / "lccc"


def resolve(argv: list[str]):
    plan = make_plan("finetune", build_parser("finetune").parse_args(argv))
    assert validate(plan) == []
    return plan


def replacement_flags(stderr: str) -> list[str]:
    """The flags each refusal line says to pass (``... : pass -m 1 (why)`` -> ``-m 1``)."""
    return [word for line in stderr.splitlines() for word in
            shlex.split(re.search(r": pass (.*?)(?: \(|$)", line).group(1))]


def assert_004_training(plan, steps_per_epoch: int) -> None:
    from nemo.collections.llm.peft import LoRA

    from recipes.hf.recipe import build_recipe

    recipe = build_recipe(plan.opts)
    assert plan.cpu and plan.opts.backend == "hf" and plan.executor == "local"  # 004's CPU mode
    assert recipe.task == "lora" and (recipe.peft.dim, recipe.peft.alpha) == (LORA_R, LORA_ALPHA)
    # The seed names no LoRA dropout: NeMo's LoRA default, read from NeMo's own class.
    assert recipe.peft.dropout == {f.name: f.default for f in dataclasses.fields(LoRA)}["dropout"]
    assert recipe.optim.config.lr == LR_004
    assert (recipe.data.micro_batch_size, recipe.data.global_batch_size) == (MICRO, MICRO * ACCUMULATION)
    assert recipe.trainer.max_steps == EPOCHS * steps_per_epoch


def test_tutorial_004_spellings_are_refused_with_replacements_that_give_its_training(lccc):
    # Every dialogue of 4 turns gives 3 (history -> reply) pairs; 12 whole dialogues go to validation.
    training_rows = (DIALOGUES - VAL_DIALOGUES) * (TURNS - 1)
    assert sum(1 for _ in (lccc / "training.jsonl").open()) == training_rows == 324
    steps_per_epoch = math.ceil(training_rows / (MICRO * ACCUMULATION))  # 21

    common = ["-M", "tiny", "--peft", "lora", "-D", str(lccc), "--dryrun"]
    proc = run_module("recipes.finetune", *TUTORIAL_004, *common, cwd=lccc.parent)
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 5 and all(line.startswith("recipes.finetune: error: --") for line in lines), lines
    assert f"--num_train_epochs 3: pass --max_steps {EPOCHS * steps_per_epoch} " in proc.stderr
    flags = replacement_flags(proc.stderr)
    assert flags == ["--cpu", "--lr", "2e-5", "--max_steps", "63", "-m", "1", "-g", "16"], flags
    assert not (lccc.parent.parent.parent / "results").exists(), "a refusal writes nothing"

    assert_004_training(resolve(flags + common), steps_per_epoch)


def test_tutorial_004_other_values(lccc):
    """004 line 132 (`--learning_rate 1e-5 --num_train_epochs 5`), its data-size flag (line 123), and another
    batch split than line 304's: per-device 2 × 4 accumulation steps = GBS 8, by which the epochs are counted."""
    proc = run_module("recipes.finetune", "--learning_rate", "1e-5", "--num_train_epochs", "5", "--max_samples",
                      "1000", "--per_device_train_batch_size", "2", "--gradient_accumulation_steps", "4",
                      "-M", "tiny", "--cpu", "--peft", "lora", "-D", str(lccc), "--dryrun", cwd=lccc.parent)
    assert proc.returncode == 2
    assert "--learning_rate 1e-5: pass --lr 1e-5" in proc.stderr
    assert f"--num_train_epochs 5: pass --max_steps {5 * math.ceil(324 / 8)} " in proc.stderr
    assert "--gradient_accumulation_steps 4: pass -g 8 " in proc.stderr
    assert "--max_samples 1000: limit the data where it is made: python -m recipes.download lccc --limit 1000" \
        in proc.stderr


@pytest.fixture
def synthetic(isolated):
    """000's data step (line 78: `--generate-data --data-samples 200`), in the project: recipes.synthetic."""
    proc = run_module("recipes.synthetic", "--samples", "200", "--output_dir", "data/sft/synthetic", cwd=isolated)
    assert proc.returncode == 0, proc.stderr
    folder = isolated / "data" / "sft" / "synthetic"
    rows = [json.loads(line) for line in (folder / "training.jsonl").open()]
    assert rows and all(set(row) >= {"input", "output"} for row in rows)
    return folder


def test_tutorial_000_finetune_from_its_nemo_model(synthetic):
    """000 line 119: `nemo_2_example.py --finetune --model-path /path/to/your/pretrained.nemo`: full finetuning
    (no PEFT) restored from that checkpoint (`restore_from_path`, line 111)."""
    ckpt = write_nemo_checkpoint(synthetic.parent.parent.parent / "pretrained")
    with pytest.raises(ValidationErrors) as refused:
        from recipes.launch.entry import main

        main("finetune", ["-M", "1B", "--finetune", "--model-path", "pretrained", "-D", str(synthetic), "--dryrun"])
    assert refused.value.problems[:2] == [
        "--finetune: drop it: python -m recipes.finetune is the finetuning command",
        "--model-path pretrained: pass -n pretrained (the NeMo checkpoint to start from)"]

    from recipes.megatron.recipe import build_recipe

    plan = resolve(["-M", "1B", "-n", "pretrained", "-D", str(synthetic), "--dryrun"])
    recipe = build_recipe(plan.opts)
    assert plan.opts.task == "sft" and not plan.needs_import
    assert recipe.resume.restore_config.path == str(ckpt) and not recipe.resume.restore_config.load_optim_state
    rows = sum(1 for _ in (synthetic / "training.jsonl").open())
    assert recipe.trainer.max_steps == math.ceil(rows / recipe.data.global_batch_size)  # one epoch (max_epochs)


@pytest.mark.parametrize("module,argv", [
    # 000 lines 138-140: `--evaluate --model-path ... --test-file ...`; line 128: `--interactive --model-path ...`.
    ("recipes.evaluate", ["--model-path", "m", "--test-file", "t.jsonl"]),
    ("recipes.chat", ["--model-path", "m"]),
])
def test_tutorial_000_evaluate_and_chat_spellings(isolated, module, argv):
    proc = run_module(module, *argv, cwd=isolated)
    assert proc.returncode == 2, proc.stderr
    wanted = [f"{flag}: spelled {flag.replace('-', '_').replace('__', '--', 1)} here" for flag in argv[::2]]
    assert [line.split(" error: ", 1)[1].split(";")[0] for line in proc.stderr.strip().splitlines()] == wanted
