"""Byte identity with Megatron-LM core_v0.15.3 ``tools/preprocess_data.py`` (the real tool, see megatron_tool.py).

core_v0.15.3 is the tag of the pinned megatron-core. Its tool has no flag that adds BOS (see
megatron_lm/README.md), so our two BOS flags, which reproduce core_v0.16's tool, are checked against
the tokenizers those flags build: megatron-core's ``HuggingFaceTokenizer(include_special_tokens=True)``
and the vendored ``megatron.training`` legacy ``_HuggingFaceTokenizer``.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
from conftest import megatron_core_tokenizer
from data_helpers import read_documents, write_jsonl
from megatron_tool import TOOL, ToolRuns, instruct_like_tokenizer, tool_command

from recipes.data import sample_data_dir
from recipes.preprocessing.command import main

CODE = 'def mean(xs: list[float]) -> float:\n\treturn sum(xs) / len(xs)  # 平均\n\n    if x != y: {"k": [1, 2]}'


def corpus_rows() -> list[dict]:
    """zh/en sample text, code, empty and whitespace texts, special-token text, a long document, lists."""
    lines = (sample_data_dir() / "pretrain_zh_en.jsonl").read_text(encoding="utf-8").splitlines()[:60]
    rows = [{"text": json.loads(line)["text"], "title": f"標題 title {index}"} for index, line in enumerate(lines)]
    extra = [
        {"text": CODE, "title": "code"},
        {"text": "", "title": ""},  # an empty document: the tool writes it without tokens
        {"text": "   \n\n\t ", "title": ["", ""]},  # whitespace is text; a list of empty sentences
        {"text": "<|begin_of_text|> special <|eot_id|> tokens in text", "title": ["第一句。", "", "second sentence"]},
        {"text": "emoji 🚀🎉 and combining e\u0301 and \u2028 separator", "title": []},
        {"text": " ".join(json.loads(line)["text"] for line in lines[:40]) * 3, "title": "long"},
    ]
    return rows[:20] + extra + rows[20:]


# name -> (tool flags, our flags, tokenizer); every run reads the same corpus.
RUNS = {
    "default": (["--append-eod", "--workers", "1", "--json-keys", "title", "text"], ["--append-eod"], "bundled"),
    # With partitions the tool merges each key's partition .idx, which only the last key has: one key.
    "no_eod_partitions": (["--workers", "2", "--partitions", "2", "--keep-sequential-samples", "--json-keys",
                           "title"], ["--partitions", "2", "--keep-sequential-samples", "--workers", "2"], "bundled"),
    "instruct_eos": (["--append-eod", "--workers", "1"], ["--append-eod"], "instruct"),
}
# The pinned tool's BOS routes, which fail there (name -> tool flags).
BOS_RUNS = {"special_tokens": ["--append-eod", "--workers", "1", "--tokenizer-hf-include-special-tokens"],
            "legacy": ["--append-eod", "--workers", "1", "--legacy-tokenizer"]}


@pytest.fixture(scope="module")
def tool_outputs(tmp_path_factory, bundled_dir):
    """Every RUNS entry through the real tool, started together (each in its own folder: partition files)."""
    root = tmp_path_factory.mktemp("megatron")
    tokenizers = {"bundled": bundled_dir, "instruct": instruct_like_tokenizer(root / "instruct", bundled_dir)}
    runs = ToolRuns()
    runs_and_tokenizers = [(name, flags, tokenizers[tokenizer]) for name, (flags, _, tokenizer) in RUNS.items()]
    for name, tool_flags, tokenizer in runs_and_tokenizers + [(n, f, bundled_dir) for n, f in BOS_RUNS.items()]:
        folder = root / name
        source = write_jsonl(folder / "in.jsonl", corpus_rows())
        runs.start(name, tool_command(source, folder / "tool", tokenizer, *tool_flags), cwd=folder)
    return root, tokenizers, runs


def keys_of(tool_flags: list[str]) -> list[str]:
    return tool_flags[tool_flags.index("--json-keys") + 1:] if "--json-keys" in tool_flags else ["text"]


@pytest.mark.parametrize("name", list(RUNS))
def test_output_is_byte_identical_to_megatron_lm_preprocess_data(tool_outputs, name):
    root, tokenizers, runs = tool_outputs
    tool_flags, our_flags, tokenizer = RUNS[name]
    folder = root / name
    keys = keys_of(tool_flags)

    code = main(["--input", str(folder / "in.jsonl"), "--output-prefix", str(folder / "ours"), "--json-keys", *keys,
                 "--tokenizer-type", str(tokenizers[tokenizer]), *our_flags])
    runs.result(name)

    assert code == 0
    for key in keys:
        # The tool finalizes only the last key's .idx (its loop variable); ours for the others is checked
        # against IndexedDatasetBuilder in test_preprocess_writer.py.
        suffixes = (".bin", ".idx") if key == keys[-1] else (".bin",)
        for suffix in suffixes:
            ours = (folder / f"ours_{key}_document{suffix}").read_bytes()
            assert ours == (folder / f"tool_{key}_document{suffix}").read_bytes(), (name, key, suffix)


def test_default_documents_have_no_bos_and_end_with_the_tokenizers_eod(tool_outputs):
    root, tokenizers, runs = tool_outputs
    runs.result("default")
    documents, dtype = read_documents(root / "default/tool_text_document")
    runs.result("instruct_eos")
    instruct, _ = read_documents(root / "instruct_eos/tool_text_document")

    assert dtype == np.int32 and len(documents) == len(corpus_rows())
    assert documents[21] == []  # the empty text: a document without tokens
    assert documents[23][0] == 128000  # "<|begin_of_text|>" written in the text itself
    assert all(doc[0] != 128000 and doc[-1] == 128001 for i, doc in enumerate(documents) if doc and i != 23)
    assert all(doc[-1] == 128009 for doc in instruct if doc)
    assert megatron_core_tokenizer(tokenizers["instruct"]).eod == 128009


def test_the_pinned_tool_has_no_working_bos_flag(tool_outputs):
    """Why our BOS flags are checked against tokenizers, not the pinned tool's bytes (megatron_lm/README.md)."""
    root, _, runs = tool_outputs
    code, output = runs.outcome("special_tokens")
    assert code == 2 and "unrecognized arguments: --tokenizer-hf-include-special-tokens" in output
    code, output = runs.outcome("legacy")
    assert "has no attribute 'tokenizer'" in output  # the partition process died; the tool's status is 0
    assert not list((root / "legacy").glob("tool_*"))


