"""Where a ``recipes.preprocess`` job runs: its Slurm settings (one CPU task, the site defaults filled in),
and its paths made absolute (a job's cwd is NeMo-Run's code folder). Shared by the one-job and the
sharded (:mod:`recipes.preprocessing.shards`) forms of the command."""

from __future__ import annotations

import argparse
import os

from executors.settings import ExecutorSettings
from executors.site import site_settings
from recipes.config.slurm_settings import dirty_problem, resolve, rundir_problem, settings_problems
from recipes.core.errors import ValidationErrors


def local_path(value: str) -> bool:
    return value.startswith(("/", "./", "../", "~")) or os.path.exists(value) or any(c in value for c in "*?[")


def absolute_paths(args: argparse.Namespace, kwargs: dict) -> None:
    """Input, output and a tokenizer folder as absolute paths (a job's cwd is NeMo-Run's code dir)."""
    absolute = lambda path: os.path.abspath(os.path.expanduser(path))  # noqa: E731
    kwargs["input"] = absolute(args.input) if local_path(args.input) else args.input
    kwargs["output_prefix"] = absolute(args.output_prefix)
    if local_path(kwargs["tokenizer"]):
        kwargs["tokenizer"] = absolute(kwargs["tokenizer"])


def slurm_settings(args: argparse.Namespace, kwargs: dict) -> ExecutorSettings:
    """The CPU job's ExecutorSettings (site defaults filled in); makes ``kwargs``' paths absolute.
    Raises every problem with them together."""
    site, problems = site_settings()
    absolute_paths(args, kwargs)
    settings = resolve(args, site, time="01:00:00", nodes=1, gpus_per_node=0, ntasks_per_node=1, use_gpus=False,
                       job_name_prefix=f"{args.experiment}-")
    if args.workers > 1:
        settings.sbatch_params["cpus_per_task"] = args.workers
    problems += settings_problems(settings)
    problems += [p for p in (rundir_problem(settings, args.experiment),
                             dirty_problem(settings.packager, allow_dirty=False)) if p]
    if problems:
        raise ValidationErrors(problems)
    if settings.container_image and not settings.container_mounts:
        folders = {os.path.dirname(kwargs["output_prefix"])}
        if kwargs["input"].startswith("/"):
            folders.add(kwargs["input"] if os.path.isdir(kwargs["input"]) else os.path.dirname(kwargs["input"]))
        settings.container_mounts = [f"{folder}:{folder}" for folder in sorted(folders)]
    return settings
