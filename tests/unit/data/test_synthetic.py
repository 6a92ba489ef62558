"""recipes.synthetic and the bundled sample corpus."""

from __future__ import annotations

import importlib.util
import json
import re

import pytest
from data_helpers import REPO, output_files

from recipes.data import sample_data_dir
from recipes.data.synthetic import generate
from recipes.data.synthetic_command import main

CJK = re.compile(r"[\u4e00-\u9fff]")


def test_generator_is_deterministic_and_distinct():
    first = generate(300, seed=5)

    assert first == generate(300, seed=5)
    assert first != generate(300, seed=6)
    assert len({(row["input"], row["output"]) for row in first}) == 300


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_language_choice(lang):
    rows = generate(100, seed=1, lang=lang)

    with_cjk = [bool(CJK.search(row["input"])) for row in rows]
    assert all(with_cjk) if lang == "zh" else not any(with_cjk)


def test_answers_are_correct_arithmetic():
    for row in generate(400, seed=3, lang="en"):
        match = re.fullmatch(r"What is (\d+) (plus|minus|times) (\d+)\?", row["input"])
        if match:
            a, op, b = int(match[1]), match[2], int(match[3])
            value = {"plus": a + b, "minus": a - b, "times": a * b}[op]
            assert row["output"] == f"{a} {op} {b} is {value}."


def test_cli_writes_the_same_split_folder_twice(tmp_path, capsys):
    for name in ("a", "b"):
        assert main(["--samples", "50", "--seed", "9", "--output_dir", str(tmp_path / name), "--lang", "mixed"]) == 0

    assert output_files(tmp_path / "a") == ["prepare_report.json", "test.jsonl", "training.jsonl", "validation.jsonl"]
    for name in ("training.jsonl", "validation.jsonl", "test.jsonl"):
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes()
    lines = (tmp_path / "a/training.jsonl").read_text(encoding="utf-8").splitlines()
    assert len(lines) == 40 and all(set(json.loads(line)) == {"input", "output"} for line in lines)
    assert "training 40, validation 5, test 5" in capsys.readouterr().out


def test_too_few_samples_is_a_usage_error(tmp_path, capsys):
    assert main(["--samples", "3", "--output_dir", str(tmp_path / "x")]) == 2
    assert "--samples 3: need at least 10" in capsys.readouterr().err


def test_bundled_samples_are_small_valid_and_regenerable():
    folder = sample_data_dir()
    pretrain = [json.loads(line) for line in (folder / "pretrain_zh_en.jsonl").read_text(encoding="utf-8").splitlines()]
    pairs = [json.loads(line) for line in (folder / "instructions.jsonl").read_text(encoding="utf-8").splitlines()]

    assert 200 <= len(pretrain) <= 1000 and all(set(doc) == {"text"} and doc["text"] for doc in pretrain)
    assert 200 <= len(pairs) <= 1000 and all(set(pair) == {"input", "output"} for pair in pairs)
    assert any(CJK.search(doc["text"]) for doc in pretrain) and any(not CJK.search(d["text"]) for d in pretrain)
    assert sum(path.stat().st_size for path in folder.iterdir()) < 300 * 1024
    spec = importlib.util.spec_from_file_location("make_sample_data", REPO / "scripts/make_sample_data.py")
    maker = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(maker)
    for name, text in maker.render_files().items():
        assert (folder / name).read_text(encoding="utf-8") == text, f"{name} is stale: run scripts/make_sample_data.py"
