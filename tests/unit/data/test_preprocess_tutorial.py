"""The tutorial's preprocessing command, run unchanged in a fresh interpreter."""

from __future__ import annotations

import numpy as np
from data_helpers import output_files, read_documents, run_module, write_jsonl

TEXTS = [
    "維基新聞：台北市今天舉行科技展覽，吸引許多民眾參觀。",
    "The quick brown fox jumps over the lazy dog.\nSecond paragraph with numbers 12345.",
    "   ",  # whitespace is text: tokenized like Megatron does
    "混合 mixed 文本 with emoji 🚀 and tabs\tand \"quotes\".",
    "短",
]
TUTORIAL = ("--input=data/custom_dataset/json/wikinews-zhtw.jsonl --json-keys=text --dataset-impl mmap "
            "--tokenizer-library=huggingface --tokenizer-type meta-llama/Llama-3.1-8B-Instruct "
            "--output-prefix=data/custom_dataset/preprocessed/wikinews --append-eod").split()


def test_tutorial_command_writes_megatron_mmap_with_exact_tokens(tmp_path, expected_ids):
    write_jsonl(tmp_path / "data/custom_dataset/json/wikinews-zhtw.jsonl",
                [{"text": text, "id": index} for index, text in enumerate(TEXTS)])

    result = run_module("recipes.preprocess", TUTORIAL, cwd=tmp_path)

    assert result.returncode == 0, result.stderr
    assert "documents  5" in result.stdout and "skipped    0" in result.stdout
    assert output_files(tmp_path / "data/custom_dataset/preprocessed") == [
        "wikinews_text_document.bin", "wikinews_text_document.idx"]
    documents, dtype = read_documents(tmp_path / "data/custom_dataset/preprocessed/wikinews_text_document")
    assert dtype == np.int32
    assert documents == [expected_ids(text) for text in TEXTS]
    assert all(doc[0] == 128000 and doc[-1] == 128001 for doc in documents)  # BOS ... <|end_of_text|>


def test_help_is_fast_and_lists_megatron_flags(tmp_path):
    result = run_module("recipes.preprocess", ["--help"], cwd=tmp_path, timeout=20)

    assert result.returncode == 0
    for flag in ("--input", "--json-keys", "--output-prefix", "--tokenizer-library", "--tokenizer-type",
                 "--append-eod", "--workers", "--dataset-impl", "--partitions", "--skip-bad-lines", "--log-interval"):
        assert flag in result.stdout
