"""recipes.preprocess in-process: Megatron byte-identity, input kinds, the NeMo-Run task function."""

from __future__ import annotations

import gzip
import json
import pickle

import pytest
from data_helpers import read_documents, write_jsonl

from recipes.data import sample_data_dir
from recipes.data.mmap import preprocess
from recipes.preprocessing.command import main


def sample_rows(count: int = 120) -> list[dict]:
    lines = (sample_data_dir() / "pretrain_zh_en.jsonl").read_text(encoding="utf-8").splitlines()[:count]
    rows = [{"text": json.loads(line)["text"], "title": f"標題 title {index}"} for index, line in enumerate(lines)]
    rows[3]["text"] = "  leading and trailing spaces  \n\n"
    rows[7]["text"] = "<|begin_of_text|> special token text <|eot_id|>"  # HF parses special tokens in text
    return rows


@pytest.mark.parametrize("workers", [1, 2])
def test_small_chunks_across_workers_keep_every_document_in_order(tmp_path, expected_ids, workers):
    rows = sample_rows()
    source = write_jsonl(tmp_path / "in.jsonl", rows)

    # Small chunks: many chunks in flight, so ordering across workers is exercised.
    summary = preprocess(str(source), str(tmp_path / "ours"), json_keys=["text", "title"], append_eod=True,
                         workers=workers, chunk_bytes=2048, progress=False)

    for key in ("text", "title"):
        assert read_documents(tmp_path / f"ours_{key}_document")[0] == [expected_ids(row[key]) for row in rows]
    assert summary["documents"] == 120 and summary["dtype"] == "int32"


def test_every_input_kind_gives_the_same_documents(tmp_path, expected_ids):
    rows = sample_rows(30)
    write_jsonl(tmp_path / "plain.jsonl", rows)
    with gzip.open(tmp_path / "packed.jsonl.gz", "wb") as handle:
        handle.write((tmp_path / "plain.jsonl").read_bytes())
    write_jsonl(tmp_path / "parts/a-000.jsonl", rows[:10])
    with gzip.open(tmp_path / "parts/a-001.jsonl.gz", "wb") as handle:
        handle.write(write_jsonl(tmp_path / "tmp.jsonl", rows[10:]).read_bytes())
    import pyarrow as pa
    import pyarrow.parquet as pq

    pq.write_table(pa.table({"text": [row["text"] for row in rows]}), tmp_path / "table.parquet", row_group_size=7)
    want = [expected_ids(row["text"]) for row in rows]

    for name, spec in [("gz", "packed.jsonl.gz"), ("dir", "parts"), ("glob", "parts/a-*"), ("parquet", "table.parquet")]:
        assert main(["--input", str(tmp_path / spec), "--output-prefix", str(tmp_path / name), "--append-eod"]) == 0
        assert read_documents(tmp_path / f"{name}_text_document")[0] == want, name


def test_multiple_json_keys_write_a_pair_per_key(tmp_path, expected_ids, capsys):
    rows = [{"question": f"問題 {i}?", "answer": f"answer {i}"} for i in range(5)]
    source = write_jsonl(tmp_path / "qa.jsonl", rows)

    code = main(["--input", str(source), "--json-keys", "question", "answer", "--output-prefix", str(tmp_path / "qa")])

    assert code == 0
    assert read_documents(tmp_path / "qa_question_document")[0] == [expected_ids(r["question"], False) for r in rows]
    assert read_documents(tmp_path / "qa_answer_document")[0] == [expected_ids(r["answer"], False) for r in rows]
    assert "qa_question_document.bin/.idx" in capsys.readouterr().out


def test_megatron_tokenizer_spelling_and_sequential_partitions_are_accepted(tmp_path, expected_ids):
    source = write_jsonl(tmp_path / "in.jsonl", [{"text": "hello"}, {"text": "world"}, {"text": "again"}])

    code = main(["--input", str(source), "--output-prefix", str(tmp_path / "out"), "--tokenizer-type",
                 "HuggingFaceTokenizer", "--tokenizer-model", "llama3", "--workers", "1", "--partitions", "2",
                 "--keep-sequential-samples", "--append-eod"])

    assert code == 0
    assert read_documents(tmp_path / "out_text_document")[0] == [expected_ids(t) for t in ("hello", "world", "again")]


def test_log_lines_every_log_interval_documents_when_not_a_terminal(tmp_path, capsys):
    source = write_jsonl(tmp_path / "in.jsonl", [{"text": f"doc {i}"} for i in range(30)])

    assert main(["--input", str(source), "--output-prefix", str(tmp_path / "o"), "--log-interval", "10"]) == 0

    assert "Processed 30 documents" in capsys.readouterr().err


def test_preprocess_is_a_picklable_nemo_run_task(tmp_path):
    import fiddle as fdl
    import nemo_run as run

    source = write_jsonl(tmp_path / "in.jsonl", [{"text": "任務 task"}])
    task = run.Partial(preprocess, input=str(source), output_prefix=str(tmp_path / "task"), workers=1)

    summary = fdl.build(pickle.loads(pickle.dumps(task)))()

    assert summary["documents"] == 1 and summary["outputs"] == {"text": str(tmp_path / "task_text_document")}
    assert (tmp_path / "task_text_document.idx").exists()


def test_hub_dataset_id_is_streamed_when_the_hub_answers(tmp_path, monkeypatch, expected_ids):
    import sys
    import types

    rows = [{"text": f"串流 stream {i}", "meta": i} for i in range(5)]
    calls = []

    def load_dataset(repo_id, config=None, split="train", streaming=False, revision=None):
        calls.append((repo_id, split, streaming))
        return iter(rows)

    monkeypatch.setitem(sys.modules, "datasets", types.SimpleNamespace(load_dataset=load_dataset))
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.chdir(tmp_path)

    summary = preprocess("someone/news", str(tmp_path / "hub"), progress=False)

    assert calls == [("someone/news", "train", True)] and summary["documents"] == 5
    assert read_documents(tmp_path / "hub_text_document")[0] == [expected_ids(row["text"]) for row in rows]
