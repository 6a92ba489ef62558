"""Bad input: one-line errors (exit 2, nothing left behind) or counted skips with --skip-bad-lines."""

from __future__ import annotations

import os

import pytest
from data_helpers import output_files, read_documents, write_jsonl

from recipes.data.mmap import MmapOutputs, preprocess, remove_stale_temps
from recipes.errors import UsageError
from recipes.preprocess import main

GOOD = [{"text": "first good line"}]
BAD_LINES = [
    (b'{"text": "x",', "malformed JSON"),
    (b'{"title": "no text key"}', "missing key 'text'"),
    (b'{"text": 42}', "'text' is a int, not a string"),
    (b'{"text": "caf\xe9"}', "invalid UTF-8 (byte 13)"),
    (b'["a", "list"]', "not a JSON object (got list)"),
]
SKIP_REASONS = ["malformed JSON", "missing key 'text'", "'text' not a string", "invalid UTF-8", "not a JSON object"]


def run(tmp_path, *flags, source="in.jsonl"):
    return main(["--input", str(tmp_path / source), "--output-prefix", str(tmp_path / "out" / "ds"), *flags])


def ours(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.startswith("recipes.")]


@pytest.mark.parametrize("raw, message", BAD_LINES, ids=SKIP_REASONS)
def test_bad_line_stops_the_run_with_file_and_line(tmp_path, capsys, raw, message):
    write_jsonl(tmp_path / "in.jsonl", GOOD + GOOD, raw_lines=[raw])

    assert run(tmp_path) == 2

    lines = ours(capsys.readouterr().err)
    assert len(lines) == 1
    assert lines[0].startswith(f"recipes.preprocess: error: {tmp_path / 'in.jsonl'}:3: {message}")
    assert lines[0].endswith("rerun with --skip-bad-lines to skip bad lines")
    assert output_files(tmp_path / "out") == []


@pytest.mark.parametrize("raw, reason", [(raw, reason) for (raw, _), reason in zip(BAD_LINES, SKIP_REASONS)],
                         ids=SKIP_REASONS)
def test_skip_bad_lines_counts_the_reason_and_line(tmp_path, capsys, expected_ids, raw, reason):
    write_jsonl(tmp_path / "in.jsonl", GOOD, raw_lines=[raw, b'{"text": "last"}'])

    assert run(tmp_path, "--skip-bad-lines") == 0

    out = capsys.readouterr().out
    assert f"{reason}: 1 (at {tmp_path / 'in.jsonl'}:2)" in out
    assert read_documents(tmp_path / "out/ds_text_document")[0] == [expected_ids("first good line", False),
                                                                    expected_ids("last", False)]


def test_empty_text_and_blank_lines_are_skipped_and_counted_without_the_flag(tmp_path, capsys):
    write_jsonl(tmp_path / "in.jsonl", [{"text": "a"}, {"text": ""}, {"text": "b"}], raw_lines=[b"   "])

    assert run(tmp_path) == 0

    out = capsys.readouterr().out
    assert "documents  2" in out and f"empty text: 1 (at {tmp_path / 'in.jsonl'}:2)" in out
    assert "blank line: 1" in out


@pytest.mark.parametrize("flags", [[], ["--skip-bad-lines"]])
def test_input_without_documents_is_an_error_and_writes_nothing(tmp_path, capsys, flags):
    (tmp_path / "empty.jsonl").write_bytes(b"")
    write_jsonl(tmp_path / "all-empty.jsonl", [{"text": ""}, {"text": ""}])

    for source, why in [("empty.jsonl", "empty file x1"), ("all-empty.jsonl", "empty text x2")]:
        assert run(tmp_path, *flags, source=source) == 2
        lines = ours(capsys.readouterr().err)
        assert len(lines) == 1 and "no documents to write" in lines[0] and why in lines[0], lines
    assert output_files(tmp_path / "out") == []


