"""recipes.download on bad input: exit 2, one line per problem, nothing written; no path escape via --split.

The hub is never reached: offline (HF_HUB_OFFLINE=1), or ``datasets`` replaced by a fake stream."""

from __future__ import annotations

import json
import sys
import types

import pytest

from bad_inputs_helpers import assert_one_line, run_bad, snapshot
from recipes.data.download_command import main

PREFIX = "recipes.download: error: "


@pytest.fixture
def work(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "a_file").write_text("x\n")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    return tmp_path


def fake_hub(monkeypatch, rows):
    calls = []

    def load_dataset(repo_id, config=None, split="train", streaming=False, revision=None):
        calls.append(split)
        return iter(rows)

    monkeypatch.setitem(sys.modules, "datasets", types.SimpleNamespace(load_dataset=load_dataset))
    monkeypatch.delenv("HF_HUB_OFFLINE")
    return calls


@pytest.mark.parametrize("args, needles", [
    (["imagenet"], ["dataset imagenet: unknown", "wikinews, alpaca_zhtw, lccc"]),
    (["wikinews", "--limit", "0"], ["--limit 0", "at least 1"]),
    (["wikinews", "--limit", "many"], ["--limit many", "whole number"]),
    (["wikinews", "--split", "../../escape"], ["--split '../../escape'", "not a split name"]),
    (["wikinews", "--split", "a/b"], ["--split 'a/b'"]),
    (["wikinews", "--split", ".hidden"], ["--split '.hidden'"]),
    (["wikinews", "--output_dir", "a_file/json"], ["--output_dir a_file/json", "is a file, not a folder"]),
    (["wikinews", "--output_dir", "a_file"], ["--output_dir a_file is a file"]),
])
def test_each_bad_input_is_one_line_and_writes_nothing(work, capsys, monkeypatch, args, needles):
    fake_hub(monkeypatch, [{"text": "never read"}])
    argv = [*args] + ([] if "--output_dir" in args else ["--output_dir", "json"])
    assert assert_one_line(run_bad(main, argv, capsys, work), *needles).startswith(PREFIX)


def test_offline_and_an_existing_file_are_reported_together(work, capsys):
    (work / "json").mkdir()
    (work / "json/wikinews-zhtw.jsonl").write_text('{"text": "mine"}\n')
    lines = run_bad(main, ["wikinews", "--output_dir", "json"], capsys, work)
    assert len(lines) == 2, lines
    assert "--output_dir json/wikinews-zhtw.jsonl already exists" in lines[0] and "--overwrite" in lines[0]
    assert "the Hugging Face hub is offline" in lines[1]


def test_every_problem_is_reported_together(work, capsys):
    lines = run_bad(main, ["nope", "--limit", "-1", "--split", "x/y", "--output_dir", "json", "--zzz"], capsys, work)
    assert [line[len(PREFIX):].split()[0] for line in lines] == ["--zzz:", "dataset", "--limit", "--split"], lines


def test_overwrite_replaces_the_file_atomically(work, capsys, monkeypatch):
    fake_hub(monkeypatch, [{"text": "new 1"}, {"text": "new 2"}])
    (work / "json").mkdir()
    (work / "json/wikinews-zhtw.jsonl").write_text('{"text": "old"}\n')
    assert main(["wikinews", "--output_dir", "json", "--overwrite"]) == 0
    rows = [json.loads(line) for line in (work / "json/wikinews-zhtw.jsonl").read_text().splitlines()]
    assert rows == [{"text": "new 1"}, {"text": "new 2"}]
    assert sorted(p.name for p in (work / "json").iterdir()) == ["wikinews-zhtw.jsonl"]


def test_a_stream_broken_mid_way_leaves_no_folder(work, capsys, monkeypatch):
    def rows():
        yield {"text": "one"}
        raise ConnectionError("connection reset by peer")

    fake_hub(monkeypatch, rows())
    before = snapshot(work)
    assert main(["wikinews", "--output_dir", "deep/er/json"]) == 2
    assert_one_line([line for line in capsys.readouterr().err.splitlines() if PREFIX in line],
                    "download interrupted (connection reset by peer)")
    assert snapshot(work) == before  # the created parents are gone too
