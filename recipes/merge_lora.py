"""Merge a LoRA/DoRA adapter into its base model: a standalone Hugging Face model directory.

    python -m recipes.merge_lora --base RUN/hf_base --adapter RUN/hf_adapter --output_path RUN/hf_merged

The merged model is written to a temporary sibling directory and renamed into place when complete.
"""

import sys

from recipes.hf.merge_lora import main

if __name__ == "__main__":
    sys.exit(main())
