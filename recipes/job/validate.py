"""Pre-flight validation: every problem found before anything is written, started or submitted.

Each check returns one-line problems naming the flag and the fix; :func:`validate` collects them all
so the user fixes everything in one go (exit 2).
"""

from __future__ import annotations

import math
import os
from pathlib import Path

from executors import capabilities
from recipes import backends
from recipes.config.data_spec import MockData, SFTFolder
from recipes.config.identity import mismatch
from recipes.config.models import get_model
from recipes.config.options import FP8_RECIPE_NAMES
from recipes.config.slurm_settings import ACCOUNT_REQUIRED, retries_problems
from recipes.conversion import hf_weights
from recipes.conversion.nemo_source import completeness_problems
from recipes.data.mmap_paths import FLAG as MMAP_FLAG, missing_files
from recipes.data.sft_files import folder_problems
from recipes.job.built import build_and_override
from recipes.job.memory_check import check_plan
from recipes.job.plan import JobPlan, Machine, job_paths, make_plan
from recipes.job.shell_check import check_shell_values
from recipes.job.support import check_supported
from recipes.job.tutorial_spellings import spelling_problems


def check_parallelism(plan: JobPlan) -> list[str]:
    o, problems = plan.opts, []
    if o.num_nodes < 1:
        problems.append(f"-N/--num_nodes: {o.num_nodes} must be >= 1")
    if o.num_gpus < 1:
        problems.append(f"-G/--num_gpus: {o.num_gpus} must be >= 1")
    sizes = {"-T/--tensor_model_parallel_size": o.tensor_model_parallel_size,
             "-P/--pipeline_model_parallel_size": o.pipeline_model_parallel_size,
             "-C/--context_parallel_size": o.context_parallel_size}
    problems += [f"{flag}: {value} must be >= 1" for flag, value in sizes.items() if value < 1]
    if o.micro_batch_size < 1:
        problems.append(f"{plan.flag('micro_batch_size', '-m/--micro_batch_size')}: {o.micro_batch_size} must be >= 1")
    if o.global_batch_size < 1:
        problems.append(f"{plan.flag('global_batch_size', '-g/--global_batch_size')}: {o.global_batch_size} "
                        "must be >= 1")
    if problems:
        return problems
    if o.world_size % o.model_parallel_size:
        tp, pp, cp = get_model(o.model).default_parallelism(o.task)
        problems.append(f"-T/-P/-C: TP×PP×CP = {o.model_parallel_size} does not divide nodes×GPUs = {o.world_size}; "
                        f"choose sizes whose product divides {o.world_size} (recipe defaults for {o.model} "
                        f"{o.task}: -T {tp} -P {pp} -C {cp})")
    elif o.global_batch_size % (o.micro_batch_size * o.data_parallel_size):
        step = o.micro_batch_size * o.data_parallel_size
        problems.append(f"-g/--global_batch_size: {o.global_batch_size} is not divisible by micro_batch_size × "
                        f"data_parallel_size = {o.micro_batch_size} × {o.data_parallel_size}; use a multiple of {step}")
    if o.sequence_parallel and o.tensor_model_parallel_size < 2:
        problems.append("--sequence_parallel: needs tensor parallelism; add -T 2 (or more) or drop --sequence_parallel")
    backend = backends.get(o.backend)
    if not backend.model_parallel and o.model_parallel_size > 1:
        use = " or ".join(f"--backend {b.name}" for b in backends.REGISTRY.values() if b.model_parallel)
        problems.append(f"-T/-P/-C: the {backend.title} ({backend.name}) backend is data-parallel only; use 1 or {use}")
    return problems


def check_sequence(plan: JobPlan) -> list[str]:
    o, spec, problems = plan.opts, get_model(plan.opts.model), []
    length = spec.default_seq_length_for(o.task, o.packed_sequence) if o.seq_length is None else o.seq_length
    if length < 1:
        return [f"{plan.flag('seq_length', '-s/--seq_length')}: {length} must be >= 1"]
    if length > spec.max_seq_length:
        problems.append(f"-s/--seq_length: {length} exceeds what {spec.name} supports ({spec.max_seq_length}); "
                        f"use at most {spec.max_seq_length}")
    if o.context_parallel_size > 1 and length % (2 * o.context_parallel_size):
        problems.append(f"-s/--seq_length: {length} must be divisible by 2×CP = {2 * o.context_parallel_size} "
                        "with context parallelism")
    if o.qlora and ("qlora" not in backends.get(o.backend).honours or o.task not in ("lora", "dora")):
        problems.append(f"--qlora: needs --peft lora/dora and {_which('qlora')}")
    elif o.qlora and plan.cpu:
        problems.append("--qlora: the 4-bit base (bitsandbytes) needs a CUDA GPU; drop --qlora (plain --peft lora "
                        "runs on CPU) or run on a GPU machine")
    if o.packed_sequence and o.micro_batch_size != 1:
        problems.append("--packed_sequence: needs -m/--micro_batch_size 1")
    return problems


