"""Relaunching with a larger ``max_steps`` continues the LR curve instead of jumping.

The rule (docs/hf_backend.md): the cosine's horizon is saved in the checkpoint; a relaunch with a larger
``max_steps`` goes on from the LR the checkpoint reached and decays it by a cosine to ``min_lr`` at the new
``max_steps`` (a finished run therefore stays at ``min_lr``). Expected LRs are worked out here from the
formula (linear warmup, then ``min + (start - min) * (1 + cos(pi * t / T)) / 2``), not from the trainer.
"""

from __future__ import annotations

import math

import pytest

from hf_helpers import metric_rows, options, train_in_process
from recipes.hf.checkpointing import REQUEUE_EXIT_CODE

LR, MIN_LR = 1e-3, 1e-4
SMALL = dict(seq_length=16, global_batch_size=2, micro_batch_size=1, ckpt_every_n_steps=2, val_check_interval=100)


def _cosine(t: float, span: float, start: float) -> float:
    return MIN_LR + (start - MIN_LR) * 0.5 * (1 + math.cos(math.pi * min(1.0, t / span)))


def _train(opts, warmup: int):
    return train_in_process(opts, f"optim.config.lr={LR}", f"optim.config.min_lr={MIN_LR}",
                            f"optim.lr_scheduler.warmup_steps={warmup}")


def _assert_lrs(got: dict[int, float], want: dict[int, float]) -> None:
    assert sorted(got) == sorted(want)
    for step in want:
        assert got[step] == pytest.approx(want[step], rel=1e-6), (step, got, want)


def _largest_change(lrs: dict[int, float], steps) -> float:
    return max(abs(lrs[s + 1] - lrs[s]) for s in steps)


def test_a_larger_max_steps_on_a_finished_run_stays_at_min_lr(tmp_path, corpus):
    _train(options(tmp_path, "pretrain", corpus, "extended", max_steps=4, **SMALL), warmup=0)
    _train(options(tmp_path, "pretrain", corpus, "extended", max_steps=6, **SMALL), warmup=0)
    lrs = metric_rows(tmp_path / "extended", "lr")  # the LR each step trained with (step s: scheduler index s-1)
    want = {s: _cosine(s - 1, 4, LR) for s in range(1, 5)}
    want.update({5: MIN_LR, 6: MIN_LR})  # step 4 had decayed to min_lr at index 4: the new curve starts there
    _assert_lrs(lrs, want)


def test_a_larger_max_steps_mid_run_decays_from_the_checkpoint_lr(tmp_path, sft_dir, monkeypatch):
    warmup, first, second, stop = 2, 8, 12, 4
    monkeypatch.setenv("RECIPES_FAULT", f"term_after_step:{stop}")
    with pytest.raises(SystemExit) as stopped:
        _train(options(tmp_path, "sft", sft_dir, "mid", max_steps=first, **SMALL), warmup)
    assert stopped.value.code == REQUEUE_EXIT_CODE
    _train(options(tmp_path, "sft", sft_dir, "mid", max_steps=second, **SMALL), warmup)

    lrs = metric_rows(tmp_path / "mid", "lr")
    want = {s: LR * s / warmup for s in range(1, warmup + 1)}  # index s-1 < warmup: (index + 1) / warmup
    want.update({s: _cosine(s - 1 - warmup, first - warmup, LR) for s in range(warmup + 1, stop + 1)})
    reached = _cosine(stop - warmup, first - warmup, LR)  # the LR the checkpoint holds for step stop + 1
    want.update({s: _cosine(s - 1 - stop, second - stop, reached) for s in range(stop + 1, second + 1)})
    _assert_lrs(lrs, want)
    # The first step of the relaunch trains with the LR the first curve had for it; no change is larger than
    # the largest step-to-step change of the first curve after warmup.
    original = {s: _cosine(s - 1 - warmup, first - warmup, LR) for s in range(warmup + 1, first + 1)}
    assert lrs[stop + 1] == pytest.approx(original[stop + 1], rel=1e-6)
    largest = _largest_change(original, range(warmup + 1, first))
    assert _largest_change(lrs, range(warmup + 1, second)) <= largest, lrs
