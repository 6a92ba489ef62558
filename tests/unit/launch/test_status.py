"""``python -m recipes.status`` tells the truth: the latest real run (dry-runs apart) with its state,
step/max_steps, last loss, elapsed time and log dir; one-line errors; follow-up commands that work.

A real tiny run through NeMo-Run's local executor, then a Slurm dry-run of the same experiment (which
leaves NeMo-Run an experiment folder). The loss is checked against Lightning's TensorBoard events,
read with TensorBoard's own reader.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import pytest

from testlib import run_module

EXPERIMENT = "st"


def tensorboard_last_loss(log_dir: Path) -> tuple[int, float]:
    """(optimizer steps done, last training loss) from Lightning's TensorBoard events. Lightning logs
    inside the step, before global_step counts it: the event of step N carries N - 1."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    events = EventAccumulator(str(next(log_dir.rglob("events.out.tfevents.*"))), size_guidance={"scalars": 0})
    events.Reload()
    last = events.Scalars("train_loss")[-1]
    return last.step + 1, last.value


@pytest.fixture(scope="module")
def launched(tmp_path_factory):
    """(sandbox, env, the launcher's output) after a real 4-step run and a Slurm dry-run of it."""
    from testlib import write_mmap

    sandbox = tmp_path_factory.mktemp("status")
    env = {"NEMORUN_HOME": str(sandbox / "home"), "RECIPES_RESULTS_DIR": str(sandbox / "results"),
           "RECIPES_SITE_CONFIG": os.devnull}
    data = write_mmap(sandbox / "data" / "d_text_document", [[128000, *range(5, 40), 128001]] * 20)
    common = ["-M", "tiny", "-E", EXPERIMENT, "-D", str(data), "--max_steps", "4", "-s", "32", "--yes"]
    real = run_module("recipes.pretrain", "--backend", "hf", *common, env=env, cwd=sandbox)
    assert real.returncode == 0, real.stdout[-3000:] + real.stderr[-3000:]
    dry = run_module("recipes.pretrain", "--executor", "slurm", "-a", "acct", "-p", "batch", *common, "--dryrun",
                     env=env, cwd=sandbox)
    assert dry.returncode == 0, dry.stderr[-3000:]
    folders = [p for p in (sandbox / "home" / "experiments" / EXPERIMENT).iterdir() if p.is_dir()]
    assert len(folders) == 2, "the dry-run keeps an experiment folder (its sbatch script): the case to handle"
    return sandbox, env, real.stdout + real.stderr


def status(launched, *args):
    sandbox, env, _ = launched
    return run_module("recipes.status", *args, env=env, cwd=sandbox)


def test_the_latest_real_run_is_shown_not_the_dry_run(launched):
    sandbox, _, launcher = launched
    run_id = re.search(rf"experiment ({EXPERIMENT}_\d+)", launcher).group(1)
    proc = status(launched, EXPERIMENT)
    assert proc.returncode == 0 and proc.stderr == "", proc.stderr
    assert f"run {run_id} (+1 dry-run(s), not runs)" in proc.stdout, proc.stdout
    step, loss = tensorboard_last_loss(sandbox / "results" / EXPERIMENT)
    line = next(line for line in proc.stdout.splitlines() if line.startswith("pretrain"))
    assert "SUCCEEDED" in line and f"step {step}/4".replace(" ", "") in line.replace(" ", "")
    assert f"loss {loss:.4g}" in re.sub(r"loss\s+", "loss ", line), line
    assert f"logs: {sandbox / 'results' / EXPERIMENT}" in proc.stdout
    assert "UNSUBMITTED" not in proc.stdout and "_TUNNELS" not in proc.stdout + proc.stderr

    state = json.loads(status(launched, EXPERIMENT, "--json").stdout)["pretrain"]
    assert state["status"] == "SUCCEEDED" and state["run_id"] == run_id
    assert (state["step"], state["max_steps"]) == (step, 4) and state["loss"] == pytest.approx(loss, rel=1e-6)
    assert state["elapsed_s"] > 0 and state["log_dir"] == str(sandbox / "results" / EXPERIMENT)