def check_training(plan: JobPlan) -> list[str]:
    o, problems = plan.opts, []
    if o.max_steps <= 0:
        problems.append(f"{plan.flag('max_steps', '--max_steps')}: {o.max_steps} must be > 0")
    if o.lr is not None and not (math.isfinite(o.lr) and o.lr > 0):
        problems.append(f"{plan.flag('lr', '--lr')}: {o.lr} must be a finite number > 0, e.g. 1e-4")
    if not 0 <= o.seed < 2**32:
        problems.append(f"--seed: {o.seed} must be in [0, 2**32)")
    if o.fp8_recipe not in FP8_RECIPE_NAMES:
        problems.append(f"--fp8_recipe: unknown recipe {o.fp8_recipe!r}; choose one of {', '.join(FP8_RECIPE_NAMES)}")
    backend = backends.get(o.backend)
    if o.fp8 and "fp8" not in backend.honours:
        problems.append(f"--fp8: only {_which('fp8', flags=False)} supports FP8; drop --fp8 or use "
                        f"{backends.use_flags('fp8')} on GPUs")
    if plan.rehearse and "rehearse" not in backend.honours:
        titles = " or ".join(b.title for b in backends.supporting("rehearse"))
        problems.append(f"--rehearse: rehearses a {titles} recipe on CPU; the {backend.title} backend already runs "
                        "here: drop --rehearse and try it with --max_steps 2")
    for name, value in (("val_check_interval", o.val_check_interval), ("ckpt_every_n_steps", o.ckpt_every_n_steps)):
        if value is not None and value <= 0:
            problems.append(f"{plan.flag(name, '--' + name)}: {value} must be > 0")
    return problems


def _which(option: str, flags: bool = True) -> str:
    """The backends that honour a backend-specific option, as a message names them: "the Megatron backend
    (--backend megatron)"; without ``flags`` the names only."""
    return " or ".join(f"the {b.title} backend" + (f" (--backend {b.name})" if flags else "")
                       for b in backends.supporting(option)) or "no backend"


def check_backend(plan: JobPlan) -> list[str]:
    """The chosen backend's own checks (recipes.backends)."""
    return backends.get(plan.opts.backend).problems(plan)


def check_weights(plan: JobPlan) -> list[str]:
    o, problems = plan.opts, []
    if o.nemo_model and not Path(o.nemo_model).is_dir():
        problems.append(f"-n/--nemo_model: {o.nemo_model} is not a directory; pass a NeMo checkpoint folder")
    elif o.nemo_model and not (Path(o.nemo_model) / "config.json").is_file():  # a NeMo checkpoint: all there?

        problems += completeness_problems(Path(o.nemo_model).absolute(), f"-n/--nemo_model {o.nemo_model}")
    if o.hf_model_id and o.hf_model_id.startswith("/") and not Path(o.hf_model_id).is_dir():
        problems.append(f"--hf_model_id: {o.hf_model_id} does not exist; pass an HF id or a local HF model folder")
    if o.nemo_model and o.hf_model_id and Path(o.nemo_model).is_dir():
        recorded = _recorded_hf_id(Path(o.nemo_model))
        if recorded and Path(recorded).name != Path(o.hf_model_id).name:
            problems.append(f"--hf_model_id: {o.hf_model_id} disagrees with -n/--nemo_model, which was made from "
                            f"{recorded}; drop --hf_model_id or pass the matching id")
    for flag, folder in (("--hf_model_id", o.hf_model_id), ("-n/--nemo_model", o.nemo_model)):
        if folder and (Path(folder) / "config.json").is_file():  # a local HF folder: its weights all there?
            problems += hf_weights.folder_problems(folder, flag)
    if o.tokenizer and o.tokenizer.startswith("/") and not Path(o.tokenizer).is_dir():
        problems.append(f"--tokenizer: {o.tokenizer} does not exist; pass an HF id or a tokenizer folder")
    return problems


def _recorded_hf_id(checkpoint: Path) -> str | None:
    """The HF id a NeMo checkpoint's context records for its tokenizer, if any."""
    for name in ("context/model.yaml", "context/io.json"):
        path = checkpoint / name
        if path.is_file():
            for line in path.read_text(errors="ignore").splitlines():
                if "pretrained_model_name" in line:
                    return line.split(":", 1)[-1].strip().strip('",')
    return None


