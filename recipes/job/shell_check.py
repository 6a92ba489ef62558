"""The plan's values that reach a shell or a batch script, checked with :mod:`recipes.core.shell_safe`."""

from __future__ import annotations

from executors import capabilities
from recipes.config.slurm_settings import default_job_dir
from recipes.core.shell_safe import image_problems, mount_problems, name_problem, path_problems, slurm_problems
from recipes.job.plan import JobPlan, job_paths


def check_shell_values(plan: JobPlan) -> list[str]:
    o, s = plan.opts, plan.settings
    problems = [p for p in [name_problem("-E/--experiment", o.experiment)] if p]
    can = capabilities(plan.executor)
    scripted = can.scripted  # paths are rendered into a script or a command line
    if can.batch:
        problems += slurm_problems(s)
        problems += path_problems("--job_dir / $NEMORUN_HOME", s.job_dir or default_job_dir(), scripted=True)
    if scripted:
        problems += image_problems(s.container_image)
        if plan.mounts_explicit:
            problems += mount_problems(s.container_mounts)
    flags = {o.results_dir: "--results_dir", o.nemo_model: "-n/--nemo_model", o.hf_model_id: "--hf_model_id",
             o.tokenizer: "--tokenizer"}
    for path in dict.fromkeys(job_paths(plan)):
        problems += path_problems(flags.get(path, plan.flag("dataset_path", "-D/--dataset_path")), path,
                                  scripted=scripted)
    return problems
