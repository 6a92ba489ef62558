"""The tutorial's preprocessing command in a fresh interpreter: a cached tokenizer is used as is, never replaced."""

from __future__ import annotations

import numpy as np
from data_helpers import error_lines, output_files, read_documents, run_module, write_jsonl
from megatron_tool import instruct_like_tokenizer

INSTRUCT = "meta-llama/Llama-3.1-8B-Instruct"
TEXTS = [
    "維基新聞：台北市今天舉行科技展覽，吸引許多民眾參觀。",
    "The quick brown fox jumps over the lazy dog.\nSecond paragraph with numbers 12345.",
    "   ",  # whitespace is text: tokenized like Megatron does
    "混合 mixed 文本 with emoji 🚀 and tabs\tand \"quotes\".",
    "短",
]
TUTORIAL = ("--input=data/custom_dataset/json/wikinews-zhtw.jsonl --json-keys=text --dataset-impl mmap "
            f"--tokenizer-library=huggingface --tokenizer-type {INSTRUCT} "
            "--output-prefix=data/custom_dataset/preprocessed/wikinews --append-eod").split()


def write_news(folder):
    write_jsonl(folder / "data/custom_dataset/json/wikinews-zhtw.jsonl",
                [{"text": text, "id": index} for index, text in enumerate(TEXTS)])


def hf_cache_with(cache, repo_id: str, files_from) -> None:
    """An HF hub cache holding ``repo_id``'s tokenizer files, laid out as huggingface_hub writes it."""
    revision = "0" * 40
    repo = cache / f"models--{repo_id.replace('/', '--')}"
    (repo / "refs").mkdir(parents=True)
    (repo / "refs/main").write_text(revision)
    (repo / "snapshots").mkdir()
    files_from.rename(repo / "snapshots" / revision)


def test_tutorial_command_offline_without_the_tokenizer_says_how_to_bring_it(tmp_path):
    write_news(tmp_path)

    result = run_module("recipes.preprocess", TUTORIAL, cwd=tmp_path,
                        env={"HF_HUB_OFFLINE": "1", "HF_HUB_CACHE": str(tmp_path / "hf-cache")})

    assert result.returncode == 2
    (line,) = error_lines(result.stderr)
    assert line.startswith(f"recipes.preprocess: error: --tokenizer-type {INSTRUCT}: not in the local Hugging Face")
    assert f"huggingface-cli download {INSTRUCT} --include 'tokenizer*'" in line and "--tokenizer" in line
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "data/custom_dataset/preprocessed").exists()


def test_tutorial_command_uses_the_cached_tokenizer_and_its_eos(tmp_path, bundled_dir):
    write_news(tmp_path)
    hf_cache_with(tmp_path / "hf-cache", INSTRUCT, instruct_like_tokenizer(tmp_path / "instruct", bundled_dir))

    result = run_module("recipes.preprocess", TUTORIAL, cwd=tmp_path,
                        env={"HF_HUB_OFFLINE": "1", "HF_HUB_CACHE": str(tmp_path / "hf-cache")})

    assert result.returncode == 0, result.stderr
    documents, _ = read_documents(tmp_path / "data/custom_dataset/preprocessed/wikinews_text_document")
    assert [doc[-1] for doc in documents] == [128009] * 5  # the cached config's <|eot_id|>, not the bundled 128001


def test_tutorial_command_with_the_bundled_tokenizer(tmp_path, expected_ids):
    write_news(tmp_path)
    command = [arg if arg != INSTRUCT else "llama3" for arg in TUTORIAL]

    result = run_module("recipes.preprocess", command, cwd=tmp_path)

    assert result.returncode == 0, result.stderr
    assert "documents  5" in result.stdout and "skipped    0" in result.stdout
    assert output_files(tmp_path / "data/custom_dataset/preprocessed") == [
        "wikinews_text_document.bin", "wikinews_text_document.idx"]
    documents, dtype = read_documents(tmp_path / "data/custom_dataset/preprocessed/wikinews_text_document")
    assert dtype == np.int32
    assert documents == [expected_ids(text) for text in TEXTS]
    assert all(doc[0] != 128000 and doc[-1] == 128001 for doc in documents)  # no BOS ... <|end_of_text|>


def test_help_is_fast_and_lists_megatron_flags(tmp_path):
    result = run_module("recipes.preprocess", ["--help"], cwd=tmp_path, timeout=20)

    assert result.returncode == 0
    for flag in ("--input", "--json-keys", "--output-prefix", "--tokenizer-library", "--tokenizer-type",
                 "--append-eod", "--workers", "--dataset-impl", "--partitions", "--skip-bad-lines", "--log-interval",
                 "--tokenizer-hf-include-special-tokens", "--legacy-tokenizer", "--overwrite"):
        assert flag in result.stdout
