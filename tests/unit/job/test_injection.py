"""Values that reach a shell cannot add a line, a directive or a command; names cannot leave their folders.

Oracles: bash itself (it parses and runs the rendered lines), Python's shlex (the words a POSIX
shell sees), a canary file that a command substitution would create, and the file system.
"""

import os
import re
import shlex
import subprocess
from pathlib import Path

import pytest

from recipes import pretrain
from testlib import REPO, run_module

SLURM = ["--executor", "slurm", "-a", "acct", "-p", "batch", "--packager", "none", "--mock_data", "--dryrun"]


def canary_command(tmp: Path) -> str:
    return f"$(touch {tmp}/CANARY)"


def snapshot(root: Path) -> set[str]:
    return {str(p.relative_to(root)) for p in root.rglob("*")}


HOSTILE = [
    (["-E", "$(touch {tmp}/CANARY)"], "-E/--experiment"),
    (["-E", "../escaped"], "-E/--experiment"),
    (["-E", "/abs/exp"], "-E/--experiment"),
    (["-E", "my exp"], "-E/--experiment"),
    (["-E", "a\nb"], "-E/--experiment"),
    (["-a", "acct\n#SBATCH --qos=top"], "-a/--account"),
    (["-p", "batch;touch {tmp}/CANARY"], "-p/--partition"),
    (["--time", "forever"], "-t/--time"),
    (["--signal", "NOPE@x"], "--signal"),
    (["--dependency", "12; touch {tmp}/CANARY"], "--dependency"),
    (["--sbatch", "qos=high\n#SBATCH --exclusive"], "--sbatch qos"),
    (["--sbatch", "bad key=1"], "--sbatch: key"),
    (["--sbatch", "nodes=64"], "--sbatch nodes=...: set by -N/--num_nodes"),
    (["--env", "FOO=a\ntouch {tmp}/CANARY"], "--env FOO"),
    (["--env", "BAD-KEY=1"], "--env: 'BAD-KEY'"),
    (["-i", "img;touch {tmp}/CANARY"], "-i/--container_image"),
    (["-i", "img", "--container_mounts", "{tmp}:{tmp},/b:/b;touch {tmp}/CANARY"], "--container_mounts"),
    (["--results_dir", "{tmp}/r $(touch {tmp}/CANARY)"], "--results_dir"),
    (["--job_dir", "{tmp}/j\nx"], "--job_dir"),
]


@pytest.mark.parametrize("extra,flag", HOSTILE, ids=[f"{i}-{h[1][:12]}" for i, h in enumerate(HOSTILE)])
def test_hostile_values_are_refused_before_anything_runs(extra, flag, isolated, capsys):
    extra = [a.replace("{tmp}", str(isolated)) for a in extra]
    before = snapshot(isolated)
    code = pretrain.main(SLURM + extra)
    err = capsys.readouterr().err
    errors = [line for line in err.splitlines() if "error:" in line]
    assert code == 2, err
    assert len(errors) == 1 and flag in errors[0], errors
    assert snapshot(isolated) == before and not Path("/abs").exists()


def test_git_packager_dryrun_never_runs_a_hostile_name(tmp_path):
    """NeMo-Run's GitArchivePackager builds `gzip ... > NAME` unquoted; the name is refused before it runs."""
    env = {"NEMORUN_HOME": str(tmp_path / "home"), "RECIPES_SITE_CONFIG": os.devnull,
           "RECIPES_RESULTS_DIR": str(tmp_path / "results")}
    args = [a if a != "none" else "git" for a in SLURM]
    proc = run_module("recipes.pretrain", *args, "--allow_dirty", "-E", canary_command(tmp_path), env=env,
                      cwd=tmp_path)
    assert proc.returncode == 2, proc.stderr[-2000:]
    assert "-E/--experiment" in proc.stderr and "Traceback" not in proc.stderr
    assert not (tmp_path / "CANARY").exists() and not (tmp_path / "home").exists()


def test_rendered_sbatch_script_keeps_hostile_values_literal(tmp_path):
    """A real dry-run writes the sbatch script; bash runs its export lines and must create nothing."""
    hostile = {"FOO": canary_command(tmp_path), "BAR": "a b;c 'q' \"d\" `touch x` $HOME \\ |&>"}
    env = {"NEMORUN_HOME": str(tmp_path / "home"), "RECIPES_SITE_CONFIG": os.devnull,
           "RECIPES_RESULTS_DIR": str(tmp_path / "results")}
    flags = [x for key, value in hostile.items() for x in ("--env", f"{key}={value}")]
    proc = run_module("recipes.pretrain", *SLURM, *flags, "--sbatch", f"comment={canary_command(tmp_path)}",
                      "-E", "safe_name", env=env, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    script = next((tmp_path / "home").rglob("*_sbatch.sh")).read_text()
    assert subprocess.run(["bash", "-n"], input=script, text=True).returncode == 0
    directives = [line for line in script.splitlines() if line.startswith("#SBATCH")]
    assert all(len(shlex.split(line)) == 2 for line in directives), directives  # "#SBATCH" and one option
    assert sum("--comment=" in line for line in directives) == 1
    exports = [line for line in script.splitlines() if re.match(r"export (FOO|BAR)=", line)]
    assert len(exports) == 2, exports
    probe = "\n".join(exports + ['printf "%s\\0" "$FOO" "$BAR"'])
    out = subprocess.run(["bash", "-c", probe], capture_output=True, cwd=tmp_path, env={"HOME": "/h"}).stdout
    assert out.split(b"\0")[:2] == [hostile["FOO"].encode(), hostile["BAR"].encode()]
    assert not (tmp_path / "CANARY").exists() and not (tmp_path / "x").exists()


def test_venv_path_stays_expandable_and_quoted(tmp_path):
    """Without a container the job's PATH puts this virtualenv first and still expands $PATH where it runs."""
    from executors.settings import ExecutorSettings
    from executors.slurm import script_env

    line = "export PATH=" + script_env(ExecutorSettings(container_image=None))["PATH"]
    out = subprocess.run(["bash", "-c", line + '; printf %s "$PATH"'], capture_output=True, text=True,
                         env={"PATH": "/usr/bin:/bin"}).stdout
    assert out.endswith(":/usr/bin:/bin") and out.split(":")[0].endswith("/bin")


def test_repository_path_is_the_packager_base(tmp_path):
    assert shlex.quote(str(REPO)) == str(REPO), "NeMo-Run runs `cd REPO` unquoted; keep the checkout path plain"
