"""Status and logs of this library's experiments (NeMo-Run records; Slurm state through sacct).

    python -m recipes.status                         # experiments with the state of their latest run
    python -m recipes.status llama31_pretraining     # tasks of its latest run: state, step, loss, elapsed, logs
    python -m recipes.status llama31_pretraining --logs pretrain
    python -m recipes.status llama31_pretraining --json

Dry-runs (``--dryrun``) are not runs: they are counted, never shown as the latest run. Step, max_steps
and the last training loss come from the run's ``metrics.jsonl`` (small-model backend) or its
TensorBoard events (Megatron: ``reduced_train_loss``) under ``RESULTS_DIR/EXPERIMENT``.

For Slurm jobs the state comes with Slurm's own (``sacct``: state, exit code, reason, e.g. a job
cancelled because the job it depended on failed), and ``--logs`` prints the log of every attempt
(a requeued job has one per restart) followed by the batch script's output.
"""

from __future__ import annotations

import argparse
import json
import sys

from recipes.core.errors import UsageError, cli_main
from recipes.launch.runstate import pick_run, task_states
from recipes.launch.status import print_experiments, print_logs, print_run
from recipes.pipelines import status as pipeline_status


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m recipes.status", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("experiment", nargs="?", help="experiment name (-E of the launch)")
    parser.add_argument("--id", help="a specific run id (default: the latest)")
    parser.add_argument("--logs", metavar="TASK", help="print the log of this task (e.g. pretrain)")
    parser.add_argument("--json", action="store_true", help="machine-readable status")
    return parser



@cli_main("recipes.status")
def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return _main(args)
    except UsageError:
        raise
    except Exception as exc:  # a record NeMo-Run cannot read back: one line, not a traceback
        print(f"recipes.status: error: {args.experiment or 'experiments'}: cannot read NeMo-Run's records "
              f"({type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''})", file=sys.stderr)
        return 1


def _main(args) -> int:
    if not args.experiment:
        print_experiments()
        for name in pipeline_status.names():
            print(f"{name:24} pipeline     stage by stage: python -m recipes.status {name}")
        return 0
    if not args.logs and args.experiment in pipeline_status.names():
        return pipeline_status.print_pipeline(args.experiment, args.json)
    run_dir = pick_run(args.experiment, args.id)
    if args.logs:
        print_logs(run_dir, args.experiment, args.logs)
        return 0
    states = task_states(args.experiment, run_dir=run_dir)
    if args.json:
        print(json.dumps(states, indent=2))
    else:
        print_run(args.experiment, run_dir, states)
    return 0

