"""recipes.merge_lora on bad input: --base/--adapter/--output_path problems together, one line each naming the
right flag, exit 2, nothing written; a failure during the merge leaves no folder behind."""

from __future__ import annotations

import pytest

from bad_inputs_helpers import assert_one_line, models, run_bad, snapshot  # noqa: F401
from recipes.hf.merge_lora import main

PREFIX = "python -m recipes.merge_lora: error: "


def argv(models, out="merged", *extra):  # noqa: F811
    return ["--base", str(models["model"]), "--adapter", str(models["adapter"]), "--output_path", str(out), *extra]


@pytest.fixture
def work(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "a_file").write_text("x\n")
    (tmp_path / "taken").mkdir()
    (tmp_path / "taken" / "keep.txt").write_text("mine\n")
    return tmp_path


@pytest.mark.parametrize("change, needles", [
    ({"--base": "nowhere"}, ["--base: nowhere", "not a Hugging Face model directory"]),
    ({"--adapter": "nowhere"}, ["--adapter: nowhere", "has no adapter_config.json"]),
    ({"--output_path": "a_file/merged"}, ["--output_path a_file/merged", "is a file, not a folder"]),
    ({"--output_path": "a_file"}, ["--output_path a_file is a file"]),
    ({"--output_path": "taken"}, ["--output_path taken already exists", "--overwrite"]),
])
def test_each_bad_path_is_one_line_naming_its_flag(work, models, capsys, change, needles):  # noqa: F811
    args = argv(models)
    for flag, value in change.items():
        args[args.index(flag) + 1] = value
    assert assert_one_line(run_bad(main, args, capsys, work), *needles).startswith(PREFIX)


def test_output_inside_an_input_is_refused_even_with_overwrite(work, models, capsys):  # noqa: F811
    assert_one_line(run_bad(main, argv(models, models["adapter"], "--overwrite"), capsys, work.parent),
                    "--output_path", "holds an input")


def test_every_problem_is_reported_together(work, models, capsys):  # noqa: F811
    lines = run_bad(main, ["--base", "b", "--adapter", "a", "--output_path", "a_file/m", "--zap"], capsys, work)
    assert [line[len(PREFIX):].split()[0] for line in lines] == ["--zap:", "--base:", "--adapter:", "--output_path"]


@pytest.mark.parametrize("broken, flag, needle", [
    ("garbage_config", "--base", "config.json is not valid JSON"),
    ("unknown_model_type", "--base", "cannot load the model"),
    ("truncated_weights", "--base", "model.safetensors: truncated"),
    ("half_written", "--base", "config.json but no weights"),
    ("garbage_adapter_config", "--adapter", "adapter_config.json is not valid JSON"),
    ("adapter_without_weights", "--adapter", "no adapter_model.safetensors"),
])
def test_damaged_folders_name_the_right_flag_and_leave_nothing(work, models, capsys, broken, flag, needle):  # noqa: F811
    args = argv(models, "new/merged")
    args[args.index(flag) + 1] = str(models[broken])
    assert_one_line(run_bad(main, args, capsys, work), flag, str(models[broken]), needle)
    assert not (work / "new").exists()


def test_a_failed_save_leaves_no_folder_and_overwrite_keeps_the_old_one_until_done(work, models, monkeypatch):  # noqa: F811
    from pathlib import Path

    from transformers import PreTrainedModel

    from recipes.hf.merge_lora import merge

    def half_then_full_disk(self, folder, *args, **kwargs):
        (Path(folder) / "config.json").write_text("{}")  # a first file lands, then the disk is full
        raise OSError(28, "No space left on device")

    before = snapshot(work)
    with monkeypatch.context() as patch:
        patch.setattr(PreTrainedModel, "save_pretrained", half_then_full_disk)
        with pytest.raises(OSError):
            merge(str(models["model"]), str(models["adapter"]), "new/merged")
        with pytest.raises(OSError):
            merge(str(models["model"]), str(models["adapter"]), "taken", overwrite=True)
    assert snapshot(work) == before  # the old output is intact, no temporary, no parents
    assert merge(str(models["model"]), str(models["adapter"]), "taken", overwrite=True).name == "taken"
    assert (work / "taken/config.json").is_file() and not (work / "taken/keep.txt").exists()
    assert sorted(p.name for p in work.iterdir()) == ["a_file", "taken"]
