"""recipes.prepare_sft on bad input: exit 2, one line per problem naming the flag or file, nothing written."""

from __future__ import annotations

import gzip
import json

import pytest

from bad_inputs_helpers import assert_one_line, qa_rows, run_bad, snapshot, write_jsonl
from recipes.data.prepare_sft import main

PREFIX = "recipes.prepare_sft: error: "


@pytest.fixture
def work(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    write_jsonl(tmp_path / "ok.jsonl", qa_rows())
    (tmp_path / "a_file").write_text("not a folder\n")
    (tmp_path / "a_folder").mkdir()
    (tmp_path / "rows.jsonl.gz").write_bytes(gzip.compress((tmp_path / "ok.jsonl").read_bytes()))
    return tmp_path


@pytest.mark.parametrize("args, needles", [
    (["--input", "missing.jsonl"], ["--input missing.jsonl", "does not exist"]),
    (["--input", "a_folder"], ["--input a_folder", "is a folder"]),
    (["--input", "rows.jsonl.gz"], ["--input rows.jsonl.gz", "no usable rows (invalid UTF-8"]),
    (["--val_size", "abc"], ["--val_size abc", "fraction in [0, 1)"]),
    (["--val_size", "nan"], ["--val_size nan"]),
    (["--test_size", "-0.1"], ["--test_size -0.1"]),
    (["--val_size", "1e300"], ["--val_size 1e300", "too large"]),
    (["--val_size", "25", "--test_size", "5"], ["--val_size 25 / --test_size 5: 25 + 5 of 30"]),
    (["--max_turns", "0"], ["--max_turns 0", "at least 1"]),
    (["--max_turns", "two"], ["--max_turns two", "whole number"]),
    (["--max_tokens", "-3"], ["--max_tokens -3", "at least 1"]),
    (["--seed", "1.5"], ["--seed 1.5", "whole number"]),
    (["--seed", "-1"], ["--seed -1", "at least 0"]),  # random.Random(-1) is Random(1): two seeds, one split
    (["--tokenizer", "llama3"], ["--tokenizer llama3", "only used by --max_tokens"]),
    (["--template", "nothing"], ["--template 'nothing'", "choose plain, alpaca, llama3"]),
    (["--template", "Q: {input} {question}"], ["--template", "unknown field {question}"]),
    (["--template", "Q: {input}\\nA: {"], ["--template 'Q: {input}\\nA: {'", "Single '{'", "brace twice"]),
    (["--template", "Q: {input"], ["--template 'Q: {input'", "expected '}'", "brace twice"]),
    (["--template", "Q: {input}}"], ["--template 'Q: {input}}'", "Single '}'", "brace twice"]),
    (["--template", "Q: {input!r}"], ["--template", "unknown field {input!r}"]),
    (["--output_dir", "a_file/out"], ["--output_dir a_file/out", "is a file, not a folder"]),
    (["--output_dir", "a_file"], ["--output_dir a_file is a file"]),
    (["--output_dir", ".", "--overwrite"], ["--output_dir .", "holds an input"]),
    (["--frobnicate"], ["--frobnicate: unknown argument"]),
])
def test_each_bad_input_is_one_line_and_writes_nothing(work, capsys, args, needles):
    argv = ["--input", "ok.jsonl", "--output_dir", "out", *args]
    line = assert_one_line(run_bad(main, argv, capsys, work), *needles)
    assert line.startswith(PREFIX)
    assert not (work / "out").exists()


def test_every_problem_is_reported_together(work, capsys):
    argv = ["--input", "ok.jsonl", "missing.jsonl", "a_folder", "--output_dir", "a_file/deeper/out",
            "--val_size", "nan", "--test_size", "x", "--max_turns", "0", "--max_tokens", "0", "--seed", "s",
            "--template", "{question}", "--bogus"]
    lines = run_bad(main, argv, capsys, work)
    flags = ["--bogus", "--seed s", "--input missing.jsonl", "--input a_folder", "--max_turns 0", "--max_tokens 0",
             "--val_size nan", "--test_size x", "--template", "--output_dir a_file/deeper/out"]
    assert len(lines) == len(flags), lines
    for flag, line in zip(flags, lines):
        assert line.startswith(PREFIX + flag), (flag, line)


def test_existing_output_needs_overwrite_and_is_replaced_whole(work, capsys):
    assert main(["--input", "ok.jsonl", "--output_dir", "out", "--val_size", "0", "--test_size", "0"]) == 0
    (work / "out" / "stale.txt").write_text("from an older run")
    capsys.readouterr()

    line = assert_one_line(run_bad(main, ["--input", "ok.jsonl", "--output_dir", "out"], capsys, work),
                           "--output_dir out already exists", "--overwrite")
    assert line.startswith(PREFIX)

    assert main(["--input", "ok.jsonl", "--output_dir", "out", "--overwrite"]) == 0
    names = sorted(p.name for p in (work / "out").iterdir())
    assert names == ["prepare_report.json", "test.jsonl", "training.jsonl", "validation.jsonl"]
    assert json.loads((work / "out/prepare_report.json").read_text())["examples_written"] == \
        {"training": 24, "validation": 3, "test": 3}
    assert not [p.name for p in work.iterdir() if p.name.startswith(".out.")]  # no temporary left


def test_an_empty_existing_folder_is_used(work, capsys):
    (work / "out").mkdir()
    assert main(["--input", "ok.jsonl", "--output_dir", "out"]) == 0
    assert (work / "out/training.jsonl").is_file()


def test_a_failure_while_writing_leaves_no_folder(work, monkeypatch):
    import recipes.data.sft as sft

    real_dumps, written = json.dumps, []

    def full_disk(value, **kwargs):  # the disk fills up after a few rows
        written.append(value)
        if len(written) > 5:
            raise OSError(28, "No space left on device")
        return real_dumps(value, **kwargs)

    monkeypatch.setattr(sft.json, "dumps", full_disk)
    before = snapshot(work)
    with pytest.raises(OSError, match="No space left"):
        sft.prepare_sft(["ok.jsonl"], "new/nested/out")
    assert len(written) == 6
    assert snapshot(work) == before  # neither the temporary nor the parents created for it remain
