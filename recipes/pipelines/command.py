"""python -m recipes.pipeline: raw text to a finetuned, exported, evaluated model, one resumable command.

    python -m recipes.pipeline recipes/pipelines/demo.yaml                       # the CPU demo
    python -m recipes.pipeline recipes/pipelines/tutorial.yaml --dryrun          # the tutorial, printed
    python -m recipes.pipeline recipes/pipelines/demo.yaml finetune.max_steps=50 # a changed stage reruns

Stages, in this order, any subset: preprocess, prepare_sft, import, pretrain, finetune, export (or
merge_lora), evaluate, chat. Each stage's options are its command's options (``python -m
recipes.<command> --help``), checked by that command before anything runs. Each finished stage writes
a manifest; a rerun skips the stages whose manifest still matches and reruns a changed stage and
everything after it. Locally the stages run in order; on Slurm (``--executor slurm``) they are
submitted at once as one NeMo-Run experiment, each job with its own resources, chained by afterok.
"""

from __future__ import annotations

import argparse
import sys

from executors import capabilities
from recipes.core.argcheck import number_problems, whole
from recipes.core.errors import ValidationErrors, cli_main
from recipes.pipelines import plan as pipeline_plan
from recipes.pipelines.runner import run_stage
from recipes.pipelines.slurm import submit
from recipes.pipelines.status import record_start

PROG = "recipes.pipeline"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=f"python -m {PROG}", description=__doc__.split("\n\n")[0].split(": ", 1)[1],
                                     epilog="\n\n".join(__doc__.split("\n\n")[1:]),
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("file", help="the pipeline file (YAML), e.g. recipes/pipelines/demo.yaml")
    parser.add_argument("overrides", nargs="*", metavar="STAGE.KEY=VALUE",
                        help="set a stage's option, e.g. finetune.max_steps=50 pretrain.cpu=true")
    parser.add_argument("--executor", choices=("local", "slurm"), default="local",
                        help="local: the stages in order here; slurm: every stage a job, chained by afterok")
    parser.add_argument("--dryrun", action="store_true",
                        help="print each stage's command, resolved recipe and (Slurm) sbatch script; run nothing")
    parser.add_argument("-y", "--yes", action="store_true", help="do not ask for confirmation")
    parser.add_argument("--detach", action="store_true", help="Slurm: submit and return")
    parser.add_argument("--debug", action="store_true", help="show the traceback of an internal error")
    slurm = parser.add_argument_group("Slurm (the whole pipeline; as recipes.pretrain's flags)")
    slurm.add_argument("-a", "--account")
    slurm.add_argument("-p", "--partition", help="partition of the GPU stages (training)")
    slurm.add_argument("--cpu_partition", help="partition of the CPU-only stages (default: -p)")
    slurm.add_argument("-t", "--time", help="time limit of each stage's job (default: 04:00:00)")
    slurm.add_argument("-i", "--container_image")
    slurm.add_argument("--container_mounts", help="SRC:DST,... (default: this folder and the state folder)")
    slurm.add_argument("--retries", type=whole(low=0), default=0, help="requeue a failed stage job up to N times")
    slurm.add_argument("--packager", choices=("git", "none"), default=None)
    slurm.add_argument("--allow_dirty", action="store_true")
    return parser


@cli_main(PROG)
def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_intermixed_args(argv)  # overrides may come before or after the flags

    problems = number_problems(parser, args)
    pipeline = pipeline_plan.make(args, problems)
    if problems:
        raise ValidationErrors(problems)
    pipeline_plan.print_plan(pipeline)
    if args.dryrun:
        return pipeline_plan.dryrun(pipeline)
    todo = [spec for spec in pipeline.specs if spec["action"] == "run"]
    if not todo:
        print(f"{pipeline.name}: every stage is up to date; nothing to run")
        return 0
    if not args.yes and sys.stdin.isatty():
        answer = input(f"Run {', '.join(s['stage'] for s in todo)} of '{pipeline.name}' ({args.executor})? [y/N] ")
        if answer.strip().lower() not in ("y", "yes"):
            print("aborted", file=sys.stderr)
            return 1
    if capabilities(args.executor).batch:
        return submit(pipeline)
    return run_local(pipeline)


def run_local(pipeline) -> int:
    record_start(pipeline)
    total = len(pipeline.specs)
    for number, spec in enumerate(pipeline.specs, 1):
        if spec["action"] != "run":
            continue
        print(f"\n==> {number}/{total} {spec['stage']}", flush=True)  # run_stage prints the exact command
        code = run_stage(spec)
        if code:
            print(f"{PROG}: stage {spec['stage']} failed (exit {code}); the later stages did not run. Fix it and "
                  f"rerun the same command: finished stages are skipped, training resumes from its checkpoint",
                  file=sys.stderr)
            return code
    print(f"\n{pipeline.name}: all stages done; manifests in {pipeline.state_dir}")
    return 0
