"""From parsed flags to a job plan: recipe options, executor settings and what to do.

Resolves every default that depends on the machine or the site (GPU count, backend, account...) so
that validation and the dry-run see exactly what would run.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

from executors import capabilities
from executors.settings import ExecutorSettings
from executors.site import site_settings
from recipes import backends
from recipes.config.data_spec import DataSpec, parse_data
from recipes.config.models import get_model
from recipes.config.options import (PRETRAIN_SPLIT, RecipeOptions, default_results_dir, flag_fields,
                                    fp8_recipe_name)
from recipes.config.slurm_settings import resolve
from recipes.core.errors import UsageError
from recipes.core.secrets import flag_secrets, secret_value_problems, split_secret_env
from recipes.core.shell_safe import env_problems
from recipes.job import tutorial
from recipes.job.cli import build_parser, parse_key_values

DEFAULT_MODEL = "llama31_8b"

FALLBACK_STEPS = 100  # --max_steps when an epoch cannot be counted (no data, mock data)


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
    restart: bool = False  # --restart: move the experiment directory aside and start over
    rehearse: bool = False  # --rehearse: run the recipe at debug size on this CPU before launching it
    mounts_explicit: bool = False
    notes: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)  # printed before a run or dry-run starts
    problems: list[str] = field(default_factory=list)  # conflicts found while planning
    local_gpus: int = 0  # GPUs seen on this machine (local executors)
    secrets: dict = field(default_factory=dict, repr=False)  # {name: (value, warning)}: recipes.core.secrets.adopt
    data: DataSpec | None = None  # -D parsed once (see recipes.config.data_spec)
    explicit: set[str] = field(default_factory=set)  # argparse dests the user set on the command line
    overridden: dict[str, str] = field(default_factory=dict)  # RecipeOptions field -> the override that set it
    recipe: object = None  # the built and overridden training recipe, once made (recipes.job.built)
    gpu_memory: float | None = None  # GiB of one GPU for the memory check (--gpu_memory, site file)
    gpu_memory_source: str = ""
    memory_check: bool = True

    @property
    def needs_import(self) -> bool:
        """Megatron runs start from NeMo weights: import ``--hf_model_id`` first unless ``-n`` is given."""
        return backends.get(self.opts.backend).needs_import(self.opts)

    def flag(self, name: str, flag: str) -> str:
        """How to name option ``name`` in a problem: the override that set it, else its flag."""
        return f"override {self.overridden[name]!r}" if name in self.overridden else flag


@dataclass(frozen=True)
class Machine:
    """What planning needs to know of this machine, probed by the caller (not while parsing)."""

    gpus: int = 0

    @classmethod
    def probe(cls, executor: str) -> "Machine":
        """``nvidia-smi -L`` where the job would run here (local executors, docker)."""
        return cls(local_gpu_count() if capabilities(executor).on_this_machine else 0)


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


def _epoch_max_steps(opts: RecipeOptions, notes: list[str]) -> int:
    """``--max_steps`` absent or None: one epoch of the training data, as the tutorial scripts meant it."""
    steps, why = tutorial.epoch_steps(opts, PRETRAIN_SPLIT)
    if steps is None:
        notes.append(f"--max_steps not given and {why}: training {FALLBACK_STEPS} steps; pass --max_steps N")
        return FALLBACK_STEPS
    notes.append(f"--max_steps not given: {why}; pass --max_steps N for another length")
    return steps


def explicit_options(entry: str, args) -> set[str]:
    """The options the user set: those whose value differs from the parser's default."""
    parser = build_parser(entry)
    return {name for name, value in vars(args).items() if value != parser.get_default(name)}


def _key_values(items: list[str], flag: str, problems: list[str]) -> dict[str, str]:
    try:
        return parse_key_values(items, flag)
    except UsageError as exc:
        problems.append(str(exc))
        return parse_key_values([i for i in items if "=" in i and not i.startswith("=")], flag)


