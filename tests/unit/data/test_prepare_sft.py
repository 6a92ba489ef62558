"""recipes.prepare_sft: input shapes, templates, dedupe, length filter, report and deterministic split."""

from __future__ import annotations

import json

import pytest
from data_helpers import output_files, write_jsonl

from recipes.data.prepare_sft import main
from recipes.data.sft import prepare_sft

SPLIT_FILES = ["prepare_report.json", "test.jsonl", "training.jsonl", "validation.jsonl"]
DIALOGUES = [[f"對話{d} 第{t}句" for t in range(3 + d % 2)] for d in range(12)]
SHAPES = {
    "input_output": [{"input": f"問題 {i}", "output": f"答案 {i}"} for i in range(20)],
    "query_answer": [{"query": f"question {i}", "answer": f"answer {i}"} for i in range(20)],
    "alpaca": [{"instruction": f"翻譯 {i}", "input": "" if i % 2 else f"word {i}", "output": f"譯文 {i}"}
               for i in range(20)],
    "dialogue_list": DIALOGUES,
    "dialog_key": [{"dialog": turns} for turns in DIALOGUES],
    "conversation_key": [{"conversation": turns} for turns in DIALOGUES],
}


def read_split(folder) -> dict[str, list[dict]]:
    return {name: [json.loads(line) for line in (folder / f"{name}.jsonl").read_text(encoding="utf-8").splitlines()]
            for name in ("training", "validation", "test")}


@pytest.mark.parametrize("shape", SHAPES)
def test_each_shape_becomes_a_valid_deterministic_split(tmp_path, shape):
    source = write_jsonl(tmp_path / f"{shape}.jsonl", SHAPES[shape])

    report = prepare_sft(str(source), str(tmp_path / "a"), val_size=0.2, test_size=0.1, seed=7)
    prepare_sft(str(source), str(tmp_path / "b"), val_size=0.2, test_size=0.1, seed=7)
    prepare_sft(str(source), str(tmp_path / "c"), val_size=0.2, test_size=0.1, seed=8)

    assert output_files(tmp_path / "a") == SPLIT_FILES
    splits = read_split(tmp_path / "a")
    rows = [row for split in splits.values() for row in split]
    assert all(set(row) == {"input", "output"} and row["input"] and row["output"] for row in rows)
    expected = 20 if not shape.startswith(("dialog", "conversation")) else sum(len(d) - 1 for d in DIALOGUES)
    assert len(rows) == expected == sum(report["examples_written"].values())
    assert all(splits[name] for name in splits)
    for name in ("training", "validation", "test"):
        assert (tmp_path / "a" / f"{name}.jsonl").read_bytes() == (tmp_path / "b" / f"{name}.jsonl").read_bytes()
    assert read_split(tmp_path / "c") != splits


def test_dialogue_pairs_use_at_most_max_turns_of_history_and_stay_in_one_split(tmp_path):
    source = write_jsonl(tmp_path / "d.jsonl", [["a", "b", "c", "d"]] + [[f"x{i}", f"y{i}"] for i in range(9)])

    prepare_sft(str(source), str(tmp_path / "out"), max_turns=2, val_size=0.1, test_size=0.1)

    splits = read_split(tmp_path / "out")
    holder = [name for name, rows in splits.items() if any(row["output"] == "b" for row in rows)]
    assert len(holder) == 1
    assert [r for r in splits[holder[0]] if r["output"] in "bcd"] == [
        {"input": "a", "output": "b"}, {"input": "a\nb", "output": "c"}, {"input": "b\nc", "output": "d"}]


def test_templates(tmp_path, llama3):
    source = write_jsonl(tmp_path / "s.jsonl", [{"instruction": "Translate", "input": "cat", "output": "貓"},
                                                ["hi", "hello", "how are you?", "fine"]])
    rendered = {}
    for template in ("plain", "alpaca", "llama3", "Q: {input}\\nA: "):
        prepare_sft(str(source), str(tmp_path / "t"), template=template, val_size=0, test_size=0, max_turns=3,
                    overwrite=True)
        rendered[template] = read_split(tmp_path / "t")["training"]
    first = {name: next(r for r in rows if r["output"].startswith("貓")) for name, rows in rendered.items()}

    assert first["plain"] == {"input": "Translate\n\ncat", "output": "貓"}
    assert first["alpaca"]["input"].endswith("### Instruction:\nTranslate\n\n### Input:\ncat\n\n### Response:\n")
    assert first["Q: {input}\\nA: "] == {"input": "Q: Translate\n\ncat\nA: ", "output": "貓"}
    assert first["llama3"] == {"input": "<|start_header_id|>user<|end_header_id|>\n\nTranslate\n\ncat"
                                        "<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n",
                               "output": "貓<|eot_id|>"}
    last = next(r for r in rendered["llama3"] if r["output"] == "fine<|eot_id|>")["input"]
    assert last.count("user<|end_header_id|>") == 2 and last.count("assistant<|end_header_id|>") == 2
    ids = llama3(last, add_special_tokens=False).input_ids
    assert 128000 not in ids and ids.count(128006) == 4 and ids.count(128009) == 3  # real special tokens