def legacy_tokenizer(folder):
    """megatron.training's legacy ``_HuggingFaceTokenizer`` (vendored from core_v0.15.3)."""
    import sys

    sys.path.insert(0, str(TOOL.parents[1]))
    try:
        from megatron.training.tokenizer.tokenizer import _HuggingFaceTokenizer
    finally:
        sys.path.remove(str(TOOL.parents[1]))
    return _HuggingFaceTokenizer(str(folder))


@pytest.mark.parametrize("flag", ["--tokenizer-hf-include-special-tokens", "--legacy-tokenizer"])
def test_bos_flags_write_the_ids_of_the_tokenizer_the_flag_builds(tmp_path, bundled_dir, flag):
    rows = corpus_rows()
    source = write_jsonl(tmp_path / "in.jsonl", rows)
    reference = (megatron_core_tokenizer(bundled_dir, include_special_tokens=True)
                 if flag.startswith("--tokenizer-hf") else legacy_tokenizer(bundled_dir))

    assert main(["--input", str(source), "--output-prefix", str(tmp_path / "o"), "--append-eod", flag]) == 0

    documents, _ = read_documents(tmp_path / "o_text_document")
    want = [list(reference.tokenize(row["text"])) + [reference.eod] for row in rows]
    assert documents == want
    assert all(doc[0] == 128000 for doc in documents) and documents[21] == [128000, 128001]


def test_eod_is_the_one_nemo_reads_as_eod(tmp_path, bundled_dir):
    """NeMo's GPT data path masks and splits on ``tokenizer.eod``; the id written must be that one."""
    from nemo.collections.common.tokenizers.huggingface.auto_tokenizer import AutoTokenizer

    source = write_jsonl(tmp_path / "in.jsonl", [{"text": "第一 first"}, {"text": "second"}])
    assert main(["--input", str(source), "--output-prefix", str(tmp_path / "o"), "--append-eod"]) == 0
    nemo = AutoTokenizer(pretrained_model_name=str(bundled_dir))

    documents, _ = read_documents(tmp_path / "o_text_document")
    assert [doc[-1] for doc in documents] == [nemo.eod, nemo.eod]
    assert [doc[:-1] for doc in documents] == [nemo.text_to_ids("第一 first"), nemo.text_to_ids("second")]


@pytest.mark.parametrize("include_special,backend", [(False, "auto"), (False, "hf"), (True, "auto")])
def test_rust_tokenizer_ids_equal_megatron_core_tokenize(bundled_dir, include_special, backend):
    from recipes.data.doc_tokenizer import FastTokenizer, RustTokenizer, TokenizerChoice, open_tokenizer

    texts = [row[key] for row in corpus_rows() for key in ("text", "title") if isinstance(row[key], str)]
    reference = megatron_core_tokenizer(bundled_dir, include_special_tokens=include_special)

    ours = open_tokenizer(TokenizerChoice(str(bundled_dir), include_special_tokens=include_special), backend)

    # The fast path (tiktoken) by default; tokenizers with --tokenizer-backend hf or when BOS is added.
    assert isinstance(ours, FastTokenizer if backend == "auto" and not include_special else RustTokenizer)
    assert [list(ids) for ids in ours.encode(texts)] == [list(reference.tokenize(text)) for text in texts]
    assert (ours.eod, ours.vocab_size) == (reference.eod, reference.vocab_size)
