"""Chat with a trained model: an interactive REPL, or one answer with ``--prompt``.

    python -m recipes.chat --model_path RUN/hf_base --adapter RUN/hf_adapter --prompt "What is 2 plus one?"

``--model_path`` may also be a NeMo 2 checkpoint (full or LoRA): it is exported to a temporary HF folder first.

REPL commands: ``/reset`` forgets the conversation, ``/exit`` (or Ctrl-D) quits. The tokenizer's
chat template is used when it has one (instruct models); otherwise the conversation is written as
``prepare_sft --template`` writes a dialogue's input and tokenized like the training rows
(recipes.data.sft_tokens), so the prompt is the one the model was finetuned on.
"""

import sys

from recipes.evaluation.chat import main

if __name__ == "__main__":
    sys.exit(main())
