#!/usr/bin/env bash
# The built-in main job, end to end on the defaults: tiny Llama, bundled data, local executor.
#
#   bash scripts/demo.sh
#
# sets up .venv (idempotent), then runs ONE pipeline, recipes/pipelines/demo.yaml, through the project's CLI
# (python -m recipes.pipeline), which teaches the tiny Llama (2 layers, hidden 64, random start) a small
# learnable task, English -> Chinese words (recipes/data/sample/translate_*.jsonl, made by
# scripts/make_sample_data.py), and shows that it learned. Its stages, each its own command's options:
#   1. pretraining text -> Megatron mmap (.bin/.idx)                       recipes.preprocess
#   2. instructions -> training/validation.jsonl                           recipes.prepare_sft
#   3. pretraining of the tiny Llama on the text                           recipes.pretrain
#   4. LoRA finetuning of that model on the instructions                   recipes.finetune
#   5. the untrained model (the baseline) and the trained one on held-out prompts, side by side  recipes.evaluate
#   6. one chat answer to a held-out prompt                                recipes.chat
# Held-out prompts use wordings that appear in no training file. Expect the loss to fall from ~11.8
# to below 1 and exact match to rise from 0 to near 1 (BLEU is reported too, but one- and two-character
# answers have no 4-grams, so it stays 0: exact match is the measure here); ~5 minutes on 2 CPU cores.
# A second run skips the stages that are up to date (their manifests in DEMO_DIR/pipeline).
# Environment: DEMO_DIR (default ./results/demo, ignored by git), DEMO_STEPS (pretraining steps, 300),
# DEMO_LORA_STEPS (100), NEMORUN_HOME (default DEMO_DIR/nemorun_home).
set -euo pipefail
cd "$(dirname "$0")/.."
started=$SECONDS
bash scripts/setup.sh
# shellcheck disable=SC1091
source .venv/bin/activate

DEMO_DIR=$(python -c 'import os,sys; print(os.path.abspath(sys.argv[1]))' "${DEMO_DIR:-results/demo}")
export DEMO_DIR
export NEMORUN_HOME=${NEMORUN_HOME:-$DEMO_DIR/nemorun_home}
DEMO=$DEMO_DIR
RESULTS=$DEMO/results
HELDOUT=recipes/data/sample/translate_heldout.jsonl
EVAL=$RESULTS/demo_lora/eval

python -m recipes.pipeline recipes/pipelines/demo.yaml --yes

python - "$RESULTS" "$EVAL" $((SECONDS - started)) <<'PY'
import json
import sys
from pathlib import Path

from recipes.hf.metrics import load_curves

results, evals, seconds = Path(sys.argv[1]), Path(sys.argv[2]), int(sys.argv[3])
report, base = (json.loads((evals / name).read_text()) for name in ("report.json", "baseline.json"))


def loss(run):
    points = load_curves(results / run)["train_loss"]
    return f"{points[0][1]:.2f} -> {points[-1][1]:.2f} over {points[-1][0]} steps"


print(f"""
Summary: the tiny Llama (2 layers, hidden 64, random start) learned English -> Chinese words (this run: {seconds // 60}m{seconds % 60:02d}s)
  training loss     pretraining {loss('demo_pretrain')}; LoRA {loss('demo_lora')}
  held-out prompts  {report['num_samples']} (wordings never seen in training)   untrained -> trained
    exact match     {base['exact_match']:.2f} -> {report['exact_match']:.2f}
    answer tokens   {base['mean_response_tokens']:.1f} -> {report['mean_response_tokens']:.1f} (the untrained model never stops)
  e.g. {report['samples'][0]['input']!r} -> {report['samples'][0]['prediction']!r} (expected {report['samples'][0]['reference']!r})""")
PY

cat <<TXT

Artifacts (all under $DEMO, ignored by git):
  pretraining data     $DEMO/data/translate_text_document.{bin,idx}
  finetuning splits    $DEMO/data/sft/{training,validation}.jsonl   held-out prompts: $HELDOUT
  untrained model      $DEMO/pipeline/untrained_tiny
  stage manifests      $DEMO/pipeline/*.json   (a rerun skips what is up to date)
  pretrained model     $RESULTS/demo_pretrain/hf_model   (checkpoints, metrics.jsonl, tb_logs beside it)
  LoRA adapter         $RESULTS/demo_lora/hf_adapter
  evaluation           $EVAL/report.json, baseline.json, report.png (both loss curves)
  status               NEMORUN_HOME=$NEMORUN_HOME python -m recipes.status demo
TXT
