"""recipes.chat on bad input: every sampling/length problem and the model folders' file problems reported
together before anything loads; damaged folders are one line naming the flag, never a traceback."""

from __future__ import annotations

import pytest

from bad_inputs_helpers import assert_one_line, models, run_bad  # noqa: F401
from recipes.evaluation.chat import main

PREFIX = "python -m recipes.chat: error: "


def argv(models, *extra):  # noqa: F811
    return ["--model_path", str(models["model"]), "--prompt", "hi", "--max_new_tokens", "2", *extra]


@pytest.mark.parametrize("extra, needles", [
    (["--max_new_tokens", "0"], ["--max_new_tokens 0", "at least 1"]),
    (["--max_new_tokens", "2.5"], ["--max_new_tokens 2.5", "whole number"]),
    (["--max_new_tokens", "99999999999"], ["--max_new_tokens 99999999999", "at most"]),
    (["--temperature", "-1"], ["--temperature -1", "at least 0"]),
    (["--temperature", "nan"], ["--temperature nan", "finite"]),
    (["--temperature", "hot"], ["--temperature hot", "not a number"]),
    (["--top_p", "0"], ["--top_p 0", "above 0"]),
    (["--top_p", "1.5"], ["--top_p 1.5", "at most 1"]),
    (["--top_p", "0.5", "--temperature", "0"], ["--top_p 0.5", "greedy decoding"]),  # would be ignored
    (["--seed", "-1"], ["--seed -1", "at least 0"]),
    (["--seed", "abc"], ["--seed abc", "whole number"]),
    (["--template", "Q: {input"], ["--template 'Q: {input'", "brace twice"]),
    (["--template", "Q: {input} {question}"], ["--template", "unknown field {question}"]),
    (["--prompt", "   "], ["--prompt: empty"]),
    (["--model_path", "nowhere"], ["--model_path: nowhere does not exist", "a NeMo 2 checkpoint"]),
    (["--adapter", "nowhere"], ["--adapter: nowhere", "has no adapter_config.json"]),
    (["--stream"], ["--stream: unknown argument"]),
])
def test_each_bad_argument_is_one_line(tmp_path, models, capsys, extra, needles):  # noqa: F811
    assert assert_one_line(run_bad(main, argv(models, *extra), capsys, tmp_path), *needles).startswith(PREFIX)


def test_every_problem_is_reported_together(tmp_path, models, capsys):  # noqa: F811
    lines = run_bad(main, ["--model_path", "nowhere", "--temperature", "x", "--max_new_tokens", "0", "--seed", "s"],
                    capsys, tmp_path)
    assert [line[len(PREFIX):].split()[0] for line in lines] == \
        ["--temperature", "--max_new_tokens", "--seed", "--model_path:"], lines


@pytest.mark.parametrize("broken, flag, needle", [
    ("garbage_config", "--model_path", "config.json is not valid JSON"),
    ("unknown_model_type", "--model_path", "cannot load the model"),
    ("truncated_weights", "--model_path", "model.safetensors: truncated"),
    ("half_written", "--model_path", "config.json but no weights"),
    ("garbage_adapter_config", "--adapter", "adapter_config.json is not valid JSON"),
    ("adapter_without_weights", "--adapter", "no adapter_model.safetensors"),
])
def test_damaged_model_folders(tmp_path, models, capsys, broken, flag, needle):  # noqa: F811
    path = str(models[broken])
    extra = [flag, path]
    assert_one_line(run_bad(main, argv(models, *extra), capsys, tmp_path), flag, path, needle)


def test_adapter_folders_given_as_model_path(tmp_path, models, capsys):  # noqa: F811
    # The adapter's own folder names the flag the user typed: --model_path.
    assert_one_line(run_bad(main, argv(models, "--model_path", str(models["garbage_adapter_config"])), capsys,
                            tmp_path), "--model_path", "adapter_config.json is not valid JSON")
    assert_one_line(run_bad(main, argv(models, "--model_path", str(models["orphan_adapter"])), capsys, tmp_path),
                    "--model_path", "the adapter's base model", "not a local HF directory")
    assert_one_line(run_bad(main, argv(models, "--model_path", str(models["adapter_without_weights"])), capsys,
                            tmp_path), "--model_path", "no adapter_model.safetensors")


def test_the_real_folders_answer(models, capsys):  # noqa: F811
    assert main(argv(models, "--adapter", str(models["adapter"]), "--temperature", "0")) == 0
    assert main(argv(models, "--top_p", "0.5", "--temperature", "1")) == 0
