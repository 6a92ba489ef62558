"""The Megatron backend: NeMo 2's ``nemo.collections.llm`` recipes on megatron-core (``recipes/megatron/recipe.py``).

Every NeMo import stays in ``recipes.megatron.recipe`` and ``recipes.mcore``, loaded when a recipe is built
(nemo_run and NeMo cost seconds of start-up, which planning and validation never pay).
"""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

from executors import capabilities
from recipes.backends.base import Backend
from recipes.config.models import get_model
from recipes.config.options import nemo_models_dir
from recipes.conversion import hf_arch


def _bare_here(executor: str) -> bool:
    """Processes on this machine's own GPUs, without a container (local, torchrun)."""
    can = capabilities(executor)
    return can.on_this_machine and not can.containers


def _nemo():
    """The backend's NeMo side, loaded on first use: planning, validation and ``--help`` never pay for it."""
    from recipes.megatron import recipe, rehearse  # nemo_run, torch, NeMo (3-20 s): this backend's one wait for them

    return SimpleNamespace(recipe=recipe, rehearse=rehearse)


class Megatron(Backend):
    name = "megatron"
    title = "Megatron"
    honours = frozenset({"wandb", "wandb_project", "wandb_name", "packed_sequence", "sequence_parallel", "fp8",
                         "mock_data", "rehearse"})
    model_parallel = True
    estimates_memory = True

    def auto_chosen(self, debug_model: bool, no_gpu: bool) -> bool:
        return True

    def default_sequence_parallel(self, cpu: bool) -> bool:
        # Not on a CPU, whose torch LayerNorm (no Transformer Engine) megatron-core refuses to split by sequence.
        return not cpu

    def needs_import(self, opts) -> bool:
        """Megatron runs start from NeMo weights: import ``--hf_model_id`` first unless ``-n`` is given."""
        return bool(opts.hf_model_id) and not opts.nemo_model

    def build(self, opts):
        return _nemo().recipe.build_recipe(opts)

    def pre_tasks(self, opts, needs_import: bool) -> list[tuple[str, object]]:
        return [("import", _nemo().recipe.import_task(opts))] if needs_import else []

    def rehearse(self, recipe, experiment: str) -> None:
        _nemo().rehearse.rehearse(recipe, experiment)

    def problems(self, plan) -> list[str]:
        o, problems = plan.opts, []
        spec = get_model(o.model)
        if spec.is_debug and o.hf_model_id:
            problems.append(f"--hf_model_id: -M {spec.name} trains its own debug architecture, which {o.hf_model_id} "
                            "cannot be imported into; drop --hf_model_id, or choose the model's size with -M")
        if plan.cpu:
            problems += cpu_problems(o)
        elif _bare_here(plan.executor) and plan.local_gpus < o.num_gpus:
            message = (f"-G/--num_gpus: {o.num_gpus} GPU(s) asked but this machine has {plan.local_gpus}; Megatron "
                       "needs CUDA: lower -G, submit with --executor slurm, or use -M tiny on CPU")
            if plan.dryrun:
                plan.notes.append(message)  # a dry-run may be prepared on a login node without GPUs
            else:
                problems.append(message)
        return problems

    def job_paths(self, opts) -> list[str]:
        # The import task writes NeMo's model cache, training restores from there.
        return [nemo_models_dir()] if self.needs_import(opts) else []

    def latest_checkpoint(self, experiment_dir: Path) -> str | None:
        return newest_last_checkpoint(experiment_dir)


def newest_last_checkpoint(run_dir: Path) -> str | None:
    """A Megatron run's ``checkpoints/*-last``, newest by mtime; a save NeMo's ModelCheckpoint marks
    unfinished (``<name>-unfinished`` beside it) is skipped."""
    folders = [p for p in (Path(run_dir) / "checkpoints").glob("*-last")
               if p.is_dir() and not (p.parent / (p.name + "-unfinished")).exists()]
    return str(max(folders, key=lambda p: p.stat().st_mtime)) if folders else None


def cpu_problems(o) -> list[str]:
    """``--backend megatron --cpu``: debug sizes only, and nothing that needs Transformer Engine's kernels
    (megatron-core's local layers refuse each of these when the model is built, after minutes of startup)."""
    if not _debug_size(o):
        return [f"--cpu: the Megatron backend runs on CPU for debug-size models only (-M tiny, or an --hf_model_id "
                f"folder of at most {hf_arch.CPU_MAX_PARAMS // 10**6}M parameters); {_model_named(o)} needs GPUs: "
                "drop --cpu"]
    problems = []
    if o.context_parallel_size > 1:
        problems.append(f"-C/--context_parallel_size: {o.context_parallel_size} needs Transformer Engine's attention "
                        "(megatron-core's local attention has no context parallelism), which --cpu runs without; "
                        "use -C 1")
    if o.sequence_parallel:
        problems.append("--sequence_parallel: not with --cpu: megatron-core's torch LayerNorm (no Transformer Engine) "
                        "cannot be split by sequence; drop --sequence_parallel (-T still splits the layers)")
    if o.packed_sequence:
        problems.append("--packed_sequence: needs Transformer Engine's attention (megatron-core's local attention "
                        "has no packed sequences), which --cpu runs without; drop --packed_sequence")
    if o.fp8:
        problems.append("--fp8: needs a Hopper GPU with Transformer Engine; drop --fp8 with --cpu")
    return problems


def _debug_size(o) -> bool:
    """A debug model, or starting weights from a local HF folder small enough for a CPU (recipes.conversion.hf_arch)."""
    if get_model(o.model).is_debug:
        return True
    config = None if o.nemo_model else hf_arch.read_config(o.hf_model_id)
    try:
        return config is not None and hf_arch.parameter_count(config) <= hf_arch.CPU_MAX_PARAMS
    except (KeyError, TypeError, ZeroDivisionError):  # a malformed config.json: the import reports it
        return False


def _model_named(o) -> str:
    config = None if o.nemo_model else hf_arch.read_config(o.hf_model_id)
    if config is None:
        return f"-M {o.model}"
    try:
        return f"{o.hf_model_id} ({hf_arch.parameter_count(config) / 1e6:.0f}M parameters)"
    except (KeyError, TypeError, ZeroDivisionError):
        return o.hf_model_id


BACKEND = Megatron()
