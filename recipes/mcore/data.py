"""NeMo's ``MockDataModule`` (``--mock_data``) with its datasets built as NeMo meant.

NeMo 2.7.3's ``MockDataModule.setup`` passes ``create_attention_mask`` positionally into
``_MockGPTDataset``'s ``seed`` parameter: the datasets never create the attention mask, and their seed is
the flag's value (0 or 1) instead of 42. With Transformer Engine the mask is not needed, so only the
seed is off; without TE (CPU) every step fails on NeMo's assertion that the dataloader provided no
attention mask. Here the same datasets are built with keywords; nothing else changes.
"""

from __future__ import annotations

from nemo.collections import llm
from nemo.collections.llm.gpt.data.mock import _MockGPTDataset


class MockDataModule(llm.MockDataModule):
    def setup(self, stage: str = "") -> None:
        for attr, split, samples in (("_train_ds", "train", self.num_train_samples),
                                     ("_validation_ds", "valid", self.num_val_samples),
                                     ("_test_ds", "test", self.num_test_samples)):
            setattr(self, attr, _MockGPTDataset(self.tokenizer, split, samples, self.seq_length,
                                                create_attention_mask=self.create_attention_mask))