def _environment(args, site: dict, problems: list[str], secrets: dict) -> dict[str, str]:
    """``--env`` and the site's env_vars, checked; a secret given by value joins ``secrets``, handed on by
    name when the job launches (:func:`recipes.core.secrets.adopt`)."""
    raw_env = _key_values(args.env, "--env", problems)
    env, given = split_secret_env(raw_env)
    for name in given:
        secrets[name] = (raw_env[name], f"warning: --env {name}=...: secrets reach jobs by name from the environment "
                                        f"and are never written into scripts; export {name} instead")
    site_env = site.get("env_vars", {})
    problems += (secret_value_problems(env, pending=secrets)
                 + secret_value_problems(site_env, "site env_vars", pending=secrets))
    problems += env_problems(env) + env_problems(site_env, "site env_vars")
    return {**split_secret_env(site_env)[0], **env}


def _model(args, problems: list[str]):
    try:
        return get_model(args.model)
    except UsageError as exc:
        problems.append(str(exc))
        return get_model(DEFAULT_MODEL)


def _resources(args, spec, machine: Machine) -> tuple[str, str, bool, int, int, list[str]]:
    """(executor, backend, cpu, num_gpus, local_gpus, notes) with the machine's defaults resolved."""
    notes = []
    can = capabilities(args.executor)
    local_gpus = machine.gpus if can.on_this_machine else 0
    bare = can.on_this_machine and not can.containers  # this machine's processes, no container
    no_gpu = bare and local_gpus == 0
    chosen = backends.choose(spec.is_debug, args.cpu or no_gpu) if args.backend == "auto" else backends.get(args.backend)
    backend = chosen.name
    cpu = args.cpu or (chosen.cpu_without_gpus() and no_gpu)
    if args.num_gpus is not None:
        num_gpus = args.num_gpus
    elif bare:
        num_gpus = 1 if cpu else max(1, local_gpus)
    else:
        num_gpus = 1 if cpu else 8
    executor = args.executor
    if can.many_processes and num_gpus > 1:
        executor = can.many_processes
        notes.append(f"--executor {args.executor} with -G {num_gpus}: starting {num_gpus} processes with {executor}")
    return executor, backend, cpu, num_gpus, local_gpus, notes


