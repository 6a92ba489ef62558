"""A conversion leaves the process as it found it: users call ``import_hf``/``export_hf`` from Python
and then train in the same process (Lightning), as the HF recipes' tests do after these."""

from __future__ import annotations

import os


def _lightning_fit(tmp_path) -> int:
    """A 2-step Lightning fit on CPU with Lightning's default strategy; returns the global step."""
    import lightning.pytorch as pl
    import torch
    from torch.utils.data import DataLoader, TensorDataset

    class Tiny(pl.LightningModule):
        def __init__(self):
            super().__init__()
            self.layer = torch.nn.Linear(2, 1)

        def training_step(self, batch, batch_idx):
            x, y = batch
            return torch.nn.functional.mse_loss(self.layer(x), y)

        def configure_optimizers(self):
            return torch.optim.SGD(self.parameters(), lr=0.1)

    data = DataLoader(TensorDataset(torch.randn(8, 2), torch.randn(8, 1)), batch_size=4)
    trainer = pl.Trainer(accelerator="cpu", devices=1, max_steps=2, logger=False, enable_checkpointing=False,
                         enable_progress_bar=False, enable_model_summary=False, default_root_dir=tmp_path)
    trainer.fit(Tiny(), data)
    return trainer.global_step


def test_lightning_trains_after_the_documented_conversions(docs_workspace, tmp_path):
    """Import, export and LoRA merge + export ran in this process (docs_workspace). NeMo's
    MegatronStrategy.setup replaces Lightning's loop-module ``_select_data_fetcher`` with a wrapper
    that returns None for other strategies: a later fit failed with "'NoneType' object has no
    attribute 'setup'"."""
    import torch
    from lightning.pytorch.loops import evaluation_loop, fit_loop, prediction_loop, utilities
    from megatron.core import parallel_state

    for loop in (fit_loop, evaluation_loop, prediction_loop):
        assert loop._select_data_fetcher is utilities._select_data_fetcher, loop.__name__
    assert not torch.distributed.is_initialized()
    assert not parallel_state.model_parallel_is_initialized()
    assert _lightning_fit(tmp_path) == 2


def test_conversion_block_restores_process_state():
    """What NeMo/Megatron change inside a conversion (see ``cpu_compat._restore_process_state``) is
    put back on exit, on every kind of machine."""
    import random

    import numpy as np
    import torch
    from lightning.pytorch.loops import evaluation_loop, fit_loop, prediction_loop
    from nemo.utils import AppState

    from recipes.conversion.cpu_compat import cpu_conversion

    loops = (fit_loop, evaluation_loop, prediction_loop)
    fetchers = [loop._select_data_fetcher for loop in loops]
    env = dict(os.environ)
    app_state = dict(vars(AppState()))
    rng = (torch.get_rng_state(), random.getstate(), np.random.get_state()[1].copy())
    assert not torch.distributed.is_initialized()
    try:
        with cpu_conversion():
            for loop in loops:
                loop._select_data_fetcher = lambda trainer, stage: None
            os.environ["NVTE_FLASH_ATTN"] = "1"
            os.environ["MASTER_PORT"] = "1"
            AppState()._is_megatron_initialized = True
            AppState().world_size = 1
            random.seed(1234), np.random.seed(1234), torch.manual_seed(1234)
            torch.distributed.init_process_group("gloo", store=torch.distributed.HashStore(), rank=0, world_size=1)
        assert [loop._select_data_fetcher for loop in loops] == fetchers
        assert dict(os.environ) == env
        assert dict(vars(AppState())) == app_state
        assert torch.equal(torch.get_rng_state(), rng[0]) and random.getstate() == rng[1]
        assert np.array_equal(np.random.get_state()[1], rng[2])
        assert not torch.distributed.is_initialized()
    finally:
        if torch.distributed.is_initialized():
            torch.distributed.destroy_process_group()
        for loop, fetcher in zip(loops, fetchers):
            loop._select_data_fetcher = fetcher
        os.environ.clear()
        os.environ.update(env)
        vars(AppState()).clear()
        vars(AppState()).update(app_state)
