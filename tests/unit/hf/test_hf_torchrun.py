"""Two CPU processes under torchrun (DDP over gloo), launched the way NeMo-Run launches a serialized recipe.

With the same global batch the data-parallel run sees the same samples per step as the single-process
run with gradient accumulation, so its losses match it step for step.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from hf_helpers import QUIET, metric_rows, options, subprocess_env


def test_two_process_torchrun_matches_single_process(pretrain_run, runs_dir, corpus):
    from nemo_run.core.serialization.zlib_json import ZlibJSONSerializer

    from recipes.hf.recipe import build_recipe
    from recipes.overrides import apply_overrides

    single_opts, _ = pretrain_run
    opts = options(runs_dir, "pretrain", corpus, "pretrain_ddp", num_gpus=2)
    recipe = apply_overrides(build_recipe(opts), QUIET)
    torchrun = shutil.which("torchrun", path=str(Path(sys.executable).parent)) or "torchrun"
    proc = subprocess.run([torchrun, "--standalone", "--nproc-per-node", "2", "-m",
                           "nemo_run.core.runners.fdl_runner", "-n", "hf_ddp",
                           ZlibJSONSerializer().serialize(recipe)],
                          env=subprocess_env(), capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    meta = json.loads((Path(opts.checkpoint_dir) / "step=0000006" / "meta.json").read_text())
    assert meta["world_size"] == 2
    ddp, single = metric_rows(opts.log_dir, "train_loss"), metric_rows(single_opts.log_dir, "train_loss")
    assert sorted(ddp) == sorted(single) == list(range(1, 7))
    for step in single:
        assert ddp[step] == pytest.approx(single[step], rel=1e-4), (step, ddp, single)
    assert (Path(opts.log_dir) / "hf_model" / "config.json").is_file()
