"""Samples from mmap and JSONL data, and the step-indexed sampler that makes resume exact."""

from __future__ import annotations

import numpy as np
import pytest

from recipes.core.errors import UsageError
from testlib import write_mmap


def test_mmap_samples_are_the_concatenated_document_stream(tmp_path):
    from recipes.hf.data import build_mmap_samples

    docs = [[i * 100 + j for j in range(5 + i % 3)] for i in range(20)]  # distinct tokens per document
    prefix = write_mmap(tmp_path / "docs", docs)
    samples = build_mmap_samples(str(prefix), "100,0,0", "train", seq_length=8, seed=3)
    stream = np.concatenate([docs[i] for i in samples.order])
    assert len(samples) == (len(stream) - 1) // 8
    for index in range(len(samples)):
        item = samples[index]
        np.testing.assert_array_equal(item["input_ids"], stream[index * 8: index * 8 + 8])
        np.testing.assert_array_equal(item["labels"], stream[index * 8 + 1: index * 8 + 9])
    assert sorted(samples.order.tolist()) == list(range(20))  # a seeded shuffle of the documents


def test_splits_partition_documents_and_blends_follow_weights(tmp_path):
    from recipes.hf.data import build_mmap_samples

    a = write_mmap(tmp_path / "a", [[1] * 9] * 40)
    b = write_mmap(tmp_path / "b", [[2] * 9] * 40)
    train = build_mmap_samples(str(a), "90,10,0", "train", 8, seed=1)
    val = build_mmap_samples(str(a), "90,10,0", "validation", 8, seed=1)
    assert set(train.order) & set(val.order) == set() and len(val.order) == 4
    blend = build_mmap_samples(f"0.25 {a} 0.75 {b}", "100,0,0", "train", 8, seed=1)
    first_tokens = [int(blend[i]["input_ids"][0]) for i in range(40)]
    assert first_tokens.count(1) == 10 and first_tokens.count(2) == 30
    with pytest.raises(UsageError, match="--dataset_path: .*missing.bin not found"):
        build_mmap_samples(str(tmp_path / "missing"), "1,0,0", "train", 8, seed=1)


def test_step_sampler_resumes_at_the_exact_next_batch_on_any_world_size():
    from recipes.hf.datamodule import StepBatchSampler

    def batches(world, rank, start):
        return list(StepBatchSampler(10, 4, 1, world, rank, seed=5, start_step=start, total_steps=6))

    single = batches(1, 0, 0)
    assert len(single) == 6 * 4 and batches(1, 0, 4) == single[4 * 4:]
    for step in range(6):  # two ranks split each global batch exactly as one rank accumulates it
        two = [batches(2, r, 0)[step * 2: step * 2 + 2] for r in (0, 1)]
        assert sorted(sum(two[0] + two[1], [])) == sorted(sum(single[step * 4: step * 4 + 4], []))
    seen = sum(single, [])
    assert sorted(seen[:10]) == list(range(10)) and seen[:10] != seen[10:20]  # a new permutation per epoch


def test_sft_sample_masks_the_prompt_and_ends_with_eos(tmp_path, tokenizer):
    import json

    from recipes.hf.sft import IGNORE_INDEX, SFTSamples

    (tmp_path / "training.jsonl").write_text(json.dumps({"input": "Capital of France?", "output": "Paris"}) + "\n")
    sample = SFTSamples(str(tmp_path), "train", tokenizer, seq_length=64)[0]
    answer = tokenizer.encode(" Paris", add_special_tokens=False) + [tokenizer.eos_token_id]
    assert sample["labels"][-len(answer):].tolist() == answer
    assert set(sample["labels"][:-len(answer)].tolist()) == {IGNORE_INDEX}
    full = [tokenizer.bos_token_id] + tokenizer.encode("Capital of France? Paris", add_special_tokens=False)
    assert sample["input_ids"].tolist() == full  # same tokens as the joined prompt
    short = SFTSamples(str(tmp_path), "train", tokenizer, seq_length=4)[0]
    # NeMo's max_seq_length counts BOS..EOS: the model sees seq_length - 1 of them.
    assert len(short["input_ids"]) == 3 and short["labels"][-1] == tokenizer.eos_token_id


def test_bad_jsonl_row_names_file_and_line(tmp_path, tokenizer):
    from recipes.hf.sft import SFTSamples

    (tmp_path / "training.jsonl").write_text('{"input": "a", "output": "b"}\n{"prompt": "x"}\n')
    with pytest.raises(UsageError, match=r"training.jsonl:2: missing input, output"):
        SFTSamples(str(tmp_path), "train", tokenizer, seq_length=8)
