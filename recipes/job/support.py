"""What each executor and each backend honours: a set option the chosen pair ignores is refused.

Options are argparse destinations; :attr:`JobPlan.explicit` holds those the user set. The backends
and the executors (``OPTIONS`` in each ``executors/<name>.py``) declare theirs.
"""

from __future__ import annotations

import executors
from recipes import backends
from recipes.job.cli import flag_names
from recipes.job.plan import JobPlan

# Backend-specific options are refused when set and the chosen backend does not honour them; these are
# checked by their value instead (recipes.job.validate: an option set to its default is not a request).
CHECKED_BY_VALUE = frozenset({"fp8", "qlora", "mock_data", "rehearse"})


def check_supported(plan: JobPlan) -> list[str]:
    problems, flags = [], flag_names()
    executor, backend = plan.executor, backends.get(plan.opts.backend)
    for name in sorted(plan.explicit & executors.option_names() - executors.options(executor)):
        honouring = [e for e in executors.EXECUTORS if name in executors.options(e)]
        where = "Slurm" if honouring == ["slurm"] else f"--executor {'/'.join(honouring)}"
        problems.append(f"{flags[name]}: not used by --executor {executor} ({where} only); drop it or choose "
                        "an executor that honours it")
    for name in sorted(plan.explicit & (backends.specific_options() - CHECKED_BY_VALUE) - backend.honours):
        problems.append(f"{flags[name]}: the {backend.name} backend does not support it; drop it or use "
                        f"{backends.use_flags(name)} on GPUs")
    if plan.opts.num_nodes > 1 and not executors.capabilities(executor).multi_node:
        problems.append(f"-N/--num_nodes: {plan.opts.num_nodes} nodes need --executor slurm; --executor {executor} "
                        "runs on this machine only (use -N 1)")
    if "fp8_recipe" in plan.explicit and not plan.opts.fp8:
        problems.append("--fp8_recipe: has an effect only with --fp8; add --fp8 or drop it")
    return problems
