"""recipes.evaluate on bad input: every problem found before the model loads, one line each, exit 2,
no report written; damaged model folders fail with one line naming the flag, never a traceback."""

from __future__ import annotations

import json

import pytest

from bad_inputs_helpers import assert_one_line, models, qa_rows, run_bad, write_jsonl  # noqa: F401
from recipes.evaluation.evaluate import main

PREFIX = "python -m recipes.evaluate: error: "


@pytest.fixture
def work(tmp_path, monkeypatch, models):  # noqa: F811
    monkeypatch.chdir(tmp_path)
    write_jsonl(tmp_path / "test.jsonl", qa_rows(3))
    (tmp_path / "not_json.jsonl").write_text('{"input": "a", "output": "b"}\n{oops\n')
    write_jsonl(tmp_path / "no_output.jsonl", [{"input": "a"}])
    (tmp_path / "numbers.jsonl").write_text("1\n2\n")
    (tmp_path / "empty.jsonl").write_text("\n")
    (tmp_path / "a_file").write_text("x\n")
    (tmp_path / "old.json").write_text('{"old": true}\n')
    return tmp_path


def argv(models, *extra):  # noqa: F811
    return ["--model_path", str(models["model"]), "--test_file", "test.jsonl", "--max_new_tokens", "2",
            "--output", "report.json", *extra]


@pytest.mark.parametrize("extra, needles", [
    (["--max_new_tokens", "0"], ["--max_new_tokens 0", "at least 1"]),
    (["--max_new_tokens", "-1"], ["--max_new_tokens -1"]),
    (["--max_new_tokens", "lots"], ["--max_new_tokens lots", "whole number"]),
    (["--max_new_tokens", "10000000000"], ["--max_new_tokens 10000000000", "at most"]),
    (["--limit", "0"], ["--limit 0", "at least 1"]),
    (["--bleu_tokenize", "klingon"], ["--bleu_tokenize klingon", "13a, zh"]),
    (["--bleu_tokenize", "flores200"], ["--bleu_tokenize flores200"]),  # would download a model
    (["--prompt_template", "Q: {question} {output}"], ["--prompt_template", "no field 'question'"]),
    (["--prompt_template", "{input}"], ["--prompt_template '{input}'", "must contain {output}"]),
    (["--prompt_template", "{input {output}"], ["--prompt_template", "a brace outside a {field} placeholder"]),
    (["--prompt_template", "{input} } {output}"], ["--prompt_template", "a brace outside a {field} placeholder"]),
    (["--prompt_template", "{{x}} {input} {output}"], ["--prompt_template", "a brace outside a {field}"]),
    (["--test_file", "missing.jsonl"], ["--test_file missing.jsonl", "does not exist"]),
    (["--test_file", "."], ["--test_file .", "is a folder"]),
    (["--test_file", "not_json.jsonl"], ["--test_file not_json.jsonl:2: not valid JSON"]),
    (["--test_file", "no_output.jsonl"], ["--test_file no_output.jsonl:1: missing output"]),
    (["--test_file", "numbers.jsonl"], ["--test_file numbers.jsonl", "JSONL objects"]),
    (["--test_file", "empty.jsonl"], ["--test_file", "has no rows"]),
    (["--log_dir", "missing_run"], ["--log_dir", "missing_run is not a directory"]),
    (["--output", "a_file/report.json"], ["--output a_file/report.json", "is a file, not a folder"]),
    (["--output", "."], ["--output . is a folder"]),
    (["--output", "old.json"], ["--output old.json already exists", "--overwrite"]),
    (["--output", "test.jsonl", "--overwrite"], ["--output test.jsonl", "holds an input"]),
    (["--model_path", "."], ["--model_path", "neither a Hugging Face model folder", "nor a NeMo 2 checkpoint"]),
    (["--adapter", "."], ["--adapter", "has no adapter_config.json"]),
    (["--wat"], ["--wat: unknown argument"]),
])
def test_each_bad_argument_is_one_line_and_writes_nothing(work, models, capsys, extra, needles):  # noqa: F811
    line = assert_one_line(run_bad(main, argv(models, *extra), capsys, work), *needles)
    assert line.startswith(PREFIX)


def test_every_problem_is_reported_together(work, models, capsys):  # noqa: F811
    lines = run_bad(main, ["--model_path", "nowhere", "--test_file", "missing.jsonl", "--max_new_tokens", "0",
                           "--limit", "x", "--bleu_tokenize", "?", "--log_dir", "gone", "--output", "a_file/r.json"],
                    capsys, work)
    flags = ["--max_new_tokens", "--limit", "--bleu_tokenize", "--model_path:", "--test_file", "--log_dir:", "--output"]
    assert [line[len(PREFIX):].split()[0] for line in lines] == flags, lines


@pytest.mark.parametrize("broken, flag, needles", [
    ("garbage_config", "--model_path", ["config.json is not valid JSON"]),
    ("unknown_model_type", "--model_path", ["cannot load the model"]),
    ("truncated_weights", "--model_path", ["model.safetensors: truncated", "download or copy it again"]),
    ("half_written", "--model_path", ["config.json but no weights", "download the full model"]),
    ("garbage_adapter_config", "--adapter", ["adapter_config.json is not valid JSON"]),
    ("adapter_without_weights", "--adapter", ["no adapter_model.safetensors", "copy it again"]),
])
def test_damaged_model_folders_are_one_line_naming_the_flag(work, models, capsys, broken, flag, needles):  # noqa: F811
    extra = ["--adapter", str(models[broken])] if flag == "--adapter" else ["--model_path", str(models[broken])]
    line = assert_one_line(run_bad(main, argv(models, *extra), capsys, work), f"{flag}", str(models[broken]), *needles)
    assert line.startswith(PREFIX)


def test_orphan_adapter_as_model_path(work, models, capsys):  # noqa: F811
    line = assert_one_line(run_bad(main, argv(models, "--model_path", str(models["orphan_adapter"])), capsys, work),
                           "--model_path", "the adapter's base model", "not a local HF directory")
    assert line.startswith(PREFIX)


def test_report_is_refused_then_replaced_with_overwrite(work, models, capsys):  # noqa: F811
    assert main(argv(models, "--output", "old.json", "--overwrite")) == 0
    report = json.loads((work / "old.json").read_text())
    assert report["num_samples"] == 3 and "old" not in report
    assert not [p.name for p in work.iterdir() if p.name.startswith(".old.json")]
