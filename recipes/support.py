"""What each executor and each backend honours: a set option the chosen pair ignores is refused.

Options are argparse destinations; :attr:`JobPlan.explicit` holds those the user set. Adding an
executor- or backend-specific option means one entry here.
"""

from __future__ import annotations

from recipes.plan import JobPlan

FLAGS = {"account": "-a/--account", "partition": "-p/--partition", "time": "-t/--time", "retries": "--retries",
         "dependency": "--dependency", "dependency_type": "--dependency_type", "signal": "--signal",
         "sbatch": "--sbatch", "packager": "--packager", "allow_dirty": "--allow_dirty", "job_dir": "--job_dir",
         "container_image": "-i/--container_image", "container_mounts": "--container_mounts", "detach": "--detach",
         "wandb": "--wandb", "wandb_project": "--wandb_project", "packed_sequence": "--packed_sequence",
         "sequence_parallel": "--sequence_parallel", "fp8_recipe": "--fp8_recipe", "cpu_partition": "--cpu_partition",
         "wandb_name": "--wandb_name"}
_SLURM = {"account", "partition", "cpu_partition", "time", "retries", "dependency", "dependency_type", "signal", "sbatch", "packager",
          "allow_dirty", "job_dir", "container_image", "container_mounts", "detach"}
_EXECUTOR_ONLY = _SLURM
EXECUTOR_OPTIONS = {"local": set(), "torchrun": set(), "slurm": _SLURM,
                    "docker": {"container_image", "container_mounts"}}
_BACKEND_ONLY = {"wandb", "wandb_project", "wandb_name", "packed_sequence", "sequence_parallel"}
BACKEND_OPTIONS = {"megatron": _BACKEND_ONLY, "hf": set()}


def check_supported(plan: JobPlan) -> list[str]:
    problems = []
    executor, backend = plan.executor, plan.opts.backend
    for name in sorted(plan.explicit & _EXECUTOR_ONLY - EXECUTOR_OPTIONS[executor]):
        where = "Slurm" if name not in EXECUTOR_OPTIONS["docker"] else "--executor slurm/docker"
        problems.append(f"{FLAGS[name]}: not used by --executor {executor} ({where} only); drop it or choose "
                        "an executor that honours it")
    for name in sorted(plan.explicit & _BACKEND_ONLY - BACKEND_OPTIONS[backend]):
        problems.append(f"{FLAGS[name]}: the {backend} backend does not support it; drop it or use "
                        "--backend megatron on GPUs")
    if plan.opts.num_nodes > 1 and executor != "slurm":
        problems.append(f"-N/--num_nodes: {plan.opts.num_nodes} nodes need --executor slurm; --executor {executor} "
                        "runs on this machine only (use -N 1)")
    problems += _debug_model_weights(plan)
    if "fp8_recipe" in plan.explicit and not plan.opts.fp8:
        problems.append("--fp8_recipe: has an effect only with --fp8; add --fp8 or drop it")
    return problems


def _debug_model_weights(plan: JobPlan) -> list[str]:
    """``-M tiny`` with ``--hf_model_id``: weights it would ignore (random init) or could not import."""
    from recipes.models import get_model

    opts, spec = plan.opts, get_model(plan.opts.model)
    if not spec.is_debug or not opts.hf_model_id:
        return []
    if opts.backend == "megatron":
        return [f"--hf_model_id: -M {spec.name} trains its own debug architecture, which {opts.hf_model_id} cannot "
                "be imported into; drop --hf_model_id, or choose the model's size with -M"]
    if opts.hf_model_id == spec.hf_id:
        return [f"--hf_model_id: -M {spec.name} trains the debug Llama from random weights and would ignore "
                f"{opts.hf_model_id}; drop --hf_model_id, or pass a local HF model folder to train it"]
    return []