def test_rejections_dedupe_and_length_filter_are_reported_with_lines(tmp_path, capsys):
    good = [{"input": f"q{i}", "output": f"a{i}"} for i in range(10)]
    source = write_jsonl(tmp_path / "raw.jsonl", good + [good[0], {"input": "long " * 300, "output": "x"},
                                                         {"input": "", "output": "x"}, {"input": 3, "output": "x"},
                                                         {"prompt": "?"}, ["only one turn"]],
                         raw_lines=[b"{oops", b'{"input": "caf\xe9", "output": "x"}'])

    code = main(["--input", str(source), "--output_dir", str(tmp_path / "out"), "--max_tokens", "64",
                 "--val_size", "2", "--test_size", "1"])

    assert code == 0
    report = json.loads((tmp_path / "out/prepare_report.json").read_text())
    where = f"{source}:"
    assert report["rejected"] == {
        "dialogue shorter than 2 turns": {"count": 1, "lines": [f"{where}16"]},
        "duplicate": {"count": 1, "lines": [f"{where}11"]},
        "empty text": {"count": 1, "lines": [f"{where}13"]},
        "invalid UTF-8": {"count": 1, "lines": [f"{where}18"]},
        "longer than 64 tokens": {"count": 1, "lines": [f"{where}12"]},
        "malformed JSON": {"count": 1, "lines": [f"{where}17"]},
        "non-string value": {"count": 1, "lines": [f"{where}14"]},
        "unknown shape": {"count": 1, "lines": [f"{where}15"]},
    }
    assert report["rows_read"] == 18
    assert report["examples_written"] == {"training": 7, "validation": 2, "test": 1}
    out = capsys.readouterr().out
    assert f"rejected 1 (duplicate): {where}11" in out and "prepare_report.json" in out


def test_keep_duplicates_and_strip_cjk_spaces(tmp_path):
    source = write_jsonl(tmp_path / "lccc.jsonl", [["你 好 啊", "我 很 好 ， 谢谢 ok then"]] * 2 + [["a", "b"]] * 8)

    assert main(["--input", str(source), "--output_dir", str(tmp_path / "o"), "--keep_duplicates",
                 "--strip_cjk_spaces", "--val_size", "0", "--test_size", "0"]) == 0

    rows = read_split(tmp_path / "o")["training"]
    assert len(rows) == 10
    assert {"input": "你好啊", "output": "我很好，谢谢 ok then"} in rows


@pytest.mark.parametrize("args, message", [
    (["--input", "missing.jsonl"], "--input missing.jsonl: file does not exist"),
    (["--input", "ok.jsonl", "--template", "nothing"], "--template 'nothing': choose plain, alpaca, llama3"),
    (["--input", "ok.jsonl", "--val_size", "5", "--test_size", "5"], "--val_size 5 / --test_size 5: 5 + 5 of 10"),
    (["--input", "ok.jsonl", "--val_size", "1.5"], "--val_size 1.5: give a fraction in [0, 1) or a whole count"),
    (["--input", "ok.jsonl", "--max_turns", "0"], "--max_turns 0: must be at least 1"),
    (["--input", "bad.jsonl"], "--input bad.jsonl: no usable rows (malformed JSON x1)"),
])
def test_usage_errors_are_one_line_and_write_nothing(tmp_path, capsys, monkeypatch, args, message):
    monkeypatch.chdir(tmp_path)
    write_jsonl(tmp_path / "ok.jsonl", SHAPES["input_output"][:10])
    write_jsonl(tmp_path / "bad.jsonl", [], raw_lines=[b"{"])

    assert main([*args, "--output_dir", "out"]) == 2

    lines = [line for line in capsys.readouterr().err.splitlines() if line.startswith("recipes.")]
    assert len(lines) == 1 and lines[0].startswith(f"recipes.prepare_sft: error: {message}"), lines
    assert not (tmp_path / "out").exists()
