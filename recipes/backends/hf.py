"""The small-model backend: Hugging Face transformers + PEFT on Lightning (``recipes/hf/``), for CPUs and
debug-size models. Data-parallel only; it writes an HF folder at the end of training."""

from __future__ import annotations

from pathlib import Path

from recipes.backends.base import Backend
from recipes.config.models import get_model


class SmallModel(Backend):
    name = "hf"
    title = "small-model"
    honours = frozenset({"qlora"})
    untrained_from_seed = True

    def auto_chosen(self, debug_model: bool, no_gpu: bool) -> bool:
        return debug_model and no_gpu

    def cpu_without_gpus(self) -> bool:
        return True

    def build(self, opts):
        from recipes.hf import recipe  # imports nemo_run and torch (~3 s): this backend's one wait for them

        return recipe.build_recipe(opts)

    def problems(self, plan) -> list[str]:
        opts, spec = plan.opts, get_model(plan.opts.model)
        if spec.is_debug and opts.hf_model_id and opts.hf_model_id == spec.hf_id:
            return [f"--hf_model_id: -M {spec.name} trains the debug Llama from random weights and would ignore "
                    f"{opts.hf_model_id}; drop --hf_model_id, or pass a local HF model folder to train it"]
        return []

    def training_output(self, opts) -> str:
        return str(Path(opts.log_dir) / ("hf_adapter" if opts.task in ("lora", "dora") else "hf_model"))

    def latest_checkpoint(self, experiment_dir: Path) -> str | None:
        """The exported ``hf_model/`` folder."""
        folder = experiment_dir / "hf_model"
        return str(folder) if (folder / "config.json").is_file() else None


BACKEND = SmallModel()