def make_plan(entry: str, args, machine: "Machine | None" = None) -> JobPlan:
    """``args``: the namespace from :func:`recipes.job.cli.build_parser`; ``machine``: what the caller probed of
    this machine (:meth:`Machine.probe`). Bad values become ``plan.problems``. Reads files (site settings,
    data), writes nothing and changes no environment: secrets given by value land in ``plan.secrets``."""
    problems: list[str] = []
    spec = _model(args, problems)
    site, site_problems = site_settings()
    problems += site_problems
    secrets = flag_secrets(args.hf_token, args.wandb_token)
    env = _environment(args, site, problems, secrets)
    if entry == "pretrain" and args.peft:
        problems.append(f"--peft {args.peft}: PEFT is for finetuning; use python -m recipes.finetune --peft {args.peft}")
    executor, backend, cpu, num_gpus, local_gpus, notes = _resources(args, spec, machine or Machine.probe(args.executor))
    task = _task(entry, args)
    data, data_problems = parse_data(task, args.dataset_path, getattr(args, "mock_data", False))
    problems += data_problems
    nemo_model = args.nemo_model
    results_dir = _abs(args.results_dir or default_results_dir())
    if nemo_model == "" and entry == "finetune":  # the tutorial's `--nemo_model ${NEMO_MODEL}` with it unset
        nemo_model = tutorial.latest_pretraining_checkpoint(results_dir, backend)
        notes.append(f"-n/--nemo_model empty: starting from the newest checkpoint of {tutorial.PRETRAIN_EXPERIMENT}, "
                     f"{nemo_model}" if nemo_model else
                     f"-n/--nemo_model empty and no checkpoint of {tutorial.PRETRAIN_EXPERIMENT} in {results_dir}: "
                     "starting from the model's HF weights")
    tp, pp, cp = (given if given is not None else default for given, default in zip(
        (args.tensor_model_parallel_size, args.pipeline_model_parallel_size, args.context_parallel_size),
        spec.default_parallelism(task)))
    flags = {f.name: getattr(args, f.name) for f in flag_fields(entry)}  # as given; resolved below where needed
    opts = RecipeOptions(**{
        **flags,
        "task": task, "model": spec.name, "backend": backend, "experiment": args.experiment,
        "results_dir": results_dir, "num_nodes": args.num_nodes, "num_gpus": num_gpus,
        "hf_model_id": _abs(args.hf_model_id) if _is_local_path(args.hf_model_id) else args.hf_model_id,
        "nemo_model": _abs(nemo_model) or None,
        "tokenizer": _abs(args.tokenizer) if _is_local_path(args.tokenizer) else args.tokenizer,
        "max_steps": args.max_steps or 0,
        "lr": args.lr if args.lr is not None else tutorial.default_lr(
            entry, bool(nemo_model or args.hf_model_id), spec.is_debug),
        "tensor_model_parallel_size": tp, "pipeline_model_parallel_size": pp, "context_parallel_size": cp,
        # TP > 1: sequence parallelism on unless asked otherwise, as the tutorial scripts ran (the backend
        # says where it cannot be).
        "sequence_parallel": args.sequence_parallel if args.sequence_parallel is not None else (
            backends.get(backend).default_sequence_parallel(cpu) if tp > 1 else None),
        "fp8_recipe": fp8_recipe_name(args.fp8_recipe), "dataset_path": data.spec if data else None, "data": data,
        "cpu": cpu,
    })
    if args.global_batch_size is None:
        opts.global_batch_size = _default_batch(spec, task, max(1, opts.micro_batch_size), opts.data_parallel_size)
    if args.max_steps is None:
        opts.max_steps = _epoch_max_steps(opts, notes)
    if opts.lr is not None and args.lr is None:
        notes.append(f"--lr {opts.lr:g}: continual pretraining from existing weights, the tutorial's rate "
                     "(NeMo's from-scratch recipe uses 3e-4); pass --lr to change it")
    notes += tutorial.differences(entry, args, opts)
    settings = resolve(
        args, site, nodes=args.num_nodes, gpus_per_node=num_gpus, dependencies=list(args.dependency),
        dependency_type=args.dependency_type,
        sbatch_params={**site.get("sbatch", {}), **_key_values(args.sbatch, "--sbatch", problems)},
        env_vars=env, signal=args.signal, job_dir=_abs(args.job_dir), job_name_prefix=f"{opts.experiment}-",
        use_gpus=not cpu)
    mounts = bool(settings.container_mounts)
    plan = JobPlan(opts=opts, executor=executor, settings=settings, overrides=list(args.overrides),
                   dryrun=args.dryrun, detach=args.detach, yes=args.yes, cpu=cpu, allow_dirty=args.allow_dirty,
                   restart=args.restart, rehearse=args.rehearse,
                   mounts_explicit=mounts, notes=notes, problems=problems,
                   local_gpus=local_gpus, data=data, explicit=explicit_options(entry, args), secrets=secrets,
                   memory_check=not getattr(args, "no_memory_check", False), **_gpu_memory(args, site))
    if settings.container_image and not mounts:
        settings.container_mounts = auto_mounts(plan)
    return plan


def _gpu_memory(args, site: dict) -> dict:
    if getattr(args, "gpu_memory", None) is not None:
        return {"gpu_memory": args.gpu_memory, "gpu_memory_source": "--gpu_memory"}
    if site.get("gpu_memory") is not None:
        return {"gpu_memory": site["gpu_memory"], "gpu_memory_source": "site setting gpu_memory"}
    return {}


def job_paths(plan_or_opts) -> list[str]:
    """Every host path the job reads or writes (must be visible inside a container)."""
    opts = getattr(plan_or_opts, "opts", plan_or_opts)
    data = getattr(plan_or_opts, "data", None)
    if data is None and opts.dataset_path:
        data = parse_data(opts.task, opts.dataset_path)[0]
    paths = [opts.results_dir, *(data.folders if data else ())]
    paths += [p for p in (opts.nemo_model, opts.hf_model_id, opts.tokenizer) if p and p.startswith("/")]
    paths += backends.get(opts.backend).job_paths(opts)
    return paths


def auto_mounts(plan_or_opts) -> list[str]:
    """``DIR:DIR`` for each top-level job directory, so paths are the same inside the container."""
    mounts: list[str] = []
    for path in sorted(set(job_paths(plan_or_opts)), key=len):
        if not any(path == m.split(":")[0] or path.startswith(m.split(":")[0].rstrip("/") + "/") for m in mounts):
            mounts.append(f"{path}:{path}")
    return mounts
