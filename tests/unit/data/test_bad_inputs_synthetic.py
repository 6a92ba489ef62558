"""recipes.synthetic on bad input: exit 2, one line per problem, nothing written; absurd sizes are refused."""

from __future__ import annotations

import json

import pytest

from bad_inputs_helpers import assert_one_line, run_bad
from recipes.data.synthetic_command import MAX_SAMPLES, main
from testlib import run_module

PREFIX = "recipes.synthetic: error: "


@pytest.fixture
def work(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "a_file").write_text("x\n")
    return tmp_path


@pytest.mark.parametrize("args, needles", [
    (["--samples", "3"], ["--samples 3", "at least 10"]),
    (["--samples", "-5"], ["--samples -5"]),
    (["--samples", "ten"], ["--samples ten", "whole number"]),
    (["--samples", "1e3"], ["--samples 1e3", "whole number"]),
    (["--samples", "1000000000"], ["--samples 1000000000", f"at most {MAX_SAMPLES:,}"]),
    (["--seed", "x"], ["--seed x", "whole number"]),
    (["--seed", "-7"], ["--seed -7", "at least 0"]),
    (["--lang", "fr"], ["--lang fr", "zh, en, mixed"]),
    (["--output_dir", "a_file/out"], ["--output_dir a_file/out", "a_file is a file, not a folder"]),
    (["--output_dir", "a_file"], ["--output_dir a_file is a file"]),
    (["--unknown", "1"], ["--unknown: unknown argument"]),
])
def test_each_bad_input_is_one_line_and_writes_nothing(work, capsys, args, needles):
    argv = ["--samples", "20", "--output_dir", "out", *args]
    lines = run_bad(main, argv, capsys, work)
    if args[0] == "--unknown":  # "1" is an unknown argument of its own
        lines = lines[:1]
    assert assert_one_line(lines, *needles).startswith(PREFIX)


def test_every_problem_is_reported_together(work, capsys):
    lines = run_bad(main, ["--samples", "0", "--seed", "?", "--lang", "xx", "--output_dir", "a_file/o"], capsys, work)
    assert [line.split()[2] for line in lines] == ["--samples", "--seed", "--lang", "--output_dir"], lines


def test_a_billion_samples_is_refused_at_once_from_the_command_line(tmp_path):
    # The old generator looped samples * 20 times; the timeout only guards the test run itself.
    result = run_module("recipes.synthetic", "--samples", "1000000000", "--output_dir", "out", cwd=tmp_path,
                        timeout=120)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines()[-1] == (
        f"{PREFIX}--samples 1000000000: must be at most {MAX_SAMPLES:,}")
    assert list(tmp_path.iterdir()) == []


def test_existing_output_needs_overwrite(work, capsys):
    assert main(["--samples", "20", "--output_dir", "out"]) == 0
    first = (work / "out/training.jsonl").read_bytes()
    capsys.readouterr()
    assert_one_line(run_bad(main, ["--samples", "30", "--output_dir", "out"], capsys, work),
                    "--output_dir out already exists", "--overwrite")
    assert main(["--samples", "30", "--output_dir", "out", "--overwrite"]) == 0
    assert (work / "out/training.jsonl").read_bytes() != first
    assert json.loads((work / "out/prepare_report.json").read_text())["samples"] == 30