def test_empty_file_among_others_is_counted(tmp_path, capsys):
    (tmp_path / "dir").mkdir()
    (tmp_path / "dir/a.jsonl").write_bytes(b"")
    write_jsonl(tmp_path / "dir/b.jsonl", GOOD)

    assert run(tmp_path, source="dir") == 0

    assert f"empty file: 1 (at {tmp_path / 'dir/a.jsonl'})" in capsys.readouterr().out


@pytest.mark.parametrize("args, message", [
    (["--input", "nope.jsonl"], "--input nope.jsonl: file does not exist; pass a JSONL, JSONL.gz or parquet file"),
    (["--input", "no/*.jsonl"], "--input no/*.jsonl: the glob matches no files"),
    (["--input", "in.jsonl", "--tokenizer-library", "sentencepiece"],
     "--tokenizer-library sentencepiece: only 'huggingface' is supported"),
    (["--input", "in.jsonl", "--dataset-impl", "lazy"], "--dataset-impl lazy: only 'mmap' is supported"),
    (["--input", "in.jsonl", "--workers", "0"], "--workers 0: must be at least 1"),
    (["--input", "in.jsonl", "--json-keys", "text", "text"], "--json-keys text text: a key is repeated"),
    (["--input", "in.jsonl", "--tokenizer-type", "./missing-tokenizer"], "tokenizer directory ./missing-tokenizer"),
])
def test_usage_errors_name_the_flag(tmp_path, capsys, monkeypatch, args, message):
    monkeypatch.chdir(tmp_path)
    write_jsonl(tmp_path / "in.jsonl", GOOD)

    assert main([*args, "--output-prefix", "out/ds"]) == 2

    lines = ours(capsys.readouterr().err)
    assert len(lines) == 1 and lines[0].startswith(f"recipes.preprocess: error: {message}"), lines
    assert not (tmp_path / "out").exists() or output_files(tmp_path / "out") == []


def test_hub_dataset_offline_names_the_local_file_route(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.chdir(tmp_path)

    assert main(["--input", "erhwenkuo/wikinews-zhtw", "--output-prefix", "out/ds"]) == 2

    lines = ours(capsys.readouterr().err)
    assert len(lines) == 1 and "hub is offline" in lines[0]
    assert "pass the JSONL to `python -m recipes.preprocess --input FILE`" in lines[0]


def test_failed_rerun_keeps_the_previous_complete_output(tmp_path):
    write_jsonl(tmp_path / "in.jsonl", GOOD)
    preprocess(str(tmp_path / "in.jsonl"), str(tmp_path / "out/ds"), progress=False)
    before = {name: (tmp_path / "out" / name).read_bytes() for name in output_files(tmp_path / "out")}
    write_jsonl(tmp_path / "in.jsonl", GOOD * 500, raw_lines=[b"{broken"])

    with pytest.raises(UsageError, match=r"in.jsonl:501: malformed JSON"):
        preprocess(str(tmp_path / "in.jsonl"), str(tmp_path / "out/ds"), chunk_bytes=512, progress=False)

    assert {name: (tmp_path / "out" / name).read_bytes() for name in output_files(tmp_path / "out")} == before


def test_stale_temporaries_of_dead_runs_are_removed_live_ones_kept(tmp_path):
    final = str(tmp_path / "ds_text_document.bin")
    dead, live = f"{final}.tmp-999999999", f"{final}.tmp-{os.getppid()}"
    hidden_dead = str(tmp_path / ".ds_text_document.bin.tmp-999999999.tmp")  # multi-storage-client's name
    for path in (dead, live, hidden_dead, f"{final}.tmp-junk"):
        open(path, "wb").close()

    assert sorted(remove_stale_temps([final])) == sorted([dead, hidden_dead, f"{final}.tmp-junk"])
    assert os.path.exists(live)


def test_abort_removes_temporaries(tmp_path):
    import numpy as np

    outputs = MmapOutputs(str(tmp_path / "sub/ds"), ["text"], np.int32)
    (opened,) = output_files(tmp_path / "sub")  # hidden while multi-storage-client writes it
    assert opened.lstrip(".").startswith(f"ds_text_document.bin.tmp-{os.getpid()}")

    outputs.abort()

    assert output_files(tmp_path / "sub") == []
