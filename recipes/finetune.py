"""Finetune a Llama model on a folder of training/validation JSONL: full SFT, LoRA or DoRA.

    python -m recipes.finetune -M tiny -D data/sft --peft lora --max_steps 20               # CPU, local
    python -m recipes.finetune --executor slurm -a ACCT -p batch -N 1 -G 8 -T 2 -g 128 \\
        --max_steps 100 --hf_model_id meta-llama/Llama-3.1-8B-Instruct -D data/alpaca --peft none
"""

import sys

from recipes.core.errors import cli_main
from recipes.launch.entry import main as run_entry


@cli_main("recipes.finetune")
def main(argv=None) -> int:
    return run_entry("finetune", argv)


if __name__ == "__main__":
    sys.exit(main())
