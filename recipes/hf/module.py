"""The LightningModule: causal-LM loss, AdamW with warmup + cosine decay (continued on relaunch), PEFT checkpoints."""

from __future__ import annotations

import math
import random
import zlib

import lightning.pytorch as pl
import numpy as np
import torch
import torch.nn.functional as F

from recipes.hf.config import OptimConfig
from recipes.hf.sft import IGNORE_INDEX


class WarmupCosine:
    """LR multiplier of step ``s`` (0-based): linear warmup to 1, then cosine to ``min_ratio`` at ``max_steps``.

    The curve is NeMo's CosineAnnealing. Its fields are saved with the LR scheduler in the checkpoint (LambdaLR
    saves a callable object's ``__dict__``), so a relaunch continues the recorded curve; see :meth:`extend`.
    """

    def __init__(self, warmup_steps: int, max_steps: int, min_ratio: float):
        self.warmup_steps, self.max_steps, self.min_ratio = warmup_steps, max_steps, min_ratio
        # The cosine runs from start_ratio at start_step down to min_ratio at max_steps.
        self.start_step, self.start_ratio = warmup_steps, 1.0

    def __call__(self, step: int) -> float:
        if step < self.warmup_steps:
            return (step + 1) / self.warmup_steps
        progress = min(1.0, (step - self.start_step) / max(1, self.max_steps - self.start_step))
        return self.min_ratio + (self.start_ratio - self.min_ratio) * 0.5 * (1.0 + math.cos(math.pi * progress))

    def extend(self, step: int, max_steps: int) -> None:
        """A relaunch at ``step`` with a larger ``max_steps``: from the LR reached, cosine to min at the new end.

        Continuous by construction (the multiplier at ``step`` is unchanged); a finished run stays at min_lr.
        A smaller or equal ``max_steps`` keeps the recorded curve (the run just stops earlier).
        """
        if max_steps <= self.max_steps:
            return
        if step > self.start_step:
            self.start_ratio, self.start_step = self(step), step
        self.max_steps = max_steps


class ContinuingLambdaLR(torch.optim.lr_scheduler.LambdaLR):
    """LambdaLR over a :class:`WarmupCosine` that, on loading a checkpoint, extends it to this launch's max_steps."""

    def __init__(self, optimizer, schedule: WarmupCosine):
        self.launch_max_steps = schedule.max_steps
        super().__init__(optimizer, schedule)

    def load_state_dict(self, state_dict: dict) -> None:
        launch_max_steps = self.launch_max_steps  # the checkpoint's copy would overwrite it
        super().load_state_dict(state_dict)
        self.launch_max_steps = launch_max_steps
        self.lr_lambdas[0].extend(self.last_epoch, launch_max_steps)


def step_seed(seed: int, step: int, micro: int, rank: int) -> int:
    return zlib.crc32(f"{seed}/{step}/{micro}/{rank}".encode())


def rng_states() -> dict:
    states = {"python": random.getstate(), "numpy": np.random.get_state(), "torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        states["cuda"] = torch.cuda.get_rng_state_all()
    return states


def set_rng_states(states: dict) -> None:
    random.setstate(states["python"])
    np.random.set_state(states["numpy"])
    torch.set_rng_state(states["torch"])
    if "cuda" in states and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(states["cuda"])


class CausalLMModule(pl.LightningModule):
    def __init__(self, hf_model, optim: OptimConfig, max_steps: int, accumulation: int, seed: int):
        super().__init__()
        self.model = hf_model
        self.optim, self.max_steps, self.accumulation, self.seed = optim, max_steps, accumulation, seed
        self.is_peft = hasattr(hf_model, "peft_config")
        # PEFT checkpoints hold only the adapter (+ optimizer): the frozen base comes from model.path.
        self.strict_loading = not self.is_peft
        self._step_losses: list[torch.Tensor] = []
        self.step_metrics: dict[str, float] = {}

    def loss(self, batch: dict) -> torch.Tensor:
        logits = self.model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits
        return F.cross_entropy(logits.float().flatten(0, 1), batch["labels"].flatten(), ignore_index=IGNORE_INDEX)

    def on_train_batch_start(self, batch, batch_idx: int) -> None:
        # Dropout masks depend only on (seed, step, micro-batch, rank), so a resumed run draws exactly the
        # masks of an uninterrupted one whatever else (validation, loader start-up) consumed RNG in between.
        micro = batch_idx % self.accumulation
        torch.manual_seed(step_seed(self.seed, self.trainer.global_step, micro, self.global_rank))

    def training_step(self, batch: dict, batch_idx: int) -> torch.Tensor:
        loss = self.loss(batch)
        self._step_losses.append(loss.detach())
        if (batch_idx + 1) % self.accumulation == 0:
            self._finish_step(batch_size=batch["input_ids"].shape[0])
        return loss

    def _finish_step(self, batch_size: int) -> None:
        """Log the step's loss: the mean over its micro-batches and over ranks."""
        step_loss = self.trainer.strategy.reduce(torch.stack(self._step_losses).mean(), reduce_op="mean")
        self._step_losses.clear()
        lr = self.lr_schedulers().get_last_lr()[0]
        # Callbacks run before Lightning refreshes callback_metrics: they read this dict instead.
        self.step_metrics = {"train_loss": float(step_loss), "lr": float(lr)}
        self.log("train_loss", step_loss, on_step=True, on_epoch=False, prog_bar=True, batch_size=batch_size)
        self.log("lr", lr, on_step=True, on_epoch=False, batch_size=1)

    def validation_step(self, batch: dict, batch_idx: int) -> torch.Tensor:
        loss = self.loss(batch)
        self.log("val_loss", loss, on_step=False, on_epoch=True, prog_bar=True, sync_dist=True,
                 batch_size=batch["input_ids"].shape[0])
        return loss

    def configure_optimizers(self):
        cfg, sched = self.optim.config, self.optim.lr_scheduler
        decay, no_decay = [], []
        for param in self.model.parameters():
            if param.requires_grad:
                # Like Megatron: no weight decay on biases and norm scales (1-D parameters).
                (decay if param.ndim >= 2 else no_decay).append(param)
        optimizer = torch.optim.AdamW(
            [{"params": decay, "weight_decay": cfg.weight_decay}, {"params": no_decay, "weight_decay": 0.0}],
            lr=cfg.lr, betas=(cfg.adam_beta1, cfg.adam_beta2), eps=cfg.adam_eps)
        min_ratio = cfg.min_lr / cfg.lr if cfg.lr else 0.0
        scheduler = ContinuingLambdaLR(optimizer, WarmupCosine(sched.warmup_steps, self.max_steps, min_ratio))
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": scheduler, "interval": "step"}}

    def on_save_checkpoint(self, checkpoint: dict) -> None:
        if self.is_peft:
            trainable = {f"model.{name}" for name, p in self.model.named_parameters() if p.requires_grad}
            checkpoint["state_dict"] = {k: v for k, v in checkpoint["state_dict"].items() if k in trainable}
        checkpoint["rng_states"] = rng_states()

    def on_load_checkpoint(self, checkpoint: dict) -> None:
        if "rng_states" in checkpoint:
            set_rng_states(checkpoint["rng_states"])
