""".bin/.idx pairs and finetuning JSONL are checked in full before submission, one line per bad file.

Oracle for the mmap files: megatron-core itself. Its IndexedDatasetBuilder writes the good pairs;
its IndexedDataset reader must read every sequence of a pair our check accepts, and must fail on
(or misread) each corrupted pair our check refuses.
"""

import json
import shutil

import numpy as np
import pytest

from recipes import finetune, pretrain
from recipes.data.mmap_index import index_problems
from testlib import write_mmap

DOCS = [[128000, 5, 6, 7, 128001], [9, 8], [1, 2, 3, 4, 5, 6, 7, 8, 9]] * 3


def megatron_reads_everything(prefix) -> bool:
    """True when megatron-core's reader opens the pair and every sequence has the length its index says."""
    from megatron.core.datasets.indexed_dataset import IndexedDataset

    try:
        dataset = IndexedDataset(str(prefix), mmap=True)
        lengths = dataset.index.sequence_lengths
        return all(len(dataset[i]) == lengths[i] for i in range(len(dataset)))
    except Exception:  # noqa: BLE001 - any failure of the reader means the pair is unusable
        return False


def write_uint16(prefix, documents):
    import torch
    from megatron.core.datasets.indexed_dataset import IndexedDatasetBuilder

    builder = IndexedDatasetBuilder(str(prefix) + ".bin", dtype=np.uint16)
    for doc in documents:
        builder.add_document(torch.tensor(doc, dtype=torch.int64), [len(doc)])
    builder.finalize(str(prefix) + ".idx")
    return prefix


@pytest.fixture
def pairs(tmp_path):
    good = write_mmap(tmp_path / "good", DOCS)
    other = write_mmap(tmp_path / "other", DOCS[:4])
    small = write_uint16(tmp_path / "small", DOCS)
    made = {"good": good, "small": small}
    truncated = tmp_path / "truncated"
    shutil.copy(f"{good}.idx", f"{truncated}.idx")
    (tmp_path / "truncated.bin").write_bytes((tmp_path / "good.bin").read_bytes()[:-8])
    swapped = tmp_path / "swapped"
    shutil.copy(f"{good}.bin", f"{swapped}.bin")
    shutil.copy(f"{other}.idx", f"{swapped}.idx")
    garbage = tmp_path / "garbage"
    shutil.copy(f"{good}.bin", f"{garbage}.bin")
    (tmp_path / "garbage.idx").write_bytes(np.random.default_rng(0).bytes(200))
    cut = tmp_path / "cut_idx"
    shutil.copy(f"{good}.bin", f"{cut}.bin")
    (tmp_path / "cut_idx.idx").write_bytes((tmp_path / "good.idx").read_bytes()[:60])
    made.update(truncated=truncated, swapped=swapped, garbage=garbage, cut_idx=cut)
    return made


def test_pairs_written_by_megatron_pass(pairs):
    for name in ("good", "small"):
        assert megatron_reads_everything(pairs[name])
        assert index_problems(str(pairs[name])) == []


@pytest.mark.parametrize("name,words", [("truncated", "truncated"), ("swapped", "different datasets"),
                                        ("garbage", "bad header"), ("cut_idx", "does not match its header")])
def test_corrupt_pairs_are_refused_as_megatron_would_fail(pairs, name, words):
    assert not megatron_reads_everything(pairs[name]) or name == "swapped"
    problems = index_problems(str(pairs[name]))
    assert len(problems) == 1 and f"{pairs[name]}.idx" in problems[0] and words in problems[0], problems


def test_swapped_index_misdescribes_the_tokens(pairs):
    """Megatron reads a swapped index silently: it sees fewer tokens than the .bin holds."""
    from megatron.core.datasets.indexed_dataset import IndexedDataset

    dataset = IndexedDataset(str(pairs["swapped"]), mmap=True)
    described = int(dataset.index.sequence_lengths.sum()) * 4
    assert described != (pairs["swapped"].parent / "swapped.bin").stat().st_size


