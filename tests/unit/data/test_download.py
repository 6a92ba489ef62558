"""recipes.download: offline errors name the local-file route; writing JSONL (hub faked, no network)."""

from __future__ import annotations

import json
import sys
import types

import pytest
from data_helpers import error_lines, run_module

from recipes.data import download as download_module
from recipes.data.download_command import main


def test_offline_error_from_the_command_line(tmp_path):
    result = run_module("recipes.download", ["wikinews", "--output_dir", "data/custom_dataset/json"], cwd=tmp_path,
                        env={"HF_HUB_OFFLINE": "1"}, timeout=60)

    assert result.returncode == 2
    assert error_lines(result.stderr) == [
        "recipes.download: error: erhwenkuo/wikinews-zhtw: the Hugging Face hub is offline (HF_HUB_OFFLINE=1); "
        + download_module.LOCAL_ROUTE]
    assert not (tmp_path / "data").exists()


@pytest.mark.parametrize("name, repo", [("alpaca_zhtw", "erhwenkuo/alpaca-data-gpt4-chinese-zhtw"),
                                        ("lccc", "thu-coai/lccc (base)")])
def test_offline_error_for_every_dataset(tmp_path, capsys, monkeypatch, name, repo):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")

    assert main([name, "--output_dir", str(tmp_path / "out")]) == 2

    (line,) = error_lines(capsys.readouterr().err)
    assert line.startswith(f"recipes.download: error: {repo}: the Hugging Face hub is offline")
    assert "python -m recipes.preprocess --input FILE" in line


def fake_datasets(monkeypatch, rows=None, error=None):
    calls = []

    def load_dataset(repo_id, config=None, split="train", streaming=False, revision=None):
        calls.append((repo_id, config, split, streaming, revision))
        if error and not (revision and rows is not None):
            raise error
        return iter(rows)

    monkeypatch.setitem(sys.modules, "datasets", types.SimpleNamespace(load_dataset=load_dataset))
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    return calls


def test_unreachable_hub_is_the_same_one_line_error(tmp_path, capsys, monkeypatch):
    fake_datasets(monkeypatch, error=ConnectionError("Couldn't reach 'thu-coai/lccc' on the Hub\nmore detail"))

    assert main(["lccc", "--output_dir", str(tmp_path)]) == 2

    (line,) = error_lines(capsys.readouterr().err)
    assert "cannot load from the Hugging Face hub (Couldn't reach 'thu-coai/lccc' on the Hub)" in line
    assert line.endswith(download_module.LOCAL_ROUTE)


def test_download_writes_jsonl_rows_in_order(tmp_path, capsys, monkeypatch):
    rows = [{"text": f"新聞 {i}"} for i in range(5)]
    calls = fake_datasets(monkeypatch, rows=rows)

    assert main(["wikinews", "--output_dir", str(tmp_path / "json"), "--limit", "3"]) == 0

    written = (tmp_path / "json/wikinews-zhtw.jsonl").read_text(encoding="utf-8").splitlines()
    assert [json.loads(line) for line in written] == rows[:3]
    assert "新聞 0" in written[0]  # UTF-8, not \\u escapes
    assert calls == [("erhwenkuo/wikinews-zhtw", None, "train", True, None)]
    assert "wrote" in capsys.readouterr().out
    assert sorted(p.name for p in (tmp_path / "json").iterdir()) == ["wikinews-zhtw.jsonl"]


def test_broken_stream_leaves_no_partial_file(tmp_path, capsys, monkeypatch):
    def rows():
        yield {"text": "one"}
        raise ConnectionError("connection reset")

    fake_datasets(monkeypatch, rows=rows())

    assert main(["wikinews", "--output_dir", str(tmp_path)]) == 2

    assert "download interrupted (connection reset)" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []


def test_script_datasets_fall_back_to_the_hubs_parquet_export(tmp_path, monkeypatch):
    rows = [{"dialog": ["你 好", "你 好 啊"]}]
    calls = fake_datasets(monkeypatch, rows=rows, error=RuntimeError("Dataset scripts are no longer supported"))

    assert main(["lccc", "--output_dir", str(tmp_path), "--split", "validation"]) == 0

    assert [call[-1] for call in calls] == [None, "refs/convert/parquet"]
    assert json.loads((tmp_path / "lccc-base-validation.jsonl").read_text(encoding="utf-8")) == rows[0]
