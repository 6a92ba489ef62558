"""A :class:`RecipeOptions` field made with ``flag()`` is its option's one place: the command has the flag,
planning copies its value into the job's options, problems name it by its flags, and its ``read_back``
paths are where both backends' real recipes hold it (so an override there is read back into the job)."""

from __future__ import annotations

import pytest

from recipes.config.options import FP8_RECIPE_NAMES, RecipeOptions, flag_fields, optional_int
from recipes.job import built
from recipes.job.cli import build_parser, flag_names
from recipes.job.plan import Machine, make_plan


def _non_default_argv(entry: str) -> tuple[list[str], dict]:
    """Every flag field of ``entry`` set to a value that is not its default, and the values expected."""
    argv, expected = [], {}
    for f in flag_fields(entry):
        flag, kwargs = f.metadata["flags"][-1], f.metadata["argparse"]
        if kwargs.get("action") == "store_true":
            argv, expected[f.name] = argv + [flag], True
        elif kwargs.get("type") in (int, optional_int):
            argv, expected[f.name] = argv + [flag, "3"], 3
        elif kwargs.get("type") is float:
            argv, expected[f.name] = argv + [flag, "0.25"], 0.25
        elif f.name == "fp8_recipe":
            argv, expected[f.name] = argv + [flag, FP8_RECIPE_NAMES[1]], FP8_RECIPE_NAMES[1]
        else:
            argv, expected[f.name] = argv + [flag, "probe"], "probe"
        assert expected[f.name] != f.default, f.name
    return argv, expected


@pytest.mark.parametrize("entry", ["pretrain", "finetune"])
def test_every_flag_field_is_a_flag_that_reaches_the_job_options(entry, isolated, mmap_prefix, sft_folder):
    actions = {a.dest: a for a in build_parser(entry)._actions}
    fields = flag_fields(entry)
    assert {"seed", "lr", "max_steps", "wandb_name"} <= {f.name for f in fields}
    for f in fields:
        assert actions[f.name].option_strings == list(f.metadata["flags"]), f.name
        assert flag_names(entry)[f.name] == "/".join(f.metadata["flags"])  # how problems name it
    argv, expected = _non_default_argv(entry)
    data = mmap_prefix if entry == "pretrain" else sft_folder
    args = build_parser(entry).parse_args(["-M", "tiny", "-D", str(data), "--backend", "megatron", "--cpu", *argv])
    opts = make_plan(entry, args, Machine()).opts
    assert {name: getattr(opts, name) for name in expected} == expected
    # finetune-only flags are not pretrain's
    assert ("packed_sequence" in actions) == (entry == "finetune")


def _get(recipe, dotted: str):
    node = recipe
    for name in dotted.split("."):
        node = getattr(node, name)
    return node


@pytest.mark.parametrize("backend", ["megatron", "hf"])
def test_read_back_paths_hold_the_option_in_each_backends_recipe(backend, isolated, mmap_prefix):
    """The paths an override is read back from are where the real recipe (NeMo's factory for Megatron, the
    small-model recipe) puts each option's value: a wrong path would read back nothing or the wrong field."""
    from recipes import backends

    values = {"seq_length": 64, "max_steps": 7, "global_batch_size": 6, "micro_batch_size": 3, "lr": 0.25,
              "val_check_interval": 5, "ckpt_every_n_steps": 4}
    if backend == "megatron":  # model parallelism: the Megatron recipe's strategy
        values.update(tensor_model_parallel_size=2, pipeline_model_parallel_size=2, context_parallel_size=2,
                      sequence_parallel=True)
    assert set(values) <= set(built.READ_BACK), "every field probed here declares its read_back paths"
    opts = RecipeOptions(task="pretrain", model="tiny", backend=backend, dataset_path=str(mmap_prefix),
                         num_gpus=8, cpu=backend == "hf", **values)
    recipe = backends.build_recipe(opts)
    for name, value in values.items():
        held = [_get(recipe, path) for path in built.READ_BACK[name] if _has(recipe, path)]
        assert held == [value], (name, built.READ_BACK[name], held)
    missing = [name for name, paths in built.READ_BACK.items() if name not in values and name != "dataset_path"
               and not any(_has(recipe, p) for p in paths)]
    assert backend == "hf" and set(missing) <= {"tensor_model_parallel_size", "pipeline_model_parallel_size",
                                                  "context_parallel_size", "sequence_parallel"} or not missing


def _has(recipe, dotted: str) -> bool:
    try:
        _get(recipe, dotted)
        return True
    except AttributeError:
        return False
