"""Build, then override, then validate: the recipe that runs is the recipe that was checked.

:func:`build_and_override` builds the training recipe of a plan, applies the dotted overrides
(typed, :mod:`recipes.spec.overrides`) and reads back into the plan the values validation needs, so
``trainer.max_steps=0`` or ``data.paths=/elsewhere`` is checked like ``--max_steps 0`` or ``-D``.
"""

from __future__ import annotations

from recipes import backends
from recipes.data.sft_tokens import template_problem
from recipes.job.plan import JobPlan
from recipes.spec.data_spec import parse_data
from recipes.spec.overrides import override_problem

# RecipeOptions field -> the recipe field(s) holding it (Megatron recipe and small-model recipe alike).
READ_BACK = {
    "max_steps": ("trainer.max_steps",), "val_check_interval": ("trainer.val_check_interval",),
    "micro_batch_size": ("data.micro_batch_size",), "global_batch_size": ("data.global_batch_size",),
    "seq_length": ("data.seq_length",), "lr": ("optim.config.lr",),
    "tensor_model_parallel_size": ("trainer.strategy.tensor_model_parallel_size",),
    "pipeline_model_parallel_size": ("trainer.strategy.pipeline_model_parallel_size",),
    "context_parallel_size": ("trainer.strategy.context_parallel_size",),
    "sequence_parallel": ("trainer.strategy.sequence_parallel",),
    "ckpt_every_n_steps": ("log.ckpt.every_n_train_steps",),
    "dataset_path": ("data.paths", "data.dataset_root"),
}
# Set by the executor's flags; an override would make the recipe and the job disagree.
FLAG_OWNED = {"trainer.num_nodes": "-N/--num_nodes", "trainer.devices": "-G/--num_gpus",
              "log.log_dir": "--results_dir/-E", "log.explicit_log_dir": "--results_dir/-E"}
NUMBERS = {"max_steps": int, "micro_batch_size": int, "global_batch_size": int, "seq_length": int, "lr": float,
           "tensor_model_parallel_size": int, "pipeline_model_parallel_size": int, "context_parallel_size": int}


def _get(recipe, dotted: str):
    node = recipe
    for name in dotted.split("."):
        node = getattr(node, name, None)
    return node


def build_and_override(plan: JobPlan) -> list[str]:
    """Build ``plan.recipe`` with its overrides; problems (one line each) instead of exceptions."""
    try:
        plan.recipe = backends.build_recipe(plan.opts)
    except Exception:  # noqa: BLE001 - bad options: validation names them; run_plan rebuilds and reports the rest
        return []
    problems = []
    for item in plan.overrides:
        key = item.partition("=")[0]
        owner = next((flag for field, flag in FLAG_OWNED.items() if key == field or key.startswith(field + ".")), None)
        problem = f"override {item!r}: set by {owner}; use that flag" if owner else override_problem(plan.recipe, item)
        if problem:
            problems.append(problem)
        else:
            problems += _read_back(plan, key, item)
    return problems


def _read_back(plan: JobPlan, key: str, item: str) -> list[str]:
    if key == "data.prompt_template":  # the small-model backend's; checked here, not when the job tokenizes

        problem = template_problem(str(_get(plan.recipe, key)))
        return [f"override {item!r}: {problem}"] if problem else []
    for field, paths in READ_BACK.items():
        path = next((p for p in paths if key == p or p.startswith(key + ".")), None)
        if path is None:
            continue
        value = _get(plan.recipe, path)
        plan.overridden[field] = item
        if field == "dataset_path":
            plan.data, problems = parse_data(plan.opts.task, value)
            plan.opts.dataset_path, plan.opts.data = (plan.data.spec if plan.data else None), plan.data
            return [f"override {item!r}: {p}" for p in problems]
        kind = NUMBERS.get(field)
        if kind and (not isinstance(value, (int, float)) or isinstance(value, bool) or (kind is int and
                                                                                         not isinstance(value, int))):
            return [f"override {item!r}: expected {kind.__name__}, got {value!r}"]
        setattr(plan.opts, field, value)
    return []