def test_cli_names_each_bad_pair_of_a_blend_on_one_line(pairs, isolated, capsys):
    blend = " ".join(f"1 {pairs[n]}" for n in ("good", "truncated", "garbage"))
    assert pretrain.main(["-M", "tiny", "--backend", "hf", "--cpu", "-D", blend, "--dryrun"]) == 2
    errors = [line for line in capsys.readouterr().err.splitlines() if "error:" in line]
    assert len(errors) == 2 and "truncated.idx" in errors[0] and "garbage.idx" in errors[1], errors


def write_rows(path, rows):
    path.write_text("".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in rows))


GOOD = {"input": "What is 2 + 2?", "output": "4"}


@pytest.mark.parametrize("bad,line,words", [
    ("{broken", 5, "not valid JSON"),
    ({"input": "q", "output": 3}, 5, '"output" must be a string, not int'),
    ({"input": ["q"], "output": "a"}, 5, '"input" must be a string, not list'),
    ({"question": "q"}, 5, 'needs "input" and "output"'),
    ("", 5, "empty line"),
])
def test_every_line_of_training_jsonl_is_checked(bad, line, words, isolated, capsys):
    folder = isolated / "sft"
    folder.mkdir()
    write_rows(folder / "training.jsonl", [GOOD] * 4 + [bad] + [GOOD] * 20)
    write_rows(folder / "validation.jsonl", [GOOD] * 3)
    assert finetune.main(["-M", "tiny", "--backend", "hf", "--cpu", "-D", str(folder), "--dryrun"]) == 2
    errors = [e for e in capsys.readouterr().err.splitlines() if "error:" in e]
    assert len(errors) == 1 and f"training.jsonl:{line}: {words}" in errors[0], errors


def test_bad_validation_split_and_bad_line_count(isolated, capsys):
    folder = isolated / "sft"
    folder.mkdir()
    write_rows(folder / "training.jsonl", [GOOD, "{x", GOOD, "{y"])
    write_rows(folder / "validation.jsonl", [GOOD, {"input": 1, "output": "a"}])
    assert finetune.main(["-M", "tiny", "--backend", "hf", "--cpu", "-D", str(folder), "--dryrun"]) == 2
    errors = [e for e in capsys.readouterr().err.splitlines() if "error:" in e]
    assert len(errors) == 2 and "training.jsonl:2:" in errors[0] and "(2 bad lines in all)" in errors[0]
    assert "validation.jsonl:2:" in errors[1], errors


def test_a_trailing_blank_line_is_accepted(isolated, capsys):
    folder = isolated / "sft"
    folder.mkdir()
    (folder / "training.jsonl").write_text(json.dumps(GOOD) + "\n\n")
    assert finetune.main(["-M", "tiny", "--backend", "hf", "--cpu", "-D", str(folder), "--dryrun"]) == 0


def test_a_folder_with_bos_written_as_text_is_refused(tmp_path):
    """Rows of an older `prepare_sft --template llama3` hold <|begin_of_text|>: both backends add BOS
    themselves (NeMo's GPTSFTDataset with add_bos, see tests/unit/hf/test_sft_tokens_nemo.py)."""
    import json

    from recipes.data.sft_files import folder_problems

    folder = tmp_path / "old"
    folder.mkdir()
    row = {"input": "<|begin_of_text|><|start_header_id|>user<|end_header_id|>\n\nhi<|eot_id|>", "output": "yo"}
    (folder / "training.jsonl").write_text(json.dumps(row) + "\n")
    (problem,) = folder_problems(folder)
    assert "training.jsonl:1" in problem and "<|begin_of_text|> as text" in problem


def test_an_empty_test_split_is_accepted(tmp_path):
    """`prepare_sft --test_size 0` writes an empty test.jsonl: no test rows, not a broken file."""
    from recipes.data.sft import prepare_sft
    from recipes.data.sft_files import folder_problems

    source = tmp_path / "rows.jsonl"
    source.write_text("".join(f'{{"input": "q{i}", "output": "a{i}"}}\n' for i in range(10)))
    prepare_sft(str(source), str(tmp_path / "sft"), val_size=2, test_size=0)
    assert (tmp_path / "sft" / "test.jsonl").stat().st_size == 0
    assert folder_problems(tmp_path / "sft") == []
