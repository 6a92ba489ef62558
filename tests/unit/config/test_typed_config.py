"""One typed job description: -D parsed once, overrides typed and applied before validation,
executors/ standing alone.
"""

import os
import subprocess
import sys

import pytest

from recipes import finetune, pretrain
from recipes.config.data_spec import MmapBlend, MockData, SFTFolder
from recipes.job.cli import build_parser
from recipes.job.plan import auto_mounts, make_plan
from testlib import REPO, run_module

MEG = ["--executor", "slurm", "-a", "acct", "--packager", "none", "-M", "tiny", "--dryrun"]


def plan_of(entry, argv):
    return make_plan(entry, build_parser(entry).parse_args(argv))


def test_dataset_path_is_parsed_once_into_a_typed_value(isolated, mmap_prefix, sft_folder):
    folder = mmap_prefix.parent
    plan = plan_of("pretrain", ["-D", str(folder)])
    assert plan.data == MmapBlend(((1.0, str(mmap_prefix)),)) and plan.opts.dataset_path == str(mmap_prefix)
    plan = plan_of("pretrain", ["-D", f"3 {mmap_prefix}.bin 1 {mmap_prefix}", "-i", "img"])
    assert plan.data.pairs == ((0.75, str(mmap_prefix)), (0.25, str(mmap_prefix)))  # weights normalised by hand
    assert f"{folder}:{folder}" in plan.settings.container_mounts  # mounts come from the same value
    assert plan_of("pretrain", ["--mock_data"]).data == MockData()
    assert plan_of("finetune", ["-D", str(sft_folder)]).data == SFTFolder(str(sft_folder))
    assert auto_mounts(plan) == plan.settings.container_mounts


def test_megatron_recipe_overrides_are_typed(isolated, sft_folder, capfd):
    argv = MEG + ["-D", str(sft_folder), "--peft", "lora", "peft.dim=abc", "trainer.max_steps=2.5", "optim.config.lr=0.001"]
    assert finetune.main(argv) == 2
    errors = [e.split("error: ")[1] for e in capfd.readouterr().err.splitlines() if "error: " in e]
    assert errors == ["override 'peft.dim=abc': expected int; e.g. peft.dim=<value> (see --dryrun for the field)",
                      "override 'trainer.max_steps=2.5': expected int; e.g. trainer.max_steps=<value> "
                      "(see --dryrun for the field)"]


def test_megatron_override_values_are_validated_like_flags(isolated, capfd):
    argv = MEG + ["--mock_data", "-G", "8", "trainer.strategy.tensor_model_parallel_size=3", "data.micro_batch_size=0"]
    assert pretrain.main(argv) == 2
    errors = [e.split("error: ")[1] for e in capfd.readouterr().err.splitlines() if "error: " in e]
    assert errors[0].startswith("override 'data.micro_batch_size=0': 0 must be >= 1"), errors
    assert pretrain.main(MEG + ["--mock_data", "-G", "8", "trainer.strategy.tensor_model_parallel_size=3"]) == 2
    assert "TP×PP×CP = 3 does not divide nodes×GPUs = 8" in capfd.readouterr().err


def test_an_accepted_override_is_in_the_printed_recipe(tmp_path):
    env = {"NEMORUN_HOME": str(tmp_path / "home"), "RECIPES_SITE_CONFIG": os.devnull,
           "RECIPES_RESULTS_DIR": str(tmp_path / "results")}
    proc = run_module("recipes.pretrain", *MEG, "--mock_data", "-G", "8",
                      "trainer.strategy.tensor_model_parallel_size=2", env=env, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "tensor_model_parallel_size: 2" in proc.stdout


def test_executors_import_nothing_from_recipes():
    code = ("import sys, executors, executors.site, executors.slurm, executors.local, executors.docker, "
            "executors.torchrun\nprint(sorted(m for m in sys.modules if m.split('.')[0] == 'recipes'))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO).stdout
    assert out.strip() == "[]"


@pytest.mark.parametrize("bad", ["trainer.max_steps=abc", "data.global_batch_size=[1]"])
def test_small_model_overrides_are_typed_too(bad, isolated, mmap_prefix, capfd):
    argv = ["-M", "tiny", "--backend", "hf", "--cpu", "-D", str(mmap_prefix), "--dryrun", bad]
    assert pretrain.main(argv) == 2
    assert f"override '{bad}': expected int" in capfd.readouterr().err


def test_union_annotations_accept_their_members(tmp_path):
    """`precision: str | None` (a PEP 604 union) takes a string and None; `devices: int` refuses text."""
    from recipes.hf.recipe import build_recipe
    from recipes.config.options import RecipeOptions
    from recipes.config.overrides import override_problems

    recipe = build_recipe(RecipeOptions(task="pretrain", model="tiny", backend="hf", results_dir=str(tmp_path),
                                        dataset_path=str(tmp_path), num_gpus=1, global_batch_size=1))
    assert override_problems(recipe, ["trainer.precision=32-true"]) == [] and recipe.trainer.precision == "32-true"
    assert override_problems(recipe, ["trainer.precision=None"]) == [] and recipe.trainer.precision is None
    assert override_problems(recipe, ["trainer.devices=two"]) == [
        "override 'trainer.devices=two': expected int; e.g. trainer.devices=<value> (see --dryrun for the field)"]
