"""NeMo 2.7.3 on megatron-core 0.16.1 (the API of nvcr.io/nvidia/nemo:26.02) through the adapter, against the pin.

The oracle of the training test is the pinned pair itself: the same tiny Megatron CPU pretraining, once
on megatron-core 0.15.3 and once with 0.16.1 first on PYTHONPATH, must log the same losses bit for bit
(NeMo's TensorBoard events). The adapter tests run the real 0.16.1 function in a child process.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from testlib import REPO

pytestmark = [pytest.mark.megatron, pytest.mark.slow]

ADAPTER_LINE = "recipes: stack adapter applied: get_megatron_optimizer keywords"
STEPS = 4


def run_python(code: str, env: dict) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-W", "ignore", "-c", code], capture_output=True, text=True, env=env,
                          timeout=300)


ADAPTER_PROBE = r"""
import json, megatron.core
from megatron.core import optimizer
from megatron.core.optimizer import OptimizerConfig
from recipes.mcore import compat

def outcome(function, *args, **kwargs):
    try:
        function(*args, **kwargs)
        return "returned"
    except Exception as error:
        return f"{type(error).__name__}: {error}"

original, config = optimizer.get_megatron_optimizer, OptimizerConfig(lr=1e-3)
report = {"version": megatron.core.__version__, "file": optimizer.__file__,
          "signature_ok": compat.optimizer_signature_ok(),
          "unadapted": outcome(original, config, [], no_weight_decay_cond=None, scale_lr_cond=None, lr_mult=1.0),
          "plain": outcome(original, config, [])}
report["applied"] = compat.adapt_optimizer_call()
report["applied_twice"] = compat.adapt_optimizer_call()
adapted = optimizer.get_megatron_optimizer
report["defaults"] = outcome(adapted, config, [], no_weight_decay_cond=None, scale_lr_cond=None, lr_mult=1.0)
report["lr_mult"] = outcome(adapted, config, [], lr_mult=2.0)
report["scale_lr_cond"] = outcome(adapted, config, [], scale_lr_cond=lambda name, param: False)
print("REPORT" + json.dumps(report))
"""


def probe(env: dict) -> dict:
    import json

    proc = run_python(ADAPTER_PROBE, env)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout.split("REPORT", 1)[1])


def test_adapter_on_the_real_016_function(mcore_016, child_env):
    """0.16.1 refuses NeMo's keywords; adapted, defaults reach the real function as if never passed, others are refused."""
    report = probe(child_env(mcore_016))
    assert report["version"] == "0.16.1" and report["file"].startswith(str(mcore_016)), report
    assert report["signature_ok"] is False
    assert "unexpected keyword argument 'no_weight_decay_cond'" in report["unadapted"]  # the bug itself
    assert report["applied"] is True and report["applied_twice"] is False
    # No model chunks: the real function fails inside its body; the adapted call fails identically.
    assert report["plain"] != "returned" and report["defaults"] == report["plain"], report
    assert report["lr_mult"].startswith("StackMismatch: NeMo passes lr_mult=2.0 to get_megatron_optimizer, which "
                                        "this megatron-core no longer accepts; use megatron-core 0.15.x")
    assert report["scale_lr_cond"].startswith("StackMismatch: NeMo passes scale_lr_cond=")


def test_adapter_is_not_applied_on_the_pinned_pair(child_env):
    report = probe(child_env())
    assert report["version"] == "0.15.3" and report["signature_ok"] is True and report["applied"] is False
    assert report["unadapted"] == report["plain"]  # 0.15.3 takes NeMo's keywords as they are


def pretrain(results: Path, env: dict, data: Path) -> subprocess.Popen:
    argv = [sys.executable, "-m", "recipes.pretrain", "-M", "tiny", "--backend", "megatron", "--cpu", "-D", str(data),
            "--max_steps", str(STEPS), "-y", "--results_dir", str(results), "-E", "pair",
            "trainer.log_every_n_steps=1"]  # a loss event per step (NeMo's default logs every 10)
    return subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env, cwd=results.parent)


def losses(results: Path) -> list[tuple[int, float]]:
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    events = sorted(results.rglob("events.out.tfevents.*"))
    assert len(events) == 1, events
    accumulator = EventAccumulator(str(events[0]))
    accumulator.Reload()
    return [(e.step, e.value) for e in accumulator.Scalars("reduced_train_loss")]


@pytest.fixture(scope="module")
def sample_prefix(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("data") / "sample"
    proc = subprocess.run([sys.executable, "-m", "recipes.preprocess", "--input",
                           str(REPO / "recipes/data/sample/pretrain_zh_en.jsonl"), "--output-prefix", str(out),
                           "--append-eod"], capture_output=True, text=True, cwd=REPO, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return Path(str(out) + "_text_document")


def test_016_with_the_adapter_trains_exactly_as_the_pin(mcore_016, child_env, sample_prefix, tmp_path):
    """Both runs at once (2 cores: imports overlap); the 0.16.1 child must say it ran 0.16.1 from the target dir."""
    runs = {"pinned": (tmp_path / "pinned" / "results", ()), "016": (tmp_path / "new" / "results", (mcore_016,))}
    procs = {}
    for name, (results, first) in runs.items():
        results.parent.mkdir(parents=True)
        env = child_env(*first, NEMORUN_HOME=str(results.parent / "nemorun_home"))
        procs[name] = pretrain(results, env, sample_prefix)
    logs = {name: proc.communicate(timeout=900)[0] for name, proc in procs.items()}
    for name, proc in procs.items():
        assert proc.returncode == 0, f"{name}:\n{logs[name][-4000:]}"
    applied = [line for line in logs["016"].splitlines() if ADAPTER_LINE in line]
    assert len(applied) == 1 and re.search(rf"installed 0\.16\.1 at {re.escape(str(mcore_016))}", applied[0]), \
        logs["016"][-4000:]
    assert ADAPTER_LINE not in logs["pinned"]
    pinned, new = losses(runs["pinned"][0]), losses(runs["016"][0])
    assert [step for step, _ in pinned] == list(range(STEPS)), pinned
    assert new == pinned  # bit for bit: float equality of every step's loss
