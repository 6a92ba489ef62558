"""python -m recipes.pipeline: raw text to a finetuned, exported, evaluated model, one resumable command.

    python -m recipes.pipeline recipes/pipelines/demo.yaml                       # the CPU demo
    python -m recipes.pipeline recipes/pipelines/tutorial.yaml --dryrun          # the tutorial, printed
    python -m recipes.pipeline recipes/pipelines/demo.yaml finetune.max_steps=50 # a changed stage reruns

Stages, in this order, any subset: preprocess, prepare_sft, import, pretrain, finetune, export (or
merge_lora), evaluate, chat. Each stage's options are its command's options (``python -m
recipes.<command> --help``), checked by that command before anything runs. Each finished stage writes
a manifest; a rerun skips the stages whose manifest still matches and reruns a changed stage and
everything after it. Locally the stages run in order; on Slurm (``--executor slurm``) they are
submitted at once as one NeMo-Run experiment, each job with its own resources, chained by afterok.
"""

import sys

from recipes.pipelines.command import main

if __name__ == "__main__":
    sys.exit(main())
