#!/usr/bin/env bash
# The built-in main job, end to end on the defaults: tiny Llama, bundled data, local executor.
#
#   bash scripts/demo.sh
#
# sets up .venv (idempotent), then through the project's CLI and NeMo-Run's local executor teaches the
# tiny Llama (2 layers, hidden 64, random start) a small learnable task, English -> Chinese words
# (recipes/data/sample/translate_*.jsonl, made by scripts/make_sample_data.py), and shows that it learned:
#   1. pretraining text -> Megatron mmap (.bin/.idx)                      python -m recipes.preprocess
#   2. instructions -> training/validation.jsonl                          python -m recipes.prepare_sft
#   3. the untrained model on the held-out prompts (the baseline)         python -m recipes.evaluate
#   4. pretraining of the tiny Llama on the text                          python -m recipes.pretrain
#   5. LoRA finetuning of that model on the instructions                  python -m recipes.finetune
#   6. the trained model on the same held-out prompts, beside the baseline python -m recipes.evaluate
#   7. one chat answer to a held-out prompt                               python -m recipes.chat
# Held-out prompts use wordings that appear in no training file. Expect the loss to fall from ~11.8
# to below 1 and exact match to rise from 0 to near 1 (BLEU is reported too, but one- and two-character
# answers have no 4-grams, so it stays 0: exact match is the measure here); ~5 minutes on 2 CPU cores.
# Environment: DEMO_DIR (default ./results/demo, ignored by git), DEMO_STEPS (pretraining steps, 300),
# DEMO_LORA_STEPS (100), NEMORUN_HOME (default DEMO_DIR/nemorun_home).
set -euo pipefail
cd "$(dirname "$0")/.."
started=$SECONDS
bash scripts/setup.sh
# shellcheck disable=SC1091
source .venv/bin/activate

DEMO=$(python -c 'import os,sys; print(os.path.abspath(sys.argv[1]))' "${DEMO_DIR:-results/demo}")
STEPS=${DEMO_STEPS:-300}
LORA_STEPS=${DEMO_LORA_STEPS:-100}
export NEMORUN_HOME=${NEMORUN_HOME:-$DEMO/nemorun_home}
RESULTS=$DEMO/results
SAMPLE=recipes/data/sample
HELDOUT=$SAMPLE/translate_heldout.jsonl
EVAL=$RESULTS/demo_lora/eval
step() { printf '\n==> %s\n' "$*"; }

step "1/7 preprocess the pretraining text to Megatron mmap"
python -m recipes.preprocess --input $SAMPLE/translate_pretrain.jsonl --output-prefix "$DEMO/data/translate" --append-eod \
  --overwrite
step "2/7 prepare the finetuning splits"
python -m recipes.prepare_sft --input $SAMPLE/translate_instructions.jsonl --output_dir "$DEMO/data/sft" \
  --val_size 24 --test_size 0 --seed 1 --overwrite
step "3/7 baseline: the untrained tiny Llama (the pretraining's starting weights) on the held-out prompts"
python - "$DEMO/untrained" <<'PY'
import sys

from recipes.hf.config import ModelConfig
from recipes.hf.modeling import build_model, load_tokenizer_for

model = ModelConfig(name="tiny")  # seed 1234: the --seed default, so the very weights pretraining starts from
build_model(model, seed=1234).save_pretrained(sys.argv[1])
load_tokenizer_for(model).save_pretrained(sys.argv[1])
PY
python -m recipes.evaluate --model_path "$DEMO/untrained" --test_file $HELDOUT --max_new_tokens 6 \
  --output "$EVAL/baseline.json" --overwrite >/dev/null
step "4/7 pretraining of the tiny Llama ($STEPS steps)"
python -m recipes.pretrain -M tiny --backend hf -E demo_pretrain -D "$DEMO/data/translate_text_document" \
  --max_steps "$STEPS" -g 2 -s 128 --lr 3e-3 --results_dir "$RESULTS" --yes
step "5/7 LoRA finetuning on the instructions ($LORA_STEPS steps)"
python -m recipes.finetune -M tiny --backend hf -E demo_lora --peft lora -D "$DEMO/data/sft" \
  --hf_model_id "$RESULTS/demo_pretrain/hf_model" --max_steps "$LORA_STEPS" -g 8 -s 32 --lr 5e-3 \
  --results_dir "$RESULTS" --yes
step "6/7 evaluate on the held-out prompts, beside the baseline"
python -m recipes.evaluate --model_path "$RESULTS/demo_pretrain/hf_model" --adapter "$RESULTS/demo_lora/hf_adapter" \
  --test_file $HELDOUT --max_new_tokens 6 --log_dir "$RESULTS/demo_lora" --plot_runs "$RESULTS/demo_pretrain" \
  --baseline "$EVAL/baseline.json" --output "$EVAL/report.json" --overwrite
step "7/7 chat (a held-out prompt)"
python -m recipes.chat --model_path "$RESULTS/demo_pretrain/hf_model" --adapter "$RESULTS/demo_lora/hf_adapter" \
  --prompt "The word in Chinese: cat" --max_new_tokens 6

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
Summary: the tiny Llama (2 layers, hidden 64, random start) learned English -> Chinese words in {seconds // 60}m{seconds % 60:02d}s
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
  untrained model      $DEMO/untrained
  pretrained model     $RESULTS/demo_pretrain/hf_model   (checkpoints, metrics.jsonl, tb_logs beside it)
  LoRA adapter         $RESULTS/demo_lora/hf_adapter
  evaluation           $EVAL/report.json, baseline.json, report.png (both loss curves)
  status               NEMORUN_HOME=$NEMORUN_HOME python -m recipes.status
TXT
