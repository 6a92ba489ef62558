"""Both backends tokenize an SFT folder alike: the oracle is NeMo's own GPTSFTDataset, built from the
Megatron recipe's FineTuningDataModule config over the bundled Llama 3 tokenizer (NeMo's wrapper)."""

from __future__ import annotations

import json

import pytest

pytest.importorskip("nemo.collections.llm")

BOS, EOS, EOT = 128000, 128001, 128009
SEQ_LENGTH = 48
LONG_INPUT = "a long question about cats and dogs " * 20  # > SEQ_LENGTH tokens: the input is cut
LONG_OUTPUT = "a very long answer about birds " * 20  # the input alone cannot make room: the answer is cut
SOURCE = [
    {"instruction": "Translate to French", "input": "cat", "output": "chat"},
    {"instruction": "Name a colour", "output": "  blue  "},
    {"query": "Capital of France?", "answer": "Paris"},
    {"query": "中文問題：一加一？", "answer": "二"},
    ["hi", "hello", "how are you?", "fine, thanks", "bye"],
    {"query": LONG_INPUT, "answer": "yes"},
    {"query": "short", "answer": LONG_OUTPUT},
]
PLAIN_ROWS = [  # written by hand, not by prepare_sft: outer spaces, newlines, special tokens as text
    {"input": "  What is 2 plus 2?  ", "output": " 4 "},
    {"input": "Line one\nline two\n", "output": "done\n"},
    {"input": "Say the end-of-turn token", "output": "ok<|eot_id|>"},
    {"input": LONG_INPUT, "output": "no"},
]
TEMPLATES = ("plain", "alpaca", "llama3", "Q: {input}\\nA: ")


@pytest.fixture(scope="module")
def nemo_tok():
    from recipes.data.tokenizer import nemo_tokenizer

    return nemo_tokenizer(None)


def write_rows(folder, rows):
    folder.mkdir(parents=True, exist_ok=True)
    for name in ("training", "validation"):
        (folder / f"{name}.jsonl").write_text("".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows))
    return folder


def sft_folder(tmp_path, template):
    from recipes.data.sft import prepare_sft

    source = tmp_path / "source.jsonl"
    source.write_text("".join(json.dumps(row, ensure_ascii=False) + "\n" for row in SOURCE))
    folder = tmp_path / "sft"
    prepare_sft(str(source), str(folder), template=template, val_size=0, test_size=0, max_turns=3)
    return folder


def nemo_dataset(folder, tmp_path, nemo_tok):
    """The training dataset NeMo builds from the Megatron backend's finetuning config."""
    import fiddle as fdl

    from recipes.megatron.recipe import build_recipe
    from recipes.config.options import RecipeOptions

    opts = RecipeOptions(task="sft", model="llama31_8b", results_dir=str(tmp_path / "results"),
                         dataset_path=str(folder), seq_length=SEQ_LENGTH, global_batch_size=8)
    config = build_recipe(opts).data
    config.tokenizer = nemo_tok  # the same wrapper and tokenizer files, loaded once for the module
    module = fdl.build(config)
    return module._create_dataset(module.train_path, **module.dataset_kwargs)


def compare(folder, tmp_path, tokenizer, nemo_tok) -> list[dict]:
    from recipes.hf.sft import IGNORE_INDEX, SFTSamples

    ours = SFTSamples(str(folder), "train", tokenizer, SEQ_LENGTH)
    theirs = nemo_dataset(folder, tmp_path, nemo_tok)
    assert len(ours) == len(theirs) > 0
    items = []
    for index in range(len(ours)):
        sample, item = ours[index], theirs[index]
        ids, mask = item["input_ids"], item["loss_mask"]
        assert sample["input_ids"].tolist() == ids[:-1], ours.rows[index]
        expected_labels = [token if keep else IGNORE_INDEX for token, keep in zip(ids[1:], mask[1:])]
        assert sample["labels"].tolist() == expected_labels, ours.rows[index]
        assert ids[0] == BOS and ids.count(BOS) == 1, "exactly one BOS, first"
        assert ids[-1] == EOS and ids.count(EOS) == 1 and mask[-1] == 1.0, "exactly one EOS, last, with loss"
        assert len(ids) <= SEQ_LENGTH
        items.append(item)
    return items


@pytest.mark.parametrize("template", TEMPLATES)
def test_prepare_sft_folders_tokenize_like_nemo(template, tmp_path, tokenizer, nemo_tok):
    items = compare(sft_folder(tmp_path, template), tmp_path, tokenizer, nemo_tok)
    lengths = sorted(len(item["input_ids"]) for item in items)
    assert lengths[-1] == SEQ_LENGTH and lengths.count(SEQ_LENGTH) >= 2  # both truncation cases were hit
    if template == "llama3":
        assert all(item["answer_ids"][-1] == EOT and item["input_ids"][-2:] == [EOT, EOS] for item in items
                   if len(item["input_ids"]) < SEQ_LENGTH)


def test_plain_input_output_rows_tokenize_like_nemo(tmp_path, tokenizer, nemo_tok):
    items = compare(write_rows(tmp_path / "plain", PLAIN_ROWS), tmp_path, tokenizer, nemo_tok)
    # Worked out by hand: spaces around the values go, " 4" is one token after the context.
    expected = [BOS] + tokenizer.encode("What is 2 plus 2?", add_special_tokens=False)
    assert items[0]["context_ids"] == expected
    assert items[0]["answer_ids"] == tokenizer.encode(" 4", add_special_tokens=False)
    assert items[2]["answer_ids"][-1] == EOT  # special token written as text is one token


@pytest.mark.parametrize("template", ("plain", "llama3"))
def test_inference_prompts_are_the_training_context(template, tmp_path, tokenizer, nemo_tok):
    """Chat's and evaluate's prompt for a conversation == NeMo's context of the training row it became."""
    from recipes.evaluation.chat import Conversation
    from recipes.data.sft import prepare_sft
    from recipes.evaluation.evaluate import prompts

    dialogue = ["What is 2 plus 2?", "4", "And 3 plus 3?", "6"]
    source = tmp_path / "dialogue.jsonl"
    source.write_text(json.dumps(dialogue) + "\n")
    prepare_sft(str(source), str(tmp_path / "d"), template=template, val_size=0, test_size=0)
    dataset = nemo_dataset(tmp_path / "d", tmp_path, nemo_tok)
    last = next(dataset[i] for i in range(len(dataset)) if dataset.indexed_dataset[i]["output"].startswith("6"))

    conversation = Conversation(tokenizer, None, template=template)
    conversation.turns.append((dialogue[0], dialogue[1]))
    assert conversation.prompt_ids(dialogue[2]) == last["context_ids"]
    row = json.loads((tmp_path / "d/training.jsonl").read_text().splitlines()[-1])
    assert prompts(tokenizer, "{input} {output}", [row]) == [last["context_ids"]]  # what evaluate sends


def test_text_bos_in_old_folders_is_refused(tmp_path, tokenizer):
    from recipes.core.errors import UsageError
    from recipes.hf.sft import SFTSamples

    folder = write_rows(tmp_path / "old", [{"input": "<|begin_of_text|>hi", "output": "yo"}])
    with pytest.raises(UsageError, match=r"training.jsonl: row 1 starts with <\|begin_of_text\|>.*prepare_sft"):
        SFTSamples(str(folder), "train", tokenizer, SEQ_LENGTH)
