"""Continual pretraining (or from scratch) of a Llama model on Megatron mmap data.

    python -m recipes.pretrain -M tiny -D data/sample_text_document --max_steps 20          # CPU, local
    python -m recipes.pretrain --executor torchrun -G 8 -D /data/wiki_text_document         # one 8-GPU box
    python -m recipes.pretrain --executor slurm -a ACCT -p batch -i nvcr.io/nvidia/nemo:26.02 \\
        -N 2 -G 8 -D /data/wiki_text_document --dryrun                                        # see the sbatch script
"""

import sys

from recipes.core.errors import cli_main
from recipes.launch.entry import main as run_entry


@cli_main("recipes.pretrain")
def main(argv=None) -> int:
    return run_entry("pretrain", argv)


if __name__ == "__main__":
    sys.exit(main())
