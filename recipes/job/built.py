"""Build, then override, then validate: the recipe that runs is the recipe that was checked.

:func:`build_and_override` builds the training recipe of a plan, applies the dotted overrides
(typed, :mod:`recipes.config.overrides`) and reads back into the plan the values validation needs, so
``trainer.max_steps=0`` or ``data.paths=/elsewhere`` is checked like ``--max_steps 0`` or ``-D``.
"""

from __future__ import annotations

from recipes import backends
from recipes.config.data_spec import parse_data
from recipes.config.options import flag_fields, optional_int
from recipes.config.overrides import override_problem
from recipes.data.sft_tokens import template_problem
from recipes.job.plan import JobPlan

# RecipeOptions field -> the recipe field(s) holding it (Megatron recipe and small-model recipe alike): the
# fields' own read_back (recipes.config.options.flag), and -D's, which planning resolves into a typed value.
READ_BACK = {**{f.name: f.metadata["read_back"] for f in flag_fields() if f.metadata["read_back"]},
             "dataset_path": ("data.paths", "data.dataset_root")}
# Set by the executor's flags; an override would make the recipe and the job disagree.
FLAG_OWNED = {"trainer.num_nodes": "-N/--num_nodes", "trainer.devices": "-G/--num_gpus",
              "log.log_dir": "--results_dir/-E", "log.explicit_log_dir": "--results_dir/-E"}
# A number read back must be one: the field's type (a float field takes an int too).
NUMBERS = {f.name: f.metadata["argparse"]["type"] for f in flag_fields() if f.metadata["argparse"].get("type") in (int, float)}
NUMBERS.update({f.name: int for f in flag_fields() if f.metadata["argparse"].get("type") is optional_int})
del NUMBERS["val_check_interval"]  # an override may give Lightning's fraction of an epoch (trainer.val_check_interval=0.5)


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
