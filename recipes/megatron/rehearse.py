"""``--rehearse``: the job's own Megatron recipe, shrunk to debug size, run on this machine's CPU first.

What a queue would take hours to tell, in about a minute on a login node: the recipe exactly as built
and overridden (data module on the real files, tokenizer, optimizer and LR schedule, checkpointing,
AutoResume), with only what cannot run here changed, each change printed:

* the model's layers shrunk to the debug Llama's (2 layers, hidden 64) — its family, vocabulary and
  every other config field kept; starting weights are not loaded (they no longer fit);
* one CPU process (gloo): TP/PP/CP 1, so the global batch is one micro-batch; fp32, fused kernels off;
* sequence length capped at :data:`MAX_SEQ`; 2 steps, a checkpoint after step 1, then a second process
  that must resume from it; logs and checkpoints in a temporary directory, deleted afterwards.

Both processes run NeMo-Run's own job runner (``nemo_run.core.runners.fdl_runner``) on the serialized
recipe, as a real job does. A failure stops the submission with the error's last lines.
"""

from __future__ import annotations

import copy
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from recipes.config.models import SHAPE_FIELDS, TINY_ARCH
from recipes.core import quiet
from recipes.core.errors import UsageError
from recipes.core.secrets import redact
from recipes.data.tokenizer import BUNDLED, in_hf_cache
from recipes.megatron.recipe import cpu_recipe_settings

MAX_SEQ = 256
STEPS = 2
TAIL = 25  # lines of a failed process's output shown
RESTORED = re.compile(r"Restored all states from the checkpoint at (\S+)")


class RehearsalFailed(UsageError):
    """The recipe failed on CPU: the job would fail the same way after its wait in the queue."""


def _shrink(recipe, log_dir: str, changes: list[str]) -> None:
    """The debug-size, one-process, CPU variant of ``recipe`` (modified in place)."""
    config = recipe.model.config
    for name in SHAPE_FIELDS:
        setattr(config, name, TINY_ARCH[name])
    changes.append("model: 2 layers, hidden 64 (the debug Llama's sizes); weights random, not loaded")
    seq = min(int(getattr(recipe.data, "seq_length", MAX_SEQ) or MAX_SEQ), MAX_SEQ)
    if getattr(recipe.data, "seq_length", None) != seq:
        changes.append(f"sequence length {recipe.data.seq_length} -> {seq}")
    config.seq_length = recipe.data.seq_length = seq
    micro = recipe.data.micro_batch_size
    if recipe.data.global_batch_size != micro:
        changes.append(f"global batch {recipe.data.global_batch_size} -> {micro} (one process, one micro-batch)")
    recipe.data.global_batch_size = micro
    strategy = recipe.trainer.strategy
    layout = (strategy.tensor_model_parallel_size, strategy.pipeline_model_parallel_size,
              strategy.context_parallel_size, recipe.trainer.num_nodes, recipe.trainer.devices)
    if layout != (1, 1, 1, 1, 1):
        changes.append(f"layout TP {layout[0]} PP {layout[1]} CP {layout[2]} on {layout[3]}x{layout[4]} -> "
                       "one CPU process (the layout itself was checked by validation)")
    strategy.tensor_model_parallel_size = strategy.pipeline_model_parallel_size = 1
    strategy.context_parallel_size = 1
    strategy.sequence_parallel = False
    strategy.virtual_pipeline_model_parallel_size = None
    recipe.trainer.num_nodes = recipe.trainer.devices = 1
    changes += cpu_recipe_settings(recipe)
    recipe.trainer.max_steps = STEPS
    recipe.trainer.val_check_interval = STEPS
    recipe.trainer.limit_val_batches = 1
    recipe.log.log_dir = log_dir
    recipe.log.ckpt.every_n_train_steps = 1
    recipe.log.ckpt.train_time_interval = None
    recipe.log.wandb = None
    _tokenizer_here(recipe, changes)
    if getattr(recipe.data, "index_mapping_dir", None):
        recipe.data.index_mapping_dir = str(Path(log_dir) / "index_mapping")
    if recipe.resume is not None and getattr(recipe.resume, "restore_config", None) is not None:
        changes.append("starting weights: not loaded (they do not fit the debug-size model)")
        recipe.resume.restore_config = None


