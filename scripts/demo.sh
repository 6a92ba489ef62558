#!/usr/bin/env bash
# The built-in main job, end to end on the defaults: tiny Llama, bundled data, local executor.
#
#   bash scripts/demo.sh
#
# sets up .venv (idempotent), then through the project's CLI and NeMo-Run's local executor:
#   1. bundled sample text -> Megatron mmap (.bin/.idx)         python -m recipes.preprocess
#   2. bundled instructions -> training/validation/test.jsonl    python -m recipes.prepare_sft
#   3. continual pretraining of the tiny Llama on the mmap data  python -m recipes.pretrain
#   4. LoRA finetuning of that model on the instructions         python -m recipes.finetune
#   5. evaluation on the test split (BLEU, EM, latency, plot)    python -m recipes.evaluate
#   6. one chat answer                                           python -m recipes.chat
# It uses a GPU when one is present (the small-model backend runs on CPU or GPU).
# Environment: DEMO_DIR (default ./demo), DEMO_STEPS (training steps per stage, default 40).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
# shellcheck disable=SC1091
source .venv/bin/activate

DEMO=$(python -c 'import os,sys; print(os.path.abspath(sys.argv[1]))' "${DEMO_DIR:-demo}")
STEPS=${DEMO_STEPS:-40}
export NEMORUN_HOME=${NEMORUN_HOME:-$DEMO/nemorun_home}
RESULTS=$DEMO/results
step() { printf '\n==> %s\n' "$*"; }

step "1/6 preprocess the bundled corpus to Megatron mmap"
python -m recipes.preprocess --input recipes/data/sample/pretrain_zh_en.jsonl \
  --output-prefix "$DEMO/data/sample" --append-eod
step "2/6 prepare the finetuning splits"
python -m recipes.prepare_sft --input recipes/data/sample/instructions.jsonl \
  --output_dir "$DEMO/data/sft" --val_size 40 --test_size 20 --seed 1 --overwrite
step "3/6 continual pretraining of the tiny Llama ($STEPS steps)"
python -m recipes.pretrain -M tiny --backend hf -E demo_pretrain -D "$DEMO/data/sample_text_document" \
  --max_steps "$STEPS" --results_dir "$RESULTS" --yes
step "4/6 LoRA finetuning on the sample instructions ($STEPS steps)"
python -m recipes.finetune -M tiny --backend hf -E demo_lora --peft lora -D "$DEMO/data/sft" \
  --hf_model_id "$RESULTS/demo_pretrain/hf_model" --max_steps "$STEPS" --results_dir "$RESULTS" --yes
step "5/6 evaluate on the test split"
python -m recipes.evaluate --model_path "$RESULTS/demo_pretrain/hf_model" --adapter "$RESULTS/demo_lora/hf_adapter" \
  --test_file "$DEMO/data/sft/test.jsonl" --log_dir "$RESULTS/demo_lora" --max_new_tokens 16 --overwrite
step "6/6 chat"
python -m recipes.chat --model_path "$RESULTS/demo_pretrain/hf_model" --adapter "$RESULTS/demo_lora/hf_adapter" \
  --prompt "What is 2 + 3?" --max_new_tokens 16

cat <<TXT

Artifacts:
  pretraining data     $DEMO/data/sample_text_document.{bin,idx}
  finetuning splits    $DEMO/data/sft/{training,validation,test}.jsonl
  pretrained model     $RESULTS/demo_pretrain/hf_model   (checkpoints: $RESULTS/demo_pretrain/checkpoints)
  LoRA adapter         $RESULTS/demo_lora/hf_adapter      (checkpoints: $RESULTS/demo_lora/checkpoints)
  evaluation report    $RESULTS/demo_lora/eval/report.json (+ loss-curve PNG beside it)
  TensorBoard logs     $RESULTS/*/tb_logs
  NeMo-Run records     $NEMORUN_HOME/experiments
TXT
