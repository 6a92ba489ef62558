"""Data loaders whose position is a pure function of the global step (exact resume).

Global step ``s`` consumes stream positions ``[s*GBS, (s+1)*GBS)``; within a step, micro-batch ``m``
of rank ``r`` takes ``MBS`` consecutive positions at ``s*GBS + (m*world + r)*MBS``. The stream visits
the samples in a fresh seeded permutation per data epoch. A relaunch resumed at step ``k`` therefore
starts at exactly the batch an uninterrupted run would see next, on any number of ranks (the same global
batch; ``StepCheckpoint.on_load_checkpoint`` restates Lightning's micro-batch counters for the new world size;
tests/unit/hf/test_hf_torchrun.py resumes 2 ranks -> 1 -> 2).
"""

from __future__ import annotations

import lightning.pytorch as pl
import numpy as np
import torch
from torch.utils.data import DataLoader

from recipes.core.errors import UsageError
from recipes.hf.config import MmapDataConfig, SFTDataConfig
from recipes.hf.data import build_mmap_samples
from recipes.hf.sft import IGNORE_INDEX, SFTSamples


class StepBatchSampler:
    """Micro-batch indices for steps ``start_step .. total_steps-1`` of one rank."""

    def __init__(self, num_samples: int, global_batch_size: int, micro_batch_size: int, world_size: int,
                 rank: int, seed: int, start_step: int, total_steps: int):
        self.num_samples, self.gbs, self.mbs = num_samples, global_batch_size, micro_batch_size
        self.world_size, self.rank, self.seed = world_size, rank, seed
        self.start_step, self.total_steps = start_step, total_steps
        self.accumulation = global_batch_size // (micro_batch_size * world_size)
        self._perms: dict[int, np.ndarray] = {}

    def __len__(self) -> int:
        # Lightning compares its restored batch counter with this length to detect the epoch end, so it
        # is the length of the whole run even when iteration starts at a resumed step.
        return self.total_steps * self.accumulation

    def __iter__(self):
        for step in range(self.start_step, self.total_steps):
            for micro in range(self.accumulation):
                first = step * self.gbs + (micro * self.world_size + self.rank) * self.mbs
                yield [self._sample_at(pos) for pos in range(first, first + self.mbs)]

    def _sample_at(self, position: int) -> int:
        epoch, offset = divmod(position, self.num_samples)
        if epoch not in self._perms:
            self._perms = {epoch: np.random.default_rng([self.seed, epoch]).permutation(self.num_samples)}
        return int(self._perms[epoch][offset])


class ValBatchSampler:
    """The first ``limit`` micro-batches of the validation set per rank, the same every time."""

    def __init__(self, num_samples: int, micro_batch_size: int, world_size: int, rank: int, limit: int):
        per_rank = num_samples // (micro_batch_size * world_size)
        self.batches = [list(range((b * world_size + rank) * micro_batch_size,
                                   (b * world_size + rank + 1) * micro_batch_size))
                        for b in range(min(per_rank, limit))]

    def __len__(self) -> int:
        return len(self.batches)

    def __iter__(self):
        return iter(self.batches)


def collate(samples: list[dict], pad_id: int) -> dict:
    length = max(len(s["input_ids"]) for s in samples)
    input_ids = torch.full((len(samples), length), pad_id, dtype=torch.long)
    labels = torch.full((len(samples), length), IGNORE_INDEX, dtype=torch.long)
    attention_mask = torch.zeros((len(samples), length), dtype=torch.long)
    for row, sample in enumerate(samples):
        n = len(sample["input_ids"])
        input_ids[row, :n] = torch.as_tensor(sample["input_ids"])
        labels[row, :n] = torch.as_tensor(sample["labels"])
        attention_mask[row, :n] = 1
    return {"input_ids": input_ids, "labels": labels, "attention_mask": attention_mask}


class _Collate:
    """Picklable collate_fn (DataLoader workers may be spawned)."""

    def __init__(self, pad_id: int):
        self.pad_id = pad_id

    def __call__(self, samples):
        return collate(samples, self.pad_id)


def gradient_accumulation(global_batch_size: int, micro_batch_size: int, world_size: int) -> int:
    per_step = micro_batch_size * world_size
    if global_batch_size % per_step:
        raise UsageError(f"data.global_batch_size={global_batch_size} is not a multiple of micro_batch_size x "
                         f"world size = {micro_batch_size} x {world_size}; pick a multiple of {per_step}")
    return global_batch_size // per_step


class StepDataModule(pl.LightningDataModule):
    def __init__(self, data: MmapDataConfig | SFTDataConfig, tokenizer, seed: int, max_steps: int,
                 limit_val_batches: int):
        super().__init__()
        self.cfg, self.seed, self.max_steps, self.limit_val = data, seed, max_steps, limit_val_batches
        pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
        self.collate = _Collate(pad)
        self.train_set = self._samples("train", tokenizer)
        self.val_set = self._samples("validation", tokenizer)
        if len(self.train_set) == 0:
            raise UsageError(f"--dataset_path: no training samples of {data.seq_length + 1} tokens in "
                             f"{getattr(data, 'paths', None) or getattr(data, 'dataset_root', '')}; "
                             "add data or lower --seq_length")

    def _samples(self, which: str, tokenizer):
        if isinstance(self.cfg, SFTDataConfig):
            return SFTSamples(self.cfg.dataset_root, which, tokenizer, self.cfg.seq_length, self.cfg.prompt_template)
        return build_mmap_samples(self.cfg.paths, self.cfg.split, which, self.cfg.seq_length, self.seed)

    def train_dataloader(self) -> DataLoader:
        trainer = self.trainer
        # Called after Lightning restored the checkpoint: global_step is the resumed step.
        sampler = StepBatchSampler(len(self.train_set), self.cfg.global_batch_size, self.cfg.micro_batch_size,
                                   trainer.world_size, trainer.global_rank, self.seed,
                                   trainer.global_step, self.max_steps)
        return DataLoader(self.train_set, batch_sampler=sampler, collate_fn=self.collate,
                          num_workers=self.cfg.num_workers)

    def val_dataloader(self) -> DataLoader:
        trainer = self.trainer
        sampler = ValBatchSampler(len(self.val_set), self.cfg.micro_batch_size, trainer.world_size,
                                  trainer.global_rank, self.limit_val)
        return DataLoader(self.val_set, batch_sampler=sampler, collate_fn=self.collate,
                          num_workers=self.cfg.num_workers)

    def has_validation(self, world_size: int) -> bool:
        return len(self.val_set) >= self.cfg.micro_batch_size * world_size and self.limit_val > 0
