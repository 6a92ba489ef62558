"""``recipes.preprocess --shards N`` here: the plan, the merge, resuming, the blend, bad input.

Oracles: the file's own bytes and line starts as this test builds them (the plan), the one-process
run and megatron-core's ``IndexedDatasetBuilder.add_index`` merging the same shards (the merge),
megatron-core's ``IndexedDataset`` for the token counts (the blend weights).
"""

from __future__ import annotations

import json
import random

import numpy as np
import pytest
from data_helpers import error_lines, output_files, read_documents, run_module, write_jsonl

from recipes.data.shard_plan import PlanError, plan_shards
from recipes.preprocessing.command import main

ROWS = [{"text": f"第{i}則 document {i} " + "word " * (i % 7)} for i in range(40)]


def build_file(path, seed: int) -> list[int]:
    """A JSONL file of random lines (some blank, some long, maybe no final newline); its line starts."""
    rng = random.Random(seed)
    starts, data = [], b""
    for i in range(rng.randint(1, 60)):
        starts.append(len(data))
        text = "" if rng.random() < 0.1 else "字x" * rng.choice([1, 3, 40, 200])
        data += json.dumps({"text": text}, ensure_ascii=False).encode() + b"\n"
    if rng.random() < 0.5:
        data = data[:-1]
    path.write_bytes(data)
    return starts


@pytest.mark.parametrize("seed", range(12))
def test_byte_ranges_cover_the_file_at_line_starts(tmp_path, seed):
    path = tmp_path / "in.jsonl"
    starts = build_file(path, seed)
    data = path.read_bytes()
    for count in range(1, 9):
        try:
            (plan) = plan_shards([str(path)], count)
        except PlanError as exc:
            assert count > len(starts) or "longer than" in str(exc), (count, len(starts), exc)
            continue
        ranges = [(r.start, len(data) if r.end is None else r.end, r) for shard in plan for r in shard]
        assert len(plan) == count and all(len(shard) == 1 for shard in plan)
        assert b"".join(data[a:b] for a, b, _ in ranges) == data, "no byte lost or duplicated, in order"
        assert all(b > a for a, b, _ in ranges), "no empty shard"
        ranges = [r for _, _, r in ranges]
        assert all(r.start in starts for r in ranges), "every shard starts at a line start"
        assert [r.first_line for r in ranges] == [starts.index(r.start) + 1 for r in ranges]
        assert plan == plan_shards([str(path)], count), "deterministic"


def test_fewer_files_than_shards_are_cut_across_files_and_more_files_stay_whole(tmp_path):
    files = [write_jsonl(tmp_path / f"{name}.jsonl", ROWS[i * 10:(i + 1) * 10]) for i, name in enumerate("abcd")]
    data = b"".join(f.read_bytes() for f in files)
    plan = plan_shards([str(f) for f in files[:2]], 5)
    pieces = [open(r.path, "rb").read()[r.start:r.end] for shard in plan for r in shard]
    assert b"".join(pieces) == data[:len(files[0].read_bytes()) + len(files[1].read_bytes())]
    whole = plan_shards([str(f) for f in files], 3)
    assert [[r.path for r in shard] for shard in whole if shard] and len(whole) == 3
    assert [r.path for shard in whole for r in shard] == [str(f) for f in files]
    assert all(r.end is None for shard in whole for r in shard) and all(whole)


def sharded(tmp_path, *flags, prefix="out/four"):
    return main(["--input", str(tmp_path / "in.jsonl"), "--output-prefix", str(tmp_path / prefix), "--append-eod",
                 *flags])