def check_dataset(plan: JobPlan) -> list[str]:
    o, data, flag = plan.opts, plan.data, plan.flag("dataset_path", "-D/--dataset_path")
    if isinstance(data, MockData):
        if "mock_data" not in backends.get(o.backend).honours or o.task != "pretrain":
            titles = " or ".join(b.title for b in backends.supporting("mock_data"))
            return [f"--mock_data: only {titles} pretraining has a mock dataset; pass -D with real data"]
        return []
    if data is None:
        if {"dataset_path", "mock_data"} & (plan.explicit | set(plan.overridden)):
            return []  # given but unusable: planning (or the override) reported it
        if o.task == "pretrain" and "mock_data" in backends.get(o.backend).honours:
            return [f"{flag}: required; pass Megatron mmap prefix(es) (python -m recipes.preprocess), or "
                    "--mock_data to train on random tokens on purpose"]
        kind = "a folder with training.jsonl" if o.task != "pretrain" else "Megatron mmap prefix(es)"
        return [f"{flag}: required here; pass {kind} (see python -m recipes.prepare_sft / preprocess)"]
    if isinstance(data, SFTFolder):
        return [p.replace(MMAP_FLAG, flag, 1) for p in folder_problems(Path(data.path))]
    missing = [p.replace(MMAP_FLAG, flag, 1) for p in missing_files(list(data.pairs))]
    if missing and capabilities(plan.executor).batch and plan.settings.dependencies and not any(
            Path(p + ".bin").exists() or Path(p + ".idx").exists() for _, p in data.pairs):
        # Written by the job this one waits for (e.g. a preprocess job): the job finds out when it starts.
        plan.notes.append(f"{flag}: {data.spec} does not exist yet; expecting it from "
                          f"--dependency {' '.join(plan.settings.dependencies)}")
        return []
    return missing


def check_executor(plan: JobPlan) -> list[str]:
    s, problems, can = plan.settings, [], capabilities(plan.executor)
    if can.batch and not s.account:
        problems.append(ACCOUNT_REQUIRED)
    if can.containers == "required" and not s.container_image:
        problems.append(f"-i/--container_image: required with --executor {plan.executor}")
    problems += retries_problems(s.retries)
    if s.container_image and can.containers and plan.mounts_explicit:
        sources = [m.split(":")[0].rstrip("/") for m in s.container_mounts]
        for path in job_paths(plan):
            if not any(path == src or path.startswith(src + "/") for src in sources):
                problems.append(f"--container_mounts: {path} is outside every mount; add {path}:{path} "
                                "(or a parent folder) to --container_mounts")
    return problems


def check_results_dir(plan: JobPlan) -> list[str]:
    path = Path(plan.opts.log_dir)
    existing = next((p for p in (path, *path.parents) if p.exists()), None)
    if existing is None or not existing.is_dir() or not os.access(existing, os.W_OK | os.X_OK):
        return [f"--results_dir: cannot write {path} ({existing} is not a writable folder); "
                "pass --results_dir on a writable path"]
    return []


def check_run_identity(plan: JobPlan) -> list[str]:
    """Refuse to resume a different run from the experiment's directory (see recipes.config.identity)."""
    if plan.restart:
        plan.notes.append(f"--restart: {plan.opts.log_dir} is moved aside (kept as {Path(plan.opts.log_dir).name}"
                          ".old-<time>) and the experiment starts over")
        return []
    problem = mismatch(plan.opts)
    if problem and plan.dryrun:  # a dry-run shows what a launch would do
        plan.notes.append(f"a launch would refuse: {problem}")
        return []
    return [problem] if problem else []



def check_memory(plan: JobPlan) -> list[str]:
    """The pre-flight memory estimate against the GPU (Megatron backend; see recipes/job/memory_check.py)."""
    return check_plan(plan)



CHECKS = (check_parallelism, check_sequence, check_training, check_backend, check_weights, check_dataset, check_executor,
          check_results_dir, check_shell_values, check_supported, check_run_identity, check_memory)


def validate(plan: JobPlan) -> list[str]:
    """All problems with ``plan`` (empty when it may run). Reads files; writes nothing."""
    return plan.problems + [problem for check in CHECKS for problem in check(plan)]


def checked_plan(entry: str, args, spellings: dict | None = None) -> tuple[JobPlan, list[str]]:
    """A training command's plan on this machine and all its problems: planning's, the tutorial spellings'
    (``spellings``, from :func:`recipes.job.tutorial_spellings.split_spellings`), the overridden recipe's (built once here when overrides change it, kept in
    ``plan.recipe``) and validation's. ``recipes.launch.entry`` and the pipelines' training stages both use it."""
    plan = make_plan(entry, args, Machine.probe(args.executor))
    problems = spelling_problems(spellings or {}, plan)
    if plan.overrides:  # only then does the recipe differ from the plan; building imports NeMo
        problems += build_and_override(plan)
    return plan, problems + validate(plan)