def _tokenizer_here(recipe, changes: list[str]) -> None:
    """A hub id this machine has not cached: the bundled Llama 3 tokenizer stands in for a Llama 3 model.

    Same vocabulary and special tokens, so the data pipeline is rehearsed as it will run; said in a line,
    since where the job runs must still have (or download) the real one.
    """
    tokenizer = getattr(recipe.data, "tokenizer", None)
    name = getattr(tokenizer, "name", None)
    if not isinstance(name, str) or name == BUNDLED or os.path.isdir(name) or in_hf_cache(name):
        return
    family = getattr(recipe.model.config, "__fn_or_cls__", type(recipe.model.config)).__name__
    if family.startswith("Llama3"):
        tokenizer.name = BUNDLED
        changes.append(f"tokenizer {name}: not in this machine's HF cache; the bundled Llama 3 tokenizer stands in "
                       "(same vocabulary; the job still needs the real one where it runs)")


def _run(recipe, name: str, log_dir: Path, env: dict) -> str:
    """Run ``recipe`` in a fresh process through NeMo-Run's job runner; its output, or RehearsalFailed."""
    from nemo_run.core.serialization.zlib_json import ZlibJSONSerializer

    command = [sys.executable, "-m", "nemo_run.core.runners.fdl_runner", "-n", name,
               ZlibJSONSerializer().serialize(recipe)]
    done = subprocess.run(command, env=env, cwd=log_dir, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                          text=True, errors="replace")
    (log_dir / f"{name}.log").write_text(done.stdout)
    if done.returncode != 0:
        tail = redact("\n".join(done.stdout.rstrip().splitlines()[-TAIL:]))
        raise RehearsalFailed(f"--rehearse: the recipe failed on CPU in its {name} (exit {done.returncode}); the "
                              f"job would fail the same way. Its last lines:\n{tail}")
    return done.stdout


def _checkpoints(log_dir: Path) -> list[str]:
    return sorted(p.name for p in log_dir.glob("*/checkpoints/*") if p.is_dir())


def rehearse(recipe, experiment: str) -> float:
    """Rehearse ``recipe`` (a built, overridden Megatron training recipe); seconds taken. Prints what it checked."""
    began = time.monotonic()
    changes: list[str] = []
    with tempfile.TemporaryDirectory(prefix=f"rehearse-{experiment}-") as tmp:
        log_dir = Path(tmp)
        first = copy.deepcopy(recipe)
        _shrink(first, str(log_dir), changes)
        print(f"rehearsal of {experiment} on this CPU (debug size, {STEPS} steps, a checkpoint, a resume):", flush=True)
        for change in changes:
            print(f"  changed: {change}", flush=True)
        env = quiet.child_env(dict(os.environ))
        env.pop("RECIPES_FAULT", None)
        step_one = copy.deepcopy(first)
        step_one.trainer.max_steps = 1
        _run(step_one, "first-launch", log_dir, env)
        saved = _checkpoints(log_dir)
        if not saved:
            raise RehearsalFailed("--rehearse: the first launch trained a step but wrote no checkpoint; "
                                  "check log.ckpt overrides")
        output = _run(first, "resume", log_dir, env)
        restored = RESTORED.search(output)
        if not restored:
            raise RehearsalFailed(f"--rehearse: the second launch did not resume from {saved[-1]} (auto-resume would "
                                  "start this job from scratch); check resume/log overrides")
    took = time.monotonic() - began
    print(f"  checked: data and tokenizer load, {STEPS} optimizer steps, checkpoint save, resume from "
          f"{Path(restored.group(1)).parent.name}", flush=True)
    print(f"rehearsal passed in {took:.0f} s", flush=True)
    return took
