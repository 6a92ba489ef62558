"""What a training backend declares: the options it honours, how ``--backend auto`` picks it, its build
and pre-tasks, its own checks, its memory check and where its outputs land.

The generic code (planning, validation, launch, pipelines) asks the chosen :class:`Backend`; it never
compares backend names. A backend is one module defining a subclass and one line in
:data:`recipes.backends.REGISTRY` (or :func:`recipes.backends.register`).
"""

from __future__ import annotations

from pathlib import Path


class Backend:
    name: str = ""  # the --backend value
    title: str = ""  # how messages name it: "the <title> backend", "a <title> recipe"
    # The backend-specific options (argparse destinations) it honours. An option some backend lists here is
    # backend-specific (recipes.backends.specific_options): refused with the backends that do not list it.
    # Every other option is generic.
    honours: frozenset[str] = frozenset()
    model_parallel: bool = False  # tensor / pipeline / context parallelism (-T/-P/-C above 1)
    estimates_memory: bool = False  # the pre-flight memory estimate applies (recipes.job.memory_check)
    untrained_from_seed: bool = False  # a run's untrained weights are remade from its model and seed (evaluate baseline)

    def auto_chosen(self, debug_model: bool, no_gpu: bool) -> bool:
        """Whether ``--backend auto`` picks this backend (asked in registry order; the last one always
        answers True)."""
        return False

    def cpu_without_gpus(self) -> bool:
        """Whether a local run on a machine without GPUs trains on CPU without --cpu."""
        return False

    def default_sequence_parallel(self, cpu: bool) -> bool:
        """Sequence parallelism when -T > 1 and --sequence_parallel is not given."""
        return True

    def needs_import(self, opts) -> bool:
        """Whether starting weights must be imported by a pre-task before training."""
        return False

    def build(self, opts):
        """The training ``nemo_run.Partial`` for ``opts`` (a :class:`recipes.config.options.RecipeOptions`)."""
        raise NotImplementedError

    def pre_tasks(self, opts, needs_import: bool) -> list[tuple[str, object]]:
        """Tasks that run before training in the same experiment, in order."""
        return []

    def rehearse(self, recipe, experiment: str) -> None:
        """``--rehearse`` (backends whose ``honours`` has it): run ``recipe`` at debug size here first."""
        raise NotImplementedError

    def problems(self, plan) -> list[str]:
        """This backend's own checks of a plan (one line each), after the generic ones."""
        return []

    def job_paths(self, opts) -> list[str]:
        """Directories beyond the generic ones its tasks read or write (mounted into containers)."""
        return []

    def training_output(self, opts) -> str:
        """What a finished training run leaves (the pipeline's next stage reads it)."""
        return str(Path(opts.log_dir) / "checkpoints")

    def latest_checkpoint(self, experiment_dir: Path) -> str | None:
        """The newest complete starting point a finished run of an experiment left, if any."""
        return None
