"""A backend is one module behind recipes.backends.base.Backend plus one registry line: a throw-away
backend registered here runs through planning, validation and the dry-run without touching other code."""

from __future__ import annotations

from dataclasses import dataclass

import nemo_run as run
import pytest

from recipes import backends, pretrain
from recipes.backends.base import Backend


@dataclass
class ToyData:
    paths: str = ""
    seq_length: int = 16


def toy_train(max_steps: int, data: ToyData) -> None:  # never called: dry-runs only
    raise AssertionError("a dry-run must not train")


class Toy(Backend):
    name = "toy"
    title = "toy"
    honours = frozenset({"mock_data"})

    def auto_chosen(self, debug_model: bool, no_gpu: bool) -> bool:
        return debug_model and no_gpu

    def cpu_without_gpus(self) -> bool:
        return True

    def build(self, opts):
        return run.Partial(toy_train, max_steps=opts.max_steps, data=run.Config(ToyData, paths=str(opts.dataset_path)))

    def problems(self, plan) -> list[str]:
        return ["--max_steps: the toy backend stops at 6; use at most 6"] if plan.opts.max_steps > 6 else []


@pytest.fixture
def toy(monkeypatch):
    monkeypatch.setattr(backends, "REGISTRY", dict(backends.REGISTRY))
    return backends.register(Toy())


def errors(capsys) -> list[str]:
    return [line for line in capsys.readouterr().err.splitlines() if "error:" in line]


def test_a_registered_backend_is_chosen_built_and_dry_run(toy, isolated, mmap_prefix, capsys):
    assert backends.names()[0] == "toy" and backends.choose(debug_model=True, no_gpu=True) is toy
    assert pretrain.main(["--backend", "toy", "-M", "tiny", "-D", str(mmap_prefix), "--max_steps", "3",
                          "--dryrun"]) == 0
    out = capsys.readouterr().out
    assert "toy_train" in out and "max_steps: 3" in out and str(mmap_prefix) in out


def test_auto_picks_it_where_it_says_so(toy, isolated, mmap_prefix, capsys):
    """-M tiny on a machine without GPUs: --backend auto asks the registry, the toy answers first."""
    assert pretrain.main(["-M", "tiny", "--cpu", "-D", str(mmap_prefix), "--max_steps", "2", "--dryrun"]) == 0
    assert "toy_train" in capsys.readouterr().out


def test_its_options_and_checks_join_the_one_problem_list(toy, isolated, mmap_prefix, capsys):
    argv = ["--backend", "toy", "-M", "tiny", "-D", str(mmap_prefix), "--max_steps", "9", "--fp8", "-G", "2", "-T", "2",
            "--sequence_parallel", "--dryrun"]
    assert pretrain.main(argv) == 2
    found = errors(capsys)
    for expected in ("--max_steps: the toy backend stops at 6",
                     "--fp8: only the Megatron backend supports FP8; drop --fp8 or use --backend megatron on GPUs",
                     "-T/-P/-C: the toy (toy) backend is data-parallel only; use 1 or --backend megatron",
                     "--sequence_parallel: the toy backend does not support it; drop it or use --backend megatron"):
        assert any(expected in line for line in found), (expected, found)


def test_what_it_honours_is_asked_of_it(toy, isolated, capsys):
    """--mock_data: the toy says it honours it; the small-model backend does not, and the message names both
    backends that do."""
    assert pretrain.main(["--backend", "toy", "-M", "tiny", "--mock_data", "--max_steps", "2", "--dryrun"]) == 0
    assert "toy_train" in capsys.readouterr().out
    assert pretrain.main(["--backend", "hf", "-M", "tiny", "--mock_data", "--max_steps", "2", "--dryrun"]) == 2
    assert any("--mock_data: only toy or Megatron pretraining has a mock dataset" in line for line in errors(capsys))


def test_an_unregistered_name_is_refused_by_the_flag(isolated, capsys):
    with pytest.raises(SystemExit) as exit_info:
        pretrain.main(["--backend", "toy", "--dryrun"])
    assert exit_info.value.code == 2
    assert "--backend: invalid choice: 'toy'" in capsys.readouterr().err