def test_merge_equals_one_process_and_megatron_add_index(tmp_path, capsys):
    from megatron.core.datasets.indexed_dataset import IndexedDataset, IndexedDatasetBuilder

    write_jsonl(tmp_path / "in.jsonl", ROWS, raw_lines=[b"not json", b""])
    assert sharded(tmp_path, "--skip-bad-lines", prefix="out/one") == 0
    one = capsys.readouterr().out
    assert sharded(tmp_path, "--skip-bad-lines", "--shards", "4") == 0
    four = capsys.readouterr().out
    for suffix in (".bin", ".idx"):
        assert (tmp_path / f"out/four_text_document{suffix}").read_bytes() == \
            (tmp_path / f"out/one_text_document{suffix}").read_bytes()
    assert "malformed JSON: 1 (at " + str(tmp_path / "in.jsonl") + ":41)" in one
    assert ":41)" in four, "a shard reports the file's own line numbers"

    builder = IndexedDatasetBuilder(str(tmp_path / "mc.bin"), dtype=np.int32)  # megatron-core's own merge
    for k in range(4):
        builder.add_index(str(tmp_path / f"out/four.shards/shard-{k:05d}_text_document"))
    builder.finalize(str(tmp_path / "mc.idx"))
    assert (tmp_path / "mc.bin").read_bytes() == (tmp_path / "out/four_text_document.bin").read_bytes()
    assert (tmp_path / "mc.idx").read_bytes() == (tmp_path / "out/four_text_document.idx").read_bytes()
    assert len(IndexedDataset(str(tmp_path / "out/four_text_document")).document_indices) == 41


def test_killed_shard_and_damaged_shard_are_redone_alone(tmp_path):
    write_jsonl(tmp_path / "in.jsonl", ROWS)
    args = ["--input", "in.jsonl", "--output-prefix", "out/four", "--append-eod", "--shards", "4"]
    killed = run_module("recipes.preprocess", args, tmp_path, env={"RECIPES_FAULT": "kill_in_shard:3"})
    assert killed.returncode == -9, killed.stderr[-2000:]
    folder = tmp_path / "out/four.shards"
    assert [p.name for p in folder.glob("*.json")] and not (folder / "shard-00003.json").exists()
    (half,) = [p for p in folder.glob("shard-00003_text_document.bin.tmp-*") if p.name.split("-")[-1].isdigit()]
    assert half.stat().st_size > 0, "killed half way through its .bin"
    kept = (folder / "shard-00001.json").stat().st_mtime_ns, (folder / "shard-00002.json").stat().st_mtime_ns
    damaged = bytearray((folder / "shard-00000_text_document.bin").read_bytes())
    damaged[5] ^= 1
    (folder / "shard-00000_text_document.bin").write_bytes(bytes(damaged))

    changed = run_module("recipes.preprocess", args[:-1] + ["3"], tmp_path)
    assert changed.returncode == 2 and error_lines(changed.stderr) == [
        f"recipes.preprocess: error: --output-prefix {tmp_path / 'out/four'}: {folder / 'manifest.json'} was made "
        "by another run (--shards was 4, now 3); rerun the same command to finish it, or pass --overwrite to "
        "start over"]
    again = run_module("recipes.preprocess", args, tmp_path)
    assert again.returncode == 0, again.stderr[-2000:]
    assert "2 complete, 2 to do (0,3)" in again.stdout
    assert kept == ((folder / "shard-00001.json").stat().st_mtime_ns, (folder / "shard-00002.json").stat().st_mtime_ns)
    assert run_module("recipes.preprocess", ["--input", "in.jsonl", "--output-prefix", "one", "--append-eod"],
                      tmp_path).returncode == 0
    for suffix in (".bin", ".idx"):
        assert (tmp_path / f"out/four_text_document{suffix}").read_bytes() == \
            (tmp_path / f"one_text_document{suffix}").read_bytes()
    assert not list(folder.glob("*.tmp-*"))


def test_changed_input_is_refused_and_overwrite_starts_over(tmp_path, capsys):
    path = write_jsonl(tmp_path / "in.jsonl", ROWS)
    assert sharded(tmp_path, "--shards", "2", "--no-merge") == 0
    capsys.readouterr()
    with open(path, "ab") as handle:
        handle.write(b'{"text": "one more"}\n')
    before = (tmp_path / "out/four.shards/manifest.json").read_bytes()
    assert sharded(tmp_path, "--shards", "2", "--no-merge") == 2
    (line,) = error_lines(capsys.readouterr().err)
    assert f"input {path} changed" in line and "--overwrite" in line
    assert (tmp_path / "out/four.shards/manifest.json").read_bytes() == before
    assert sharded(tmp_path, "--shards", "2", "--no-merge", "--overwrite") == 0
    assert sum(json.loads(p.read_text())["documents"] for p in (tmp_path / "out/four.shards").glob("shard-*.json")) == 41


