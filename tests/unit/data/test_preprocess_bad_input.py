"""Bad input: one-line errors (exit 2, nothing left behind) or counted skips with --skip-bad-lines."""

from __future__ import annotations

import os

import pytest
from data_helpers import output_files, read_documents, write_jsonl

from recipes.core.errors import UsageError
from recipes.data.mmap import MmapOutputs, preprocess, remove_stale_temps
from recipes.preprocessing.command import main

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


def test_empty_text_is_an_empty_document_and_blank_lines_are_skipped(tmp_path, capsys):
    write_jsonl(tmp_path / "in.jsonl", [{"text": "a"}, {"text": ""}, {"text": "b"}], raw_lines=[b"   "])

    assert run(tmp_path) == 0

    out = capsys.readouterr().out
    assert "documents  3" in out and "empty      1 documents without tokens" in out
    assert f"blank line: 1 (at {tmp_path / 'in.jsonl'}:4)" in out
    assert [len(doc) for doc in read_documents(tmp_path / "out/ds_text_document")[0]] == [1, 0, 1]


@pytest.mark.parametrize("flags", [[], ["--skip-bad-lines"]])
def test_input_without_tokens_is_an_error_and_writes_nothing(tmp_path, capsys, flags):
    (tmp_path / "empty.jsonl").write_bytes(b"")
    write_jsonl(tmp_path / "all-empty.jsonl", [{"text": ""}, {"text": []}])

    for source, why in [("empty.jsonl", "skipped empty file x1"), ("all-empty.jsonl", "2 empty document(s)")]:
        assert run(tmp_path, *flags, source=source) == 2
        lines = ours(capsys.readouterr().err)
        assert len(lines) == 1 and "no tokens to write" in lines[0] and why in lines[0], lines
    assert not (tmp_path / "out").exists()


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
    (["--input", "in.jsonl", "--workers", "-2"], "--workers -2: must be at least 1"),
    (["--input", "in.jsonl", "--workers", "two"], "--workers two: not a whole number"),
    (["--input", "in.jsonl", "--log-interval", "-5"], "--log-interval -5: must be at least 0"),
    (["--input", "in.jsonl", "--partitions", "-1"], "--partitions -1: must be at least 1"),
    (["--input", "in.jsonl", "--json-keys", "text", "text"], "--json-keys text text: a key is repeated"),
    (["--input", "in.jsonl", "--tokenizer-type", "./missing-tokenizer"], "tokenizer directory ./missing-tokenizer"),
    (["--input", "in.jsonl", "--partitions", "2"], "--partitions 2: Megatron-LM then interleaves documents"),
    (["--input", "in.jsonl", "--tokenizer-type", "meta-llama/Llama-3.1-8B-Instruct"],
     "--tokenizer-type meta-llama/Llama-3.1-8B-Instruct: not in the local Hugging Face cache"),
])
def test_usage_errors_name_the_flag(tmp_path, capsys, monkeypatch, args, message):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "empty-hf-cache"))
    write_jsonl(tmp_path / "in.jsonl", GOOD)

    assert main([*args, "--output-prefix", "out/ds"]) == 2

    lines = ours(capsys.readouterr().err)
    assert len(lines) == 1 and lines[0].startswith(f"recipes.preprocess: error: {message}"), lines
    assert not (tmp_path / "out").exists()


def test_every_numeric_flag_is_checked_against_its_declared_range(tmp_path, capsys):
    """Each numeric flag declares its range (recipes.core.argcheck.whole); all bad ones are named together."""
    from recipes.core.argcheck import Bounded
    from recipes.preprocessing.command import build_parser

    numeric = [a.option_strings[-1] for a in build_parser()._actions if a.type in (int, float)]
    assert numeric == [], f"{numeric}: declare a range with type=whole(...) / real(...)"
    write_jsonl(tmp_path / "in.jsonl", GOOD)
    bounded = [a.option_strings[-1] for a in build_parser()._actions if isinstance(a.type, Bounded)]
    argv = [word for flag in bounded for word in (flag, "-1")]
    assert run(tmp_path, *argv) == 2
    lines = ours(capsys.readouterr().err)
    lowest = {"--log-interval": 0}  # documents between progress lines; 0: none
    expected = [f"{flag} -1: must be at least {lowest.get(flag, 1)}" for flag in bounded]
    assert [line.split(": error: ")[1] for line in lines] == expected, lines
    assert output_files(tmp_path / "out") == []


