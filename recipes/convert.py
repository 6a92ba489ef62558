"""Convert Llama checkpoints between Hugging Face / Meta format and NeMo 2.

    python -m recipes.conversion.command import --source meta-llama/Llama-3.1-8B --output_path nemo_ckpt/llama31_8b
    python -m recipes.convert export --source <run>/checkpoints/<name>-last --output_path hf_ckpt/<name>

Runs on CPU, with or without Transformer Engine. See docs/convert.md.
"""

import sys

from recipes.conversion.command import main

if __name__ == "__main__":
    sys.exit(main())
