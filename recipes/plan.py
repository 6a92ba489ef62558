"""From parsed flags to a job plan: recipe options, executor settings and what to do.

Resolves every default that depends on the machine or the site (GPU count, backend, account...) so
that validation and the dry-run see exactly what would run.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

from executors.settings import ExecutorSettings
from executors.site import site_defaults
from recipes.cli import parse_key_values
from recipes.models import get_model
from recipes.options import RecipeOptions, default_results_dir
from recipes.secrets import adopt_hf_token_flag, split_secret_env

LOCAL_EXECUTORS = ("local", "torchrun")


@dataclass
class JobPlan:
    opts: RecipeOptions
    executor: str
    settings: ExecutorSettings
    overrides: list[str] = field(default_factory=list)
    dryrun: bool = False
    detach: bool = False
    yes: bool = False
    cpu: bool = False
    allow_dirty: bool = False
    mounts_explicit: bool = False
    notes: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)  # conflicts found while planning
    local_gpus: int = 0  # GPUs seen on this machine (local executors)
    gpu_memory: float | None = None  # GiB of one GPU for the memory check (--gpu_memory, site file)
    gpu_memory_source: str = ""
    memory_check: bool = True

    @property
    def needs_import(self) -> bool:
        """Megatron runs start from NeMo weights: import ``--hf_model_id`` first unless ``-n`` is given."""
        return self.opts.backend == "megatron" and bool(self.opts.hf_model_id) and not self.opts.nemo_model


def local_gpu_count() -> int:
    if not shutil.which("nvidia-smi"):
        return 0
    try:
        out = subprocess.run(["nvidia-smi", "-L"], capture_output=True, text=True, timeout=20).stdout
    except (OSError, subprocess.SubprocessError):
        return 0
    return sum(1 for line in out.splitlines() if line.startswith("GPU "))


def _abs(path: str | None) -> str | None:
    return str(Path(path).expanduser().absolute()) if path else path


def _abs_dataset(spec: str | None) -> str | None:
    if not spec:
        return spec
    tokens = spec.split()
    if len(tokens) == 1:
        return _abs(tokens[0])
    return " ".join(t if i % 2 == 0 else _abs(t) for i, t in enumerate(tokens))


def _is_local_path(value: str | None) -> bool:
    return bool(value) and (value.startswith(("/", "./", "../", "~")) or os.path.exists(value))


def _task(entry: str, args) -> str:
    if entry == "pretrain":
        return "pretrain"
    return "sft" if args.peft == "none" else args.peft


def _default_batch(spec, task: str, micro: int, data_parallel: int) -> int:
    if spec.is_debug:
        return micro * data_parallel
    return 512 if task == "pretrain" else 128


def make_plan(entry: str, args) -> JobPlan:
    """``args``: the namespace from :func:`recipes.cli.build_parser`. Raises UsageError on bad values."""
    spec = get_model(args.model)
    site = site_defaults()
    adopt_hf_token_flag(args.hf_token)
    raw_env = parse_key_values(args.env, "--env")
    env, secrets = split_secret_env(raw_env)
    for name in secrets:  # a secret given by value: hand it on by name from the environment
        os.environ[name] = raw_env[name]
        print(f"warning: --env {name}=...: secrets reach jobs by name from the environment and are never "
              f"written into scripts; export {name} instead", file=sys.stderr)
    notes, problems = [], []
    if entry == "pretrain" and args.peft:
        problems.append(f"--peft {args.peft}: PEFT is for finetuning; use python -m recipes.finetune --peft {args.peft}")
    local_gpus = local_gpu_count() if args.executor in LOCAL_EXECUTORS + ("docker",) else 0
    backend = args.backend
    if backend == "auto":
        no_gpu = args.cpu or (args.executor in LOCAL_EXECUTORS and local_gpus == 0)
        backend = "hf" if spec.is_debug and no_gpu else "megatron"
    cpu = args.cpu or (backend == "hf" and args.executor in LOCAL_EXECUTORS and local_gpus == 0)
    if args.num_gpus is not None:
        num_gpus = args.num_gpus
    elif args.executor in LOCAL_EXECUTORS:
        num_gpus = 1 if cpu else max(1, local_gpus)
    else:
        num_gpus = 1 if cpu else 8
    executor = args.executor
    if executor == "local" and num_gpus > 1:
        executor = "torchrun"
        notes.append(f"--executor local with -G {num_gpus}: starting {num_gpus} processes with torchrun")
    task = _task(entry, args)
    tp, pp, cp = (given if given is not None else default for given, default in zip(
        (args.tensor_model_parallel_size, args.pipeline_model_parallel_size, args.context_parallel_size),
        spec.default_parallelism(task)))
    opts = RecipeOptions(
        task=task, model=spec.name, backend=backend, experiment=args.experiment,
        results_dir=_abs(args.results_dir or default_results_dir()), num_nodes=args.num_nodes, num_gpus=num_gpus,
        hf_model_id=_abs(args.hf_model_id) if _is_local_path(args.hf_model_id) else args.hf_model_id,
        nemo_model=_abs(args.nemo_model), tokenizer=_abs(args.tokenizer) if _is_local_path(args.tokenizer) else args.tokenizer,
        seq_length=args.seq_length, max_steps=100 if args.max_steps is None else args.max_steps,
        micro_batch_size=args.micro_batch_size, lr=args.lr,
        tensor_model_parallel_size=tp, pipeline_model_parallel_size=pp, context_parallel_size=cp,
        sequence_parallel=args.sequence_parallel,
        fp8=args.fp8, fp8_recipe=args.fp8_recipe, dataset_path=_abs_dataset(args.dataset_path),
        packed_sequence=getattr(args, "packed_sequence", False), qlora=getattr(args, "qlora", False), wandb=args.wandb, wandb_project=args.wandb_project,
        seed=args.seed, val_check_interval=args.val_check_interval, ckpt_every_n_steps=args.ckpt_every_n_steps,
    )
    opts.global_batch_size = args.global_batch_size or _default_batch(spec, task, opts.micro_batch_size,
                                                                     opts.data_parallel_size)
    mounts = args.container_mounts.split(",") if args.container_mounts else site.get("container_mounts", [])
    settings = ExecutorSettings(
        nodes=args.num_nodes, gpus_per_node=num_gpus, account=args.account or site.get("account"),
        partition=args.partition or site.get("partition"), time=args.time or site.get("time") or "04:00:00",
        container_image=args.container_image or site.get("container_image"),
        container_mounts=[m for m in mounts if m], retries=args.retries, dependencies=list(args.dependency),
        dependency_type=args.dependency_type, sbatch_params={**site.get("sbatch", {}), **parse_key_values(args.sbatch, "--sbatch")},
        env_vars={**site.get("env_vars", {}), **env}, packager=args.packager or default_packager(),
        signal=args.signal, job_dir=_abs(args.job_dir), job_name_prefix=f"{opts.experiment}-", use_gpus=not cpu,
    )
    if settings.container_image and not mounts:
        settings.container_mounts = auto_mounts(opts)
    return JobPlan(opts=opts, executor=executor, settings=settings, overrides=list(args.overrides),
                   dryrun=args.dryrun, detach=args.detach, yes=args.yes, cpu=cpu, allow_dirty=args.allow_dirty,
                   mounts_explicit=bool(mounts), notes=notes, problems=problems,
                   local_gpus=local_gpus, memory_check=not getattr(args, "no_memory_check", False),
                   **_gpu_memory(args, site))


def _gpu_memory(args, site: dict) -> dict:
    if getattr(args, "gpu_memory", None) is not None:
        return {"gpu_memory": args.gpu_memory, "gpu_memory_source": "--gpu_memory"}
    if site.get("gpu_memory") is not None:
        return {"gpu_memory": site["gpu_memory"], "gpu_memory_source": "site setting gpu_memory"}
    return {}


def repo_root() -> Path:
    return Path(__file__).resolve().parent.parent


def default_job_dir() -> str:
    """Where NeMo-Run keeps experiments without --job_dir (what it reads from $NEMORUN_HOME at import)."""
    return os.path.join(os.path.expanduser(os.environ.get("NEMORUN_HOME", "~/.nemo_run")), "experiments")


def default_packager() -> str:
    """Ship committed code when this library runs from a git checkout; else the image's installed copy."""
    return "git" if (repo_root() / ".git").exists() else "none"


def job_paths(opts: RecipeOptions) -> list[str]:
    """Every host path the job reads or writes (must be visible inside a container)."""
    from recipes.mmap_paths import parse_mmap_paths

    paths = [opts.results_dir]
    if opts.dataset_path:
        if opts.task == "pretrain":
            paths += [str(Path(prefix).parent) for _, prefix in parse_mmap_paths(opts.dataset_path)]
        else:
            paths.append(opts.dataset_path)
    paths += [p for p in (opts.nemo_model, opts.hf_model_id, opts.tokenizer) if p and p.startswith("/")]
    return paths


def auto_mounts(opts: RecipeOptions) -> list[str]:
    """``DIR:DIR`` for each top-level job directory, so paths are the same inside the container."""
    mounts: list[str] = []
    for path in sorted(set(job_paths(opts)), key=len):
        if not any(path == m.split(":")[0] or path.startswith(m.split(":")[0].rstrip("/") + "/") for m in mounts):
            mounts.append(f"{path}:{path}")
    return mounts