def test_a_missing_site_file_is_named_before_a_slurm_job(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("RECIPES_SITE_CONFIG", str(tmp_path / "sit.yaml"))
    write_jsonl(tmp_path / "in.jsonl", GOOD)
    assert run(tmp_path, "--executor", "slurm", "-a", "acct") == 2
    lines = ours(capsys.readouterr().err)
    assert lines == [f"recipes.preprocess: error: RECIPES_SITE_CONFIG={tmp_path / 'sit.yaml'}: no such file; point "
                     "RECIPES_SITE_CONFIG at a YAML file (or /dev/null for none)"], lines
    assert output_files(tmp_path / "out") == []


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
        preprocess(str(tmp_path / "in.jsonl"), str(tmp_path / "out/ds"), chunk_bytes=512, progress=False,
                   overwrite=True)

    assert {name: (tmp_path / "out" / name).read_bytes() for name in output_files(tmp_path / "out")} == before


def test_stale_temporaries_of_dead_runs_are_removed_live_ones_kept(tmp_path):
    final = str(tmp_path / "ds_text_document.bin")
    dead, live = f"{final}.tmp-999999999", f"{final}.tmp-{os.getppid()}"
    hidden_dead = str(tmp_path / ".ds_text_document.bin.tmp-999999999.tmp")  # multi-storage-client's name
    dead_side, live_side = f"{dead}.len", f"{live}.doc"  # the index's side files
    for path in (dead, live, hidden_dead, f"{final}.tmp-junk", dead_side, live_side):
        open(path, "wb").close()

    assert sorted(remove_stale_temps([final])) == sorted([dead, hidden_dead, f"{final}.tmp-junk", dead_side])
    assert os.path.exists(live) and os.path.exists(live_side)


def test_abort_removes_temporaries_and_the_folders_it_made(tmp_path):
    import numpy as np

    outputs = MmapOutputs(str(tmp_path / "sub/deeper/ds"), ["text"])
    outputs.open(np.int32)
    temporaries = output_files(tmp_path / "sub")
    assert temporaries == [f"deeper/ds_text_document.bin.tmp-{os.getpid()}{suffix}" for suffix in ("", ".doc", ".len")]

    outputs.abort()

    assert list(tmp_path.iterdir()) == []


def tree(folder) -> dict:
    """Every file under ``folder`` with its bytes, and every folder: the file system as a value."""
    return {str(path.relative_to(folder)): path.read_bytes() if path.is_file() else None
            for path in sorted(folder.rglob("*"))}


def test_existing_output_is_kept_without_overwrite_and_replaced_with_it(tmp_path, capsys):
    write_jsonl(tmp_path / "in.jsonl", GOOD)
    assert run(tmp_path) == 0
    write_jsonl(tmp_path / "in.jsonl", GOOD + [{"text": "a second document"}])
    capsys.readouterr()
    before = tree(tmp_path)

    assert run(tmp_path) == 2

    lines = ours(capsys.readouterr().err)
    assert lines == [f"recipes.preprocess: error: --output-prefix {tmp_path / 'out/ds'}: "
                     f"{tmp_path / 'out/ds_text_document.bin'} already exists; pass --overwrite to replace it "
                     "or choose another prefix"]
    assert tree(tmp_path) == before
    assert run(tmp_path, "--overwrite") == 0
    assert len(read_documents(tmp_path / "out/ds_text_document")[0]) == 2


def test_only_an_index_left_is_an_existing_output_too(tmp_path, capsys):
    write_jsonl(tmp_path / "in.jsonl", GOOD)
    (tmp_path / "out").mkdir()
    (tmp_path / "out/ds_text_document.idx").write_bytes(b"old")

    assert run(tmp_path) == 2

    assert "ds_text_document.idx already exists; pass --overwrite" in ours(capsys.readouterr().err)[0]
    assert (tmp_path / "out/ds_text_document.idx").read_bytes() == b"old"


def corrupt_gzip(path):
    import gzip

    data = gzip.compress(b'{"text": "compressed"}\n' * 2000)
    path.write_bytes(data[:20] + bytes(b ^ 0x5A for b in data[20:60]) + data[60:])


def truncated_gzip(path):
    import gzip

    path.write_bytes(gzip.compress(b'{"text": "compressed"}\n' * 2000)[:-30])


@pytest.mark.parametrize("name, make, message", [
    ("bad.jsonl.gz", corrupt_gzip, "cannot read"),
    ("cut.jsonl.gz", truncated_gzip, "cannot read"),
    ("text.parquet", lambda path: path.write_text('{"text": "not parquet"}\n'), "not a readable parquet file"),
])
def test_unreadable_input_is_one_line_naming_the_file_and_leaves_nothing(tmp_path, capsys, name, make, message):
    make(tmp_path / name)
    before = tree(tmp_path)

    assert main(["--input", str(tmp_path / name), "--output-prefix", str(tmp_path / "new/deeper/ds")]) == 2

    captured = capsys.readouterr()
    lines = ours(captured.err)
    assert len(lines) == 1 and lines[0].startswith(f"recipes.preprocess: error: {tmp_path / name}: {message}"), lines
    assert "Traceback" not in captured.err
    assert tree(tmp_path) == before  # no output, no temporary, no created folder


def test_output_prefix_under_a_file_is_refused(tmp_path, capsys):
    write_jsonl(tmp_path / "in.jsonl", GOOD)
    (tmp_path / "notes.txt").write_text("a file")
    before = tree(tmp_path)

    assert main(["--input", str(tmp_path / "in.jsonl"), "--output-prefix", str(tmp_path / "notes.txt/sub/ds")]) == 2

    assert ours(capsys.readouterr().err) == [
        f"recipes.preprocess: error: --output-prefix {tmp_path / 'notes.txt/sub/ds'}: {tmp_path / 'notes.txt'} "
        "is a file, not a folder; pass a prefix in a folder"]
    assert tree(tmp_path) == before


def test_several_problems_are_reported_together(tmp_path, capsys):
    (tmp_path / "notes.txt").write_text("a file")

    assert main(["--input", str(tmp_path / "missing.jsonl"), "--output-prefix", str(tmp_path / "notes.txt/ds"),
                 "--tokenizer-type", "./no-such-tokenizer"]) == 2

    lines = ours(capsys.readouterr().err)
    assert [line.split(": error: ")[1].split(" ")[0] for line in lines] == ["--output-prefix", "--input", "tokenizer"]
