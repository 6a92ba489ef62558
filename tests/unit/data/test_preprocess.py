"""recipes.preprocess in-process: Megatron byte-identity, input kinds, the NeMo-Run task function."""

from __future__ import annotations

import gzip
import json
import pickle

import pytest
from data_helpers import read_documents, write_jsonl

from recipes.data import sample_data_dir
from recipes.data.mmap import preprocess
from recipes.preprocess import main


def sample_rows(count: int = 120) -> list[dict]:
    lines = (sample_data_dir() / "pretrain_zh_en.jsonl").read_text(encoding="utf-8").splitlines()[:count]
    rows = [{"text": json.loads(line)["text"], "title": f"標題 title {index}"} for index, line in enumerate(lines)]
    rows[3]["text"] = "  leading and trailing spaces  \n\n"
    rows[7]["text"] = "<|begin_of_text|> special token text <|eot_id|>"  # HF parses special tokens in text
    return rows


def megatron_reference(input_path, output_prefix, json_keys, tokenizer, append_eod):
    """Megatron-LM tools/preprocess_data.py (one partition, no --split-sentences), literally.

    ``Encoder.encode`` + ``Partition.process_json_file`` with ``_HuggingFaceTokenizer``
    (``tokenize = tokenizer(text).input_ids``, ``eod = eos_token_id``, ``vocab_size = len(tokenizer)``).
    Every key is finalized, as in Megatron's partition merge (its single-partition path finalizes
    only the last key, a known slip that would leave the other keys without .idx).
    """
    from megatron.core.datasets import indexed_dataset

    builders, output_idx_files = {}, {}
    for key in json_keys:
        output_bin_file = "{}_{}_{}.bin".format(output_prefix, key, "document")
        output_idx_files[key] = "{}_{}_{}.idx".format(output_prefix, key, "document")
        builders[key] = indexed_dataset.IndexedDatasetBuilder(
            output_bin_file, dtype=indexed_dataset.DType.optimal_dtype(len(tokenizer)))
    with open(input_path, "r", encoding="utf-8") as fin:
        for json_line in fin:
            data = json.loads(json_line)
            for key in json_keys:
                text = data[key]
                sentences = text if isinstance(text, list) else [text]
                doc_ids, sentence_lens = [], []
                for sentence in sentences:
                    sentence_ids = tokenizer(sentence).input_ids
                    if len(sentence_ids) > 0:
                        doc_ids.extend(sentence_ids)
                        sentence_lens.append(len(sentence_ids))
                if len(doc_ids) > 0 and append_eod:
                    doc_ids.append(tokenizer.eos_token_id)
                    sentence_lens[-1] += 1
                builders[key].add_document(doc_ids, sentence_lens)
    for key in json_keys:
        builders[key].finalize(output_idx_files[key])


@pytest.mark.parametrize("workers, append_eod", [(1, True), (2, True), (1, False)])
def test_output_is_byte_identical_to_megatron_preprocess_data(tmp_path, llama3, workers, append_eod):
    source = write_jsonl(tmp_path / "in.jsonl", sample_rows())
    megatron_reference(source, tmp_path / "ref", ["text", "title"], llama3, append_eod)

    # Small chunks: many chunks in flight, so ordering across workers is exercised.
    summary = preprocess(str(source), str(tmp_path / "ours"), json_keys=["text", "title"], append_eod=append_eod,
                         workers=workers, chunk_bytes=2048, progress=False)

    for key in ("text", "title"):
        for suffix in (".bin", ".idx"):
            ours = (tmp_path / f"ours_{key}_document{suffix}").read_bytes()
            assert ours == (tmp_path / f"ref_{key}_document{suffix}").read_bytes(), (key, suffix)
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


def test_megatron_tokenizer_spelling_and_partitions_are_accepted(tmp_path, expected_ids, capsys):
    source = write_jsonl(tmp_path / "in.jsonl", [{"text": "hello"}])

    code = main(["--input", str(source), "--output-prefix", str(tmp_path / "out"), "--tokenizer-type",
                 "HuggingFaceTokenizer", "--tokenizer-model", "llama3", "--workers", "1", "--partitions", "2",
                 "--keep-sequential-samples", "--append-eod"])

    assert code == 0
    assert read_documents(tmp_path / "out_text_document")[0] == [expected_ids("hello")]
    assert "--partitions 2 is accepted for compatibility" in capsys.readouterr().err


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


def test_chunk_write_equals_one_add_document_per_document(tmp_path):
    import numpy as np
    from megatron.core.datasets.indexed_dataset import IndexedDatasetBuilder

    from recipes.data.mmap import add_documents

    docs = [[5, 6, 7], [], [8], [], [], [9, 10]]  # empty documents: no sequence, like Megatron
    reference = IndexedDatasetBuilder(str(tmp_path / "ref.bin"), dtype=np.int32)
    for doc in docs:
        reference.add_document(doc, [len(doc)] if doc else [])
    reference.finalize(str(tmp_path / "ref.idx"))
    chunked = IndexedDatasetBuilder(str(tmp_path / "new.bin"), dtype=np.int32)
    for part in (docs[:2], docs[2:]):
        add_documents(chunked, np.array([t for doc in part for t in doc], dtype=np.int32),
                      np.array([len(doc) for doc in part], dtype=np.int64))
    chunked.finalize(str(tmp_path / "new.idx"))

    for suffix in (".bin", ".idx"):
        assert (tmp_path / f"new{suffix}").read_bytes() == (tmp_path / f"ref{suffix}").read_bytes()


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
