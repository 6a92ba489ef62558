"""What each executor and each backend honours: a set option the chosen pair ignores is refused.

Options are argparse destinations; :attr:`JobPlan.explicit` holds those the user set. The backends
and the executors (``OPTIONS`` in each ``executors/<name>.py``) declare theirs.
"""

from __future__ import annotations

import executors
from recipes import backends
from recipes.job.plan import JobPlan

FLAGS = {"account": "-a/--account", "partition": "-p/--partition", "time": "-t/--time", "retries": "--retries",
         "dependency": "--dependency", "dependency_type": "--dependency_type", "signal": "--signal",
         "sbatch": "--sbatch", "packager": "--packager", "allow_dirty": "--allow_dirty", "job_dir": "--job_dir",
         "container_image": "-i/--container_image", "container_mounts": "--container_mounts", "detach": "--detach",
         "wandb": "--wandb", "wandb_project": "--wandb_project", "packed_sequence": "--packed_sequence",
         "sequence_parallel": "--sequence_parallel", "fp8_recipe": "--fp8_recipe", "cpu_partition": "--cpu_partition",
         "wandb_name": "--wandb_name"}
# Backend-specific options refused when set explicitly and the chosen backend does not honour them;
# --fp8, --qlora, --mock_data and --rehearse are checked by value in recipes.job.validate.
_REFUSED_WHEN_SET = ("wandb", "wandb_project", "wandb_name", "packed_sequence", "sequence_parallel")


def check_supported(plan: JobPlan) -> list[str]:
    problems = []
    executor, backend = plan.executor, backends.get(plan.opts.backend)
    for name in sorted(plan.explicit & executors.option_names() - executors.options(executor)):
        honouring = [e for e in executors.EXECUTORS if name in executors.options(e)]
        where = "Slurm" if honouring == ["slurm"] else f"--executor {'/'.join(honouring)}"
        problems.append(f"{FLAGS[name]}: not used by --executor {executor} ({where} only); drop it or choose "
                        "an executor that honours it")
    for name in sorted(plan.explicit & set(_REFUSED_WHEN_SET) - backend.honours):
        problems.append(f"{FLAGS[name]}: the {backend.name} backend does not support it; drop it or use "
                        f"{backends.use_flags(name)} on GPUs")
    if plan.opts.num_nodes > 1 and executor != "slurm":
        problems.append(f"-N/--num_nodes: {plan.opts.num_nodes} nodes need --executor slurm; --executor {executor} "
                        "runs on this machine only (use -N 1)")
    if "fp8_recipe" in plan.explicit and not plan.opts.fp8:
        problems.append("--fp8_recipe: has an effect only with --fp8; add --fp8 or drop it")
    return problems
