"""Status and logs of this library's experiments (NeMo-Run records; Slurm state through sacct).

    python -m recipes.status                         # experiments, newest first
    python -m recipes.status llama31_pretraining     # tasks of its latest run: state, job id, dirs
    python -m recipes.status llama31_pretraining --logs pretrain
    python -m recipes.status llama31_pretraining --json

For Slurm jobs the state comes with Slurm's own (``sacct``: state, exit code, reason, e.g. a job
cancelled because the job it depended on failed), and ``--logs`` prints the log of every attempt
(a requeued job has one per restart) followed by the batch script's output.
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
from pathlib import Path

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

    from recipes.remote import use_nemorun_home

    use_nemorun_home()
    try:
        return run.Experiment.from_id(run_id) if run_id else run.Experiment.from_title(experiment)
    except (AssertionError, FileNotFoundError, ValueError) as exc:
        raise UsageError(f"experiment {run_id or experiment!r} not found ({exc}); list them with "
                         "python -m recipes.status") from None


def task_states(experiment: str, run_id: str | None = None, exp=None) -> dict[str, dict]:
    """``{task: {"status", "job_id", "local_dir"[, "slurm"]}}`` of the experiment's latest (or given) run."""
    info = (exp or _load(experiment, run_id)).status(return_dict=True) or {}
    states = {}
    for name, v in info.items():
        state = {"status": str(v["status"]).split(".")[-1], "job_id": v.get("job_id", ""),
                 "local_dir": v.get("local_dir", "")}
        if str(v.get("handle", "")).startswith("slurm"):
            state["slurm"] = {**slurm_accounting(state["job_id"]),
                              "attempts": len(attempt_logs(state["local_dir"], state["job_id"]))}
        states[name] = state
    return states


def slurm_accounting(job_id: str) -> dict[str, str]:
    """State, exit code and reason of a Slurm job allocation (``sacct``; empty if unknown).

    While slurmctld still holds the job (``MinJobAge``, 5 min by default) ``scontrol`` adds its dependency and
    the reason sacct may lack (a job submitted after its dependency had failed shows no reason in sacct).
    """
    info: dict[str, str] = {}
    out = _run(["sacct", "-X", "-P", "-n", "-o", "JobID,State,ExitCode,Reason", "-j", job_id])
    for line in out.splitlines():
        fields = line.split("|")
        if len(fields) == 4 and fields[0] == job_id:
            info = {"state": fields[1], "exit_code": fields[2], "reason": fields[3]}
    if info and not info["state"].startswith(("COMPLETED", "FAILED")):
        live = dict(word.split("=", 1) for word in _run(["scontrol", "show", "job", "-o", job_id]).split()
                    if "=" in word)
        if live.get("Dependency") not in (None, "(null)"):
            info["dependency"] = live["Dependency"]
        if live.get("Reason") not in (None, "None") and info["reason"] in ("", "None"):
            info["reason"] = live["Reason"]
    return info


def _run(cmd: list[str]) -> str:
    try:
        return subprocess.run(cmd, capture_output=True, text=True, timeout=60).stdout
    except (OSError, subprocess.SubprocessError):
        return ""


def attempt_logs(local_dir: str, job_id: str) -> list[Path]:
    """``log-<name>_<job>_<restart>.out`` of each attempt (NeMo-Run's srun output), oldest first."""
    if not job_id or not local_dir or not Path(local_dir).is_dir():
        return []
    pattern = re.compile(rf"^log-.*_{re.escape(job_id)}_(\d+)\.out$")
    found = [(int(m.group(1)), p) for p in Path(local_dir).iterdir() if (m := pattern.match(p.name))]
    return [p for _, p in sorted(found)]


def print_logs(exp, experiment: str, task: str) -> None:
    states = task_states(experiment, exp=exp)
    if task not in states:
        raise UsageError(f"--logs {task}: no such task in {experiment}; tasks: {', '.join(states) or 'none'}")
    state = states[task]
    if "slurm" not in state:
        exp.logs(job_id=task)  # NeMo-Run's own (local executors)
        return
    logs = attempt_logs(state["local_dir"], state["job_id"])
    batch = sorted(Path(state["local_dir"]).glob(f"sbatch_*_{state['job_id']}.out"))
    if not logs and not batch:
        print(f"{experiment}: task {task} (slurm job {state['job_id']}, {state['status']}) has written no log yet",
              file=sys.stderr)
    for number, path in enumerate(logs):
        print(f"==> attempt {number} (SLURM_RESTART_COUNT={number}): {path} <==", flush=True)
        sys.stdout.write(path.read_text(errors="replace"))
    for path in batch:
        print(f"==> batch script output: {path} <==", flush=True)
        sys.stdout.write(path.read_text(errors="replace"))
    sys.stdout.flush()


def _describe(state: dict) -> str:
    slurm = state.get("slurm")
    if not slurm or not slurm.get("state"):
        return ""
    reason = f", reason {slurm['reason']}" if slurm.get("reason") not in (None, "", "None") else ""
    if slurm.get("dependency"):
        reason += f" ({slurm['dependency']})"
    if slurm["state"] == "CANCELLED" and slurm.get("reason", "").startswith("Dependency"):  # not "CANCELLED by UID"
        reason += ": a job it depends on (--dependency) did not succeed"
    return f"  (slurm {slurm['state']}, exit {slurm['exit_code']}{reason}, attempts {slurm['attempts']})"


@cli_main("recipes.status")
def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    if not args.experiment:
        import nemo_run as run

        from recipes.remote import use_nemorun_home

        use_nemorun_home()
        for title in sorted(run.Experiment.catalog()):
            print(title)
        return 0
    if args.logs:
        print_logs(_load(args.experiment, args.id), args.experiment, args.logs)
        return 0
    states = task_states(args.experiment, args.id)
    if args.json:
        import json

        print(json.dumps(states, indent=2))
    else:
        for name, state in states.items():
            print(f"{name:12} {state['status']:12} job {state['job_id'] or '-':>10}  {state['local_dir']}"
                  f"{_describe(state)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
