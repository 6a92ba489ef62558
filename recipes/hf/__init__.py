"""Small-model backend: Hugging Face transformers + PEFT trained with Lightning (CPU, one GPU, torchrun DDP).

    recipes.hf.recipe.build_recipe(opts)  RecipeOptions -> nemo_run.Partial(recipes.hf.task.train, ...)
    recipes.hf.config                     the Partial's config sections (dataclasses)
    recipes.hf.task                       the task function (light: the recipe refers to it)
    recipes.hf.fit                        its body on Lightning, loaded by the training process
    recipes.hf.train                      `python -m recipes.hf.train`: a recipe run directly, without NeMo-Run
    recipes.hf.checkpointing              checkpoint layout, auto-resume, REQUEUE_EXIT_CODE
    recipes.hf.inference                  loading trained models for evaluate / chat / merge_lora

Importing this package is cheap; torch, transformers and Lightning load on first use.
"""