def test_no_merge_prints_a_token_weighted_blend(tmp_path, capsys):
    from recipes.config.data_spec import MmapBlend, parse_data
    from recipes.data.mmap_paths import missing_files

    write_jsonl(tmp_path / "in.jsonl", ROWS)
    assert sharded(tmp_path, "--shards", "3", "--no-merge") == 0
    out = capsys.readouterr().out
    (spec,) = [line.split("-D ", 1)[1].strip('"') for line in out.splitlines() if line.startswith("blend (text")]
    blend, problems = parse_data("pretrain", spec)
    assert not problems and isinstance(blend, MmapBlend) and not missing_files(list(blend.pairs))
    tokens = [sum(len(d) for d in read_documents(prefix)[0]) for _, prefix in blend.pairs]
    assert [w for w, _ in blend.pairs] == pytest.approx([t / sum(tokens) for t in tokens])
    assert not (tmp_path / "out/four_text_document.bin").exists(), "--no-merge writes no merged pair"


@pytest.mark.parametrize("flags, rows, message", [
    (["--shards", "0"], ROWS, "--shards 0: must be a whole number of at least 1"),
    (["--shards", "-2"], ROWS, "--shards -2: must be a whole number of at least 1"),
    (["--shards", "two"], ROWS, "--shards two: not a whole number"),
    (["--shards", "1.5"], ROWS, "--shards 1.5: not a whole number"),
    (["--no-merge"], ROWS, "--no-merge: only with --shards N"),
    (["--shards", "41"], ROWS, "has only 40 line(s), fewer than the shards; pass --shards 40 or fewer"),
    (["--shards", "2"], [], "empty; pass a file with documents"),
])
def test_bad_shard_arguments_one_line_exit_2_nothing_written(tmp_path, capsys, flags, rows, message):
    write_jsonl(tmp_path / "in.jsonl", rows)
    assert sharded(tmp_path, *flags) == 2
    (line,) = error_lines(capsys.readouterr().err)
    assert message in line, line
    assert output_files(tmp_path) == ["in.jsonl"], "nothing written"


def test_compressed_input_with_fewer_files_than_shards_is_refused(tmp_path, capsys):
    import gzip

    with gzip.open(tmp_path / "in.jsonl.gz", "wt") as handle:
        handle.write('{"text": "a"}\n{"text": "b"}\n')
    assert main(["--input", str(tmp_path / "in.jsonl.gz"), "--output-prefix", str(tmp_path / "o"),
                 "--shards", "2"]) == 2
    (line,) = error_lines(capsys.readouterr().err)
    assert "in.jsonl.gz cannot be cut at line boundaries" in line and "--shards 1" in line
    assert output_files(tmp_path) == ["in.jsonl.gz"]


def test_a_shard_of_blank_lines_only_is_no_error(tmp_path, capsys):
    """The middle third of this file is blank lines: that shard has no tokens, the merge is still exact."""
    long = json.dumps({"text": "x " * 150}).encode()
    (tmp_path / "in.jsonl").write_bytes(long + b"\n" + b"\n" * len(long) + long + b"\n")
    assert sharded(tmp_path, "--shards", "3") == 0
    middle = json.loads((tmp_path / "out/four.shards/shard-00001.json").read_text())
    assert middle["tokens"] == 0 and middle["skipped"], middle
    assert sharded(tmp_path, prefix="out/one") == 0
    for suffix in (".bin", ".idx"):
        assert (tmp_path / f"out/four_text_document{suffix}").read_bytes() == \
            (tmp_path / f"out/one_text_document{suffix}").read_bytes()


def test_all_problems_are_reported_together(tmp_path, capsys):
    write_jsonl(tmp_path / "in.jsonl", ROWS)
    assert main(["--input", str(tmp_path / "in.jsonl"), "--output-prefix", str(tmp_path / "o"), "--shards", "0",
                 "--workers", "0", "--tokenizer-type", str(tmp_path / "nope")]) == 2
    lines = error_lines(capsys.readouterr().err)
    assert len(lines) == 3 and "--shards 0" in lines[0] and "nope does not exist" in lines[1] and "--workers 0" in lines[2]
    assert main(["--input", str(tmp_path / "missing.jsonl"), "--output-prefix", str(tmp_path / "o"),
                 "--shards", "2", "--workers", "0"]) == 2
    lines = error_lines(capsys.readouterr().err)
    assert len(lines) == 2 and "--workers 0" in lines[0] and "missing.jsonl: file does not exist" in lines[1], lines
    assert output_files(tmp_path) == ["in.jsonl"]
