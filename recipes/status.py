"""Status and logs of this library's experiments (NeMo-Run records; Slurm state through sacct).

    python -m recipes.status                         # experiments, newest first
    python -m recipes.status llama31_pretraining     # tasks of its latest run: state, job id, dirs
    python -m recipes.status llama31_pretraining --logs pretrain
"""

from __future__ import annotations

import argparse
import sys

from recipes.errors import UsageError, cli_main


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m recipes.status", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("experiment", nargs="?", help="experiment name (-E of the launch)")
    parser.add_argument("--id", help="a specific run id (default: the latest)")
    parser.add_argument("--logs", metavar="TASK", help="print the log of this task (e.g. pretrain)")
    parser.add_argument("--json", action="store_true", help="machine-readable status")
    return parser


def _load(experiment: str, run_id: str | None):
    import nemo_run as run

    from recipes.launch import use_nemorun_home

    use_nemorun_home()
    try:
        return run.Experiment.from_id(run_id) if run_id else run.Experiment.from_title(experiment)
    except (AssertionError, FileNotFoundError, ValueError) as exc:
        raise UsageError(f"experiment {run_id or experiment!r} not found ({exc}); list them with "
                         "python -m recipes.status") from None


def task_states(experiment: str, run_id: str | None = None) -> dict[str, dict]:
    """``{task: {"status", "job_id", "local_dir"}}`` of the experiment's latest (or given) run."""
    info = _load(experiment, run_id).status(return_dict=True) or {}
    return {name: {"status": str(v["status"]).split(".")[-1], "job_id": v.get("job_id", ""),
                   "local_dir": v.get("local_dir", "")} for name, v in info.items()}


@cli_main("recipes.status")
def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    if not args.experiment:
        import nemo_run as run

        from recipes.launch import use_nemorun_home

        use_nemorun_home()
        for title in sorted(run.Experiment.catalog()):
            print(title)
        return 0
    if args.logs:
        _load(args.experiment, args.id).logs(job_id=args.logs)
        return 0
    states = task_states(args.experiment, args.id)
    if args.json:
        import json

        print(json.dumps(states, indent=2))
    else:
        for name, state in states.items():
            print(f"{name:12} {state['status']:12} job {state['job_id'] or '-':>10}  {state['local_dir']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
