"""``python -m recipes.preprocess --shards N``: plan (or resume) the shards, then run them and the merge.

Here (``--executor local``) the shards run one after another in this process, then the merge. With
``--executor slurm`` the shards still to do form one job array (task i = shard i) and the merge (or
with ``--no-merge`` the blend) is a dependent CPU job (afterok on the whole array), submitted together
as one NeMo-Run experiment. Rerunning the same command after a failure resubmits only the shards that
are missing or incomplete (see :mod:`recipes.data.shards`), then merges.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from recipes.core.errors import UsageError, ValidationErrors
from recipes.data.mmap import _all_or_errors, _check_keys, make_encoder, MmapOutputs
from recipes.data.shard_merge import finish_shards
from recipes.data.shards import check_count, manifest_path, prepare, progress, read_json, run_shard, start
from recipes.launch.remote import array_task_states, run_experiment
from recipes.launch.runstate import slurm_accounting
from recipes.preprocessing.slurm import absolute_paths, slurm_settings
from executors import build_executor, capabilities

PROG = "recipes.preprocess"
ACTIVE = {"PENDING", "RUNNING", "COMPLETING", "REQUEUED", "CONFIGURING", "SUSPENDED"}


def shard_count(raw: str | None) -> int:
    if raw is None:
        raise UsageError("--no-merge: only with --shards N; add --shards N or drop --no-merge")
    try:
        value = int(raw)
    except ValueError:
        raise UsageError(f"--shards {raw}: not a whole number; pass --shards N with N at least 1") from None
    return check_count(value)


def run_sharded(args: argparse.Namespace, kwargs: dict, problems: list[str] = ()) -> int:
    """Check everything (all problems together, nothing written), write or reuse the plan, run or submit.
    ``problems``: those the command found already (flags out of range, the tokenizer's flags)."""
    absolute_paths(args, kwargs)
    keys = kwargs["json_keys"]
    count, settings, _, _, _, _, planned = _all_or_errors(
        lambda: shard_count(args.shards),
        lambda: slurm_settings(args, kwargs) if capabilities(args.executor).batch else None,
        lambda: _check_keys(keys) and None,
        lambda: MmapOutputs(kwargs["output_prefix"], keys).check(args.overwrite) if not args.no_merge else None,
        lambda: make_encoder(kwargs["tokenizer"], keys, kwargs["append_eod"], kwargs["skip_bad_lines"],
                             include_special_tokens=kwargs["include_special_tokens"],
                             legacy=kwargs["legacy_tokenizer"], use_fast=kwargs["use_fast"],
                             backend=kwargs["tokenizer_backend"]) and None,
        lambda: _raise(problems),
        lambda: prepare(kwargs["input"], kwargs["output_prefix"], valid, kwargs, args.overwrite)
        if (valid := _count_or_none(args.shards)) else None)
    manifest, todo, fresh = planned
    if fresh:
        start(manifest)
    path = str(manifest_path(kwargs["output_prefix"]))
    print(f"{PROG}: {count} shards in {manifest_path(kwargs['output_prefix']).parent}: {count - len(todo)} "
          f"complete, {len(todo)} to do" + (f" ({_ranges(todo)})" if todo else ""), flush=True)
    if settings is None:
        return _run_here(path, todo, kwargs, args)
    return _submit(path, todo, kwargs, args, settings)


def _count_or_none(raw: str | None) -> int | None:
    try:
        return shard_count(raw)
    except UsageError:  # reported by its own check
        return None


def _raise(problems: list[str]) -> None:
    if problems:
        raise ValidationErrors(problems)


def _run_here(manifest: str, todo: list[int], kwargs: dict, args: argparse.Namespace) -> int:
    for index in todo:
        run_shard(manifest, index, workers=kwargs["workers"], log_interval=kwargs["log_interval"],
                  tokenizer_backend=kwargs["tokenizer_backend"])
    finish_shards(manifest, merge=not args.no_merge, overwrite=args.overwrite)
    return 0


def _submit(manifest: str, todo: list[int], kwargs: dict, args: argparse.Namespace, settings) -> int:
    """One experiment: the array of the shards to do (if any), then the merge / blend job after it."""
    import dataclasses

    import nemo_run as run


    tasks = []
    if todo:
        array = build_executor("slurm", settings)
        array.array = _ranges(todo, sep="-")  # task i tokenizes shard i ($SLURM_ARRAY_TASK_ID)
        tasks.append(("shards", run.Partial(run_shard, manifest=manifest, workers=kwargs["workers"],
                                            log_interval=kwargs["log_interval"],
                                            tokenizer_backend=kwargs["tokenizer_backend"]), array))
    last = build_executor("slurm", dataclasses.replace(settings, sbatch_params={
        k: v for k, v in settings.sbatch_params.items() if k != "cpus_per_task"}))
    name = "blend" if args.no_merge else "merge"
    tasks.append((name, run.Partial(finish_shards, manifest=manifest, merge=not args.no_merge,
                                    overwrite=args.overwrite), last))
    jobs: dict[str, str] = {}
    # NeMo-Run's wait knows no job arrays (their state reads UNKNOWN): submit detached, wait here.
    code = run_experiment(args.experiment, tasks, executor="slurm", packager=settings.packager, detach=True,
                          submitted=jobs)
    if code or args.detach:
        return code
    return wait_for_jobs(manifest, jobs.get("shards"), jobs[name], args.experiment)


def wait_for_jobs(manifest: str, array: str | None, last: str, experiment: str, poll_s: float = 5.0) -> int:
    """Print the shards' progress until the merge (blend) job ended; its summary and 0, or what failed and 1."""
    import time


    shown = None
    while True:
        state = slurm_accounting(last).get("state", "PENDING").split()[0]
        done = progress(manifest) or {"done": 0, "total": "?", "documents": 0, "tokens": 0}
        line = f"shards {done['done']}/{done['total']} done: {done['documents']:,} documents, {done['tokens']:,} tokens"
        if line != shown:
            print(f"{PROG}: {line}", flush=True)
            shown = line
        if state == "COMPLETED":
            plan = read_json(Path(manifest)) or {}
            for key, spec in (plan.get("blend") or {}).items():
                print(f"blend ({key}, token-count weights): -D \"{spec}\"")
            for key, prefix in (plan.get("merged") or {}).items():
                print(f"{PROG}: wrote {prefix}.bin/.idx ({key})")
            return 0
        if state not in ACTIVE:
            tasks = array_task_states(array) if array else {}
            if ACTIVE & set(tasks.values()):  # the merge is cancelled at the first failed shard: let the rest end
                time.sleep(poll_s)
                continue
            failed = {k: v for k, v in tasks.items() if v != "COMPLETED"}
            which = ", ".join(f"shard {k} {v}" for k, v in sorted(failed.items())) or f"job {last} {state}"
            print(f"{PROG}: error: {which}; rerun the same command to redo only the missing shards "
                  f"(logs: python -m recipes.status {experiment} --logs shards)", file=sys.stderr)
            return 1
        time.sleep(poll_s)


def _ranges(indices: list[int], sep: str = "-") -> str:
    """``[0, 1, 2, 5]`` -> ``0-2,5`` (sbatch --array syntax)."""
    parts, start = [], None
    for position, index in enumerate(indices):
        if start is None:
            start = index
        if position + 1 == len(indices) or indices[position + 1] != index + 1:
            parts.append(str(start) if start == index else f"{start}{sep}{index}")
            start = None
    return ",".join(parts)
