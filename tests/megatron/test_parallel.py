"""Two CPU ranks under torchrun (``--executor torchrun -G 2 --cpu``, gloo): data parallelism equals one rank
with gradient accumulation; tensor and pipeline parallelism each train and resume.

Oracles: Lightning's own report of the process group (backend, number of processes), NeMo's restore
line, and the losses in TensorBoard's event files, compared with the single-process run of the suite.
"""

from __future__ import annotations

import re

import pytest

from mt_helpers import PRETRAIN_STEPS, pretrain_args
from mt_helpers import cli, event_losses, output, restored_steps

pytestmark = [pytest.mark.megatron, pytest.mark.slow]

TWO_RANKS = ("--executor", "torchrun", "-G", "2")


def assert_two_gloo_ranks(text: str) -> None:
    assert "distributed_backend=gloo" in text
    assert re.findall(r"All distributed processes registered. Starting with (\d+) processes", text) == ["2"]


def test_data_parallel_equals_one_rank_with_accumulation(root, data, straight):
    # Same GBS 2 from micro-batches of 1: one rank accumulates two micro-batches, two ranks take one each.
    proc = cli(root, "pretrain", *pretrain_args(data, "dp2", *TWO_RANKS))
    assert_two_gloo_ranks(output(proc))
    (two,) = event_losses(root / "results" / "dp2")
    (one,) = event_losses(straight[0])
    assert sorted(two) == sorted(one) == list(range(PRETRAIN_STEPS))
    # The same samples and the same fp32 arithmetic per micro-batch; only the order of the gradient sum
    # differs (a gloo all-reduce of two halves vs an in-place accumulation), which moves the last bits:
    # 1e-5 relative is ~100x fp32's rounding of a loss near 11 and far below a step's change (~1e-2).
    for step in one:
        assert two[step] == pytest.approx(one[step], rel=1e-5), (step, one, two)


@pytest.mark.parametrize("layout", [("-T", "2"), ("-P", "2")], ids=["tp2", "pp2"])
def test_model_parallel_trains_and_resumes(root, data, layout):
    name = "tp2" if layout[0] == "-T" else "pp2"
    first = cli(root, "pretrain", *pretrain_args(data, name, *TWO_RANKS, *layout, "--max_steps", "2"))
    assert_two_gloo_ranks(output(first))
    second = cli(root, "pretrain", *pretrain_args(data, name, *TWO_RANKS, *layout, "--max_steps", "4"))
    assert restored_steps(output(second)) == [1]
    before, after = event_losses(root / "results" / name)
    assert sorted(before) == [0, 1] and sorted(after) == [2, 3], (before, after)
    assert after[3] < before[0]  # lr 1e-3: four steps lower the loss
