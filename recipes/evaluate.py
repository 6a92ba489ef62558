"""Evaluate a finetuned model on a test.jsonl: BLEU, exact match, response length, latency, label metrics.

    python -m recipes.evaluate --model_path RUN/hf_model --test_file data/sft/test.jsonl --log_dir RUN

``--model_path`` may also be a NeMo 2 checkpoint (full or LoRA): it is exported to a temporary HF folder first.

Writes a JSON report (``--output``) and, with ``--log_dir``, a PNG of the run's training/validation loss.
"""

import sys

from recipes.evaluation.evaluate import main

if __name__ == "__main__":
    sys.exit(main())
