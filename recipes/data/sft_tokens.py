"""The one SFT tokenization: training on both backends, evaluation and chat prompts.

The Megatron backend's ``FineTuningDataModule`` gets :data:`NEMO_DATASET_KWARGS`; its
``GPTSFTDataset`` then tokenizes a row like :meth:`SFTEncoder.encode` does for the small-model
backend (tests compare the two token for token and in the loss mask):

* the template (default ``"{input} {output}"``) is cut into pieces at its placeholders, a placeholder
  keeping the spaces before it (Llama's tokenizer is space sensitive: ``" Paris"`` is one token);
  every piece is tokenized on its own, special tokens written as text (``<|eot_id|>``) included;
* row values lose their outer spaces (not newlines);
* ``[BOS] + context pieces + answer piece + [EOS]``: BOS and EOS come from the tokenizer, exactly
  once each, so the data holds neither (``prepare_sft --template llama3`` writes no
  ``<|begin_of_text|>``);
* longer than ``max_length``: the end of ``{input}`` is cut first, then pieces from the last one
  (the answer) backwards; EOS always stays;
* loss on the answer and EOS only.
"""

from __future__ import annotations

import re

from recipes.core.errors import UsageError
from recipes.data.sft_formats import brace_problem

PROMPT_TEMPLATE = "{input} {output}"
# What NeMo's create_sft_dataset is told; add_bos is not its default (False).
NEMO_DATASET_KWARGS = {"prompt_template": PROMPT_TEMPLATE, "label_key": "output", "truncation_field": "input",
                       "add_bos": True, "add_eos": True, "add_sep": False, "answer_only_loss": True,
                       "truncation_method": "right"}
_PIECE = re.compile(r"( *?{.+?})")
_TEMPLATE = "<template>"


def template_problem(template: str) -> str | None:
    """Why ``template`` cannot be cut into pieces as NeMo cuts it, or None."""
    keys = re.findall(r"{(.*?)}", template)
    if not template.endswith("{output}") or keys.count("input") != 1 or keys.count("output") != 1:
        return f"needs {{input}} once and must end with {{output}}, e.g. {PROMPT_TEMPLATE!r}"
    return brace_problem(template, doubled_is_literal=False)


def template_pieces(template: str, flag: str = "data.prompt_template") -> list[tuple[str, str]]:
    """``(key or "<template>", text)`` pieces of ``template``; the last one is the answer."""
    problem = template_problem(template)
    if problem:
        raise UsageError(f"{flag} {template!r}: {problem}")
    keys = re.findall(r"{(.*?)}", template)
    pieces = []
    for text in (part for part in _PIECE.split(template) if part):
        stripped = text.lstrip(" ")
        key = stripped[1:-1] if stripped.startswith("{") and stripped[1:-1] in keys else _TEMPLATE
        pieces.append((key, text))
    return pieces


class SFTEncoder:
    """Token ids of SFT rows for ``tokenizer`` (an HF tokenizer) under ``template``."""

    def __init__(self, tokenizer, template: str = PROMPT_TEMPLATE, flag: str = "data.prompt_template"):
        self.tokenizer = tokenizer
        self.pieces = template_pieces(template, flag)
        self.bos = [] if tokenizer.bos_token_id is None else [tokenizer.bos_token_id]
        self.eos = tokenizer.eos_token_id
        # As NeMo decides whether a space before a placeholder stays with it.
        self.space_sensitive = tokenizer.tokenize("x y") != tokenizer.tokenize("x") + tokenizer.tokenize("y")

    def _ids(self, text: str) -> list[int]:
        return self.tokenizer.encode(text, add_special_tokens=False) if text else []

    def piece_ids(self, row: dict) -> list[list[int]]:
        ids = []
        for key, text in self.pieces:
            if not self.space_sensitive and text.startswith(" "):
                text = text[1:]
            if key != _TEMPLATE:
                value = "" if key == "output" and key not in row else str(row[key])
                text = text[: len(text) - len(text.lstrip(" "))] + value.strip(" ")
            ids.append(self._ids(text))
        return ids

    def encode(self, row: dict, max_length: int) -> tuple[list[int], int]:
        """(BOS + context + answer + EOS, at most ``max_length`` ids; where the answer starts)."""
        pieces = self.piece_ids(row)
        excess = sum(map(len, pieces)) + len(self.bos) + 1 - max_length
        order = [[key for key, _ in self.pieces].index("input")] + list(range(len(pieces) - 1, -1, -1))
        for index in order:
            if excess <= 0:
                break
            cut = min(excess, len(pieces[index]))
            pieces[index] = pieces[index][: len(pieces[index]) - cut]
            excess -= cut
        context = self.bos + [token for piece in pieces[:-1] for token in piece]
        return context + pieces[-1] + [self.eos], len(context)

    def prompt_ids(self, row: dict) -> list[int]:
        """What the model sees before its answer: BOS + the context pieces of ``row``."""
        return self.bos + [token for piece in self.piece_ids(row)[:-1] for token in piece]


def check_no_text_bos(rows: list[dict], path, tokenizer) -> None:
    """Refuse rows that write BOS as text (folders from an older ``prepare_sft --template llama3``)."""
    bos = tokenizer.bos_token
    for line_no, row in enumerate(rows, 1):
        if bos and str(row.get("input", "")).lstrip().startswith(bos):
            raise UsageError(f"{path}: row {line_no} starts with {bos} as text, and the tokenization adds BOS "
                             "itself (it would appear twice); prepare the folder again with python -m "
                             "recipes.prepare_sft")
