"""python -m recipes.preprocess: JSONL / parquet -> Megatron mmap .bin/.idx (flags as Megatron-LM/NeMo).

Output equals core_v0.15.3 Megatron-LM ``tools/preprocess_data.py`` (the pinned megatron-core's tag) for
the same flags: no BOS. ``--tokenizer-hf-include-special-tokens`` and ``--legacy-tokenizer`` add BOS as
core_v0.16's tool does (the pinned tool has neither working; docs/data.md). Example (the
tutorial command; the tokenizer must be in the HF cache, nothing is downloaded):

    python -m recipes.preprocess --input=data/custom_dataset/json/wikinews-zhtw.jsonl --json-keys=text         --dataset-impl mmap --tokenizer-library=huggingface --tokenizer-type meta-llama/Llama-3.1-8B-Instruct         --output-prefix=data/custom_dataset/preprocessed/wikinews --append-eod

On a Slurm cluster (a one-task CPU job through NeMo-Run; prints ``submitted slurm job <id> (preprocess)``):

    python -m recipes.preprocess --executor slurm -a ACCOUNT -p batch --detach         --input=/data/wikinews.jsonl --output-prefix=/data/preprocessed/wikinews --append-eod
"""

import sys

from recipes.preprocessing.command import main

if __name__ == "__main__":
    sys.exit(main())