def test_no_argument_lists_experiments_with_their_latest_state(launched):
    proc = status(launched)
    assert proc.returncode == 0, proc.stderr
    row = next(line for line in proc.stdout.splitlines() if line.split()[0] == EXPERIMENT)
    assert "SUCCEEDED" in row and "(+1 dry-run(s), not runs)" in row


def test_the_launcher_suggests_commands_that_work(launched):
    _, _, launcher = launched
    assert "nemo experiment" not in launcher and "run.Experiment.from_id" not in launcher
    suggested = re.search(r"status: python -m (recipes\.status \S+)", launcher).group(1).split()
    assert suggested == ["recipes.status", EXPERIMENT]
    assert status(launched, *suggested[1:]).returncode == 0
    logs = status(launched, EXPERIMENT, "--logs", "pretrain")
    assert logs.returncode == 0 and "step 4/4" in logs.stdout + logs.stderr, logs.stderr[-2000:]  # NeMo-Run tails to stderr


def test_an_experiment_with_only_a_dry_run_has_no_run(launched):
    sandbox, env, _ = launched
    dry = run_module("recipes.pretrain", "--executor", "slurm", "-a", "acct", "-p", "batch", "-M", "tiny",
                     "-E", "only_dry", "-D", str(sandbox / "data" / "d_text_document"), "--dryrun", "--yes",
                     env=env, cwd=sandbox)
    assert dry.returncode == 0, dry.stderr[-2000:]
    proc = status(launched, "only_dry")
    assert proc.returncode == 2 and proc.stdout == ""
    assert proc.stderr.count("\n") == 1 and "only 1 dry-run(s), which are not runs" in proc.stderr
    assert "only_dry" in status(launched).stdout  # listed, as having no run yet


def test_errors_are_one_line(launched, tmp_path):
    sandbox, env, _ = launched
    missing = status(launched, "no_such_experiment")
    assert missing.returncode == 2 and missing.stderr.count("\n") == 1 and "Traceback" not in missing.stderr
    bad_id = status(launched, EXPERIMENT, "--id", "st_1")
    assert bad_id.returncode == 2 and bad_id.stderr.count("\n") == 1 and "--id st_1" in bad_id.stderr

    import shutil

    broken_home = tmp_path / "home"
    shutil.copytree(sandbox / "home", broken_home)
    run_dir = max((p for p in (broken_home / "experiments" / EXPERIMENT).iterdir() if (p / "_DONE").exists()),
                  key=lambda p: p.name)
    (run_dir / "_CONFIG").write_text("not a NeMo-Run config")
    proc = run_module("recipes.status", EXPERIMENT, env={**env, "NEMORUN_HOME": str(broken_home)}, cwd=sandbox)
    assert proc.returncode == 2 and proc.stderr.count("\n") == 1 and "Traceback" not in proc.stderr, proc.stderr
    assert proc.stderr.startswith(f"recipes.status: error: {run_dir / '_CONFIG'}: NeMo-Run cannot read this record")


@pytest.mark.parametrize("damage", ["garbage", "empty", "a_folder", "not_an_object"])
def test_a_damaged_run_record_is_exit_2_naming_the_file(launched, tmp_path, damage):
    """Our own record (runrecord) of the run: never read as "no record"."""
    import shutil

    sandbox, env, _ = launched
    home = tmp_path / "home"
    shutil.copytree(sandbox / "home", home)
    run_dir = max((p for p in (home / "experiments" / EXPERIMENT).iterdir() if (p / "_DONE").exists()),
                  key=lambda p: p.name)
    record = Path(str(run_dir) + ".run.json")
    assert record.is_file()
    if damage == "a_folder":
        record.unlink()
        record.mkdir()
    else:
        record.write_text({"garbage": '{"tasks": {', "empty": "", "not_an_object": "[1, 2]"}[damage])
    for argv in ([EXPERIMENT], [EXPERIMENT, "--json"], []):
        proc = run_module("recipes.status", *argv, env={**env, "NEMORUN_HOME": str(home)}, cwd=sandbox)
        assert proc.returncode == 2 and proc.stderr.count("\n") == 1 and "Traceback" not in proc.stderr, proc.stderr
        assert proc.stderr.startswith(f"recipes.status: error: {record}: unreadable record"), proc.stderr
