"""Helpers for the end-to-end tests: the project's own CLI (``--executor slurm``) against the local cluster.

Every CLI call is a subprocess, as a user would run it: ``NEMORUN_HOME`` must be in its environment when
NeMo-Run is imported (NeMo-Run's Slurm job list path is fixed at import). Each test gets its own working
folder with ``recipes`` linked to the repository's (so the documented relative paths work), its own
NeMo-Run home, and a sentinel ``HF_TOKEN`` that must reach jobs but never a file.

The commands shown in docs/slurm_testing.md are the ``DOC_COMMANDS`` below; ``test_docs_show_the_tested_commands``
keeps the two equal, and the tests run these templates (``{job}``: a Slurm job id printed by an earlier step).
Every wait is bounded.
"""

from __future__ import annotations

import atexit
import dataclasses
import hashlib
import json
import os
import re
import secrets
import shlex
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
DOC = REPO / "docs" / "slurm_testing.md"
SECRET_NAMES = ("HF_TOKEN", "HUGGING_FACE_HUB_TOKEN", "WANDB_API_KEY", "NGC_API_KEY")
SITE_ENV_NAMES = ("RECIPES_ACCOUNT", "SBATCH_ACCOUNT", "RECIPES_PARTITION", "SBATCH_PARTITION",
                  "RECIPES_CONTAINER_IMAGE", "RECIPES_CONTAINER_MOUNTS", "RECIPES_TIME", "SBATCH_TIMELIMIT",
                  "RECIPES_RESULTS_DIR", "NEMORUN_HOME")
TERMINAL = {"COMPLETED", "FAILED", "CANCELLED", "TIMEOUT", "OUT_OF_MEMORY", "NODE_FAIL", "PREEMPTED",
            "BOOT_FAIL", "DEADLINE"}
SUBMITTED = re.compile(r"^submitted slurm job (\d+) \((\S+)\)$", re.M)
STEP_LINE = re.compile(r"step (\d+)/(\d+) \|")

# The commands of docs/slurm_testing.md, as the tests run them (bash, in the test's working folder).
SLURM = "--executor slurm -a acct"
TINY = "--cpu -M tiny --packager none"
DOC_COMMANDS = {
    # shared data, made once per session (locally)
    "data": "python -m recipes.preprocess --input recipes/data/sample/pretrain_zh_en.jsonl "
            "--output-prefix data/sample --append-eod",
    "sft": "python -m recipes.prepare_sft --input recipes/data/sample/instructions.jsonl --output_dir data/sft",
    # 1. preprocessing as a Slurm job
    "preprocess": f"python -m recipes.preprocess {SLURM} -p debug --packager none "
                  "--input recipes/data/sample/pretrain_zh_en.jsonl --output-prefix data/slurm/sample --append-eod",
    # 2./3. a 2-process torchrun training job, its status and logs
    "train": f"python -m recipes.pretrain {SLURM} -p batch {TINY} -G 2 -D data/sample_text_document "
             "-E tiny_slurm --max_steps 4 -s 64 --ckpt_every_n_steps 2 -y",
    "status_list": "python -m recipes.status",
    "status": "python -m recipes.status tiny_slurm",
    "status_json": "python -m recipes.status tiny_slurm --json",
    "status_logs": "python -m recipes.status tiny_slurm --logs pretrain",
    # 4. preprocess -> pretrain -> finetune chained by afterok dependencies
    "pipe_preprocess": f"python -m recipes.preprocess {SLURM} -p debug --packager none -E tiny_data --detach "
                       "--input recipes/data/sample/pretrain_zh_en.jsonl --output-prefix data/pipe/sample --append-eod",
    "pipe_pretrain": f"python -m recipes.pretrain {SLURM} -p debug {TINY} -G 1 -D data/pipe/sample_text_document "
                     "-E tiny_pre --max_steps 4 -s 64 --dependency {job} --detach -y",
    "pipe_finetune": f"python -m recipes.finetune {SLURM} -p debug {TINY} -G 1 --peft lora -D data/sft "
                     "-E tiny_lora --max_steps 3 -s 64 --dependency {job} --detach -y "
                     "model.path=$PWD/results/tiny_pre/hf_model",
    "pipe_status": "python -m recipes.status tiny_pre",
    # 5. requeue: a failed attempt (SIGTERM to the job's steps) and `scontrol requeue`
    "requeue": f"python -m recipes.pretrain {SLURM} -p batch {TINY} -G 1 -D data/sample_text_document "
               "-E tiny_requeue --max_steps 16 -s 64 --ckpt_every_n_steps 3 --retries 1 --detach -y "
               "trainer.enable_progress_bar=false",
    "term_steps": "scancel --signal=TERM {job}",
    "scontrol_requeue": "scontrol requeue {job}",
    "requeue_logs": "python -m recipes.status tiny_requeue --logs pretrain",
    # 6./7. SIGTERM before the time limit, then scancel
    "signal": f"python -m recipes.pretrain {SLURM} -p batch {TINY} -G 2 -D data/sample_text_document "
              "-E tiny_signal --max_steps 5000 -s 64 --ckpt_every_n_steps 5000 --time 00:02:00 --signal TERM@60 "
              "--retries 1 --detach -y trainer.enable_progress_bar=false",
    "scancel": "scancel {job}",
    "signal_status": "python -m recipes.status tiny_signal",
    # 8. NeMo's Megatron path on CPU, killed after a checkpoint and requeued (test_e2e_megatron.py)
    "megatron_requeue": "python -m recipes.pretrain --executor slurm -a acct -p batch -M tiny --backend megatron --cpu "
                        "--packager none -G 1 -D data/sample_text_document -E mega_requeue --max_steps 6 "
                        "--ckpt_every_n_steps 2 --retries 1 --env RECIPES_FAULT=kill_at_step:3 --detach -y",
}


def parse_exports(text: str) -> dict[str, str]:
    """The ``export KEY=VALUE`` lines a cluster script's ``env`` prints, as a dict."""
    env = {}
    for line in text.splitlines():
        words = shlex.split(line)
        if len(words) == 2 and words[0] == "export" and "=" in words[1]:
            key, _, value = words[1].partition("=")
            env[key] = value
    return env


def doc_commands(text: str | None = None) -> list[str]:
    """Command lines in the ```bash blocks of the e2e sections of docs/slurm_testing.md (continuations joined)."""
    text = DOC.read_text() if text is None else text
    start = text.index("## End-to-end tests")
    commands = []
    for block in re.findall(r"```bash\n(.*?)```", text[start:], re.S):
        for line in block.replace("\\\n", " ").splitlines():
            line = " ".join(line.split("#", 1)[0].split()) if not line.lstrip().startswith("#") else ""
            if line:
                commands.append(line)
    return commands


def normalise_ids(command: str) -> str:
    """Concrete job ids in the docs -> ``{job}`` as in the templates."""
    return re.sub(r"(--dependency |scancel |--signal=TERM |scontrol requeue )\d+", r"\1{job}", command)


# ---------------------------------------------------------------------------------------------
# the per-test world


@dataclasses.dataclass
class E2E:
    root: Path  # the working folder: data/, results/, recipes -> the repository's
    home: Path  # NEMORUN_HOME
    env: dict[str, str]
    secret: str

    @property
    def results(self) -> Path:
        return self.root / "results"

    def sh(self, command: str, timeout: float = 300, check: bool = True, env: dict | None = None,
           **ids) -> subprocess.CompletedProcess:
        """Run ``command`` (a DOC_COMMANDS key or a command line) with bash in ``root``."""
        line = DOC_COMMANDS.get(command, command).format(**ids)
        started = time.monotonic()
        try:
            proc = subprocess.run(["bash", "-c", line], cwd=self.root, env={**self.env, **(env or {})},
                                  capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL)
        except subprocess.TimeoutExpired as exc:
            pytest.fail(f"`{line}` did not return within {timeout:.0f} s:\n{_text(exc.stdout)}{_text(exc.stderr)}")
        proc.elapsed = time.monotonic() - started
        if check and proc.returncode != 0:
            pytest.fail(f"`{line}` exited {proc.returncode}:\n{proc.stdout[-4000:]}\n{proc.stderr[-4000:]}")
        return proc

    def submit(self, command: str, task: str, **ids) -> str:
        """Run a submitting command; return the job id of ``task`` from its ``submitted slurm job`` line."""
        proc = self.sh(command, **ids)
        jobs = submitted(proc.stdout)
        assert task in jobs, f"no 'submitted slurm job N ({task})' line in:\n{proc.stdout}\n{proc.stderr[-3000:]}"
        return jobs[task]

    def task_dir(self, experiment: str, task: str) -> Path:
        """NeMo-Run's folder of ``task`` in the latest run of ``experiment``."""
        # Directories only: recipes.launch.runrecord keeps a <run>.run.json beside each run folder.
        runs = sorted(p for p in (self.home / "experiments" / experiment).glob(f"{experiment}_*") if p.is_dir())
        assert runs, f"no NeMo-Run run of {experiment} under {self.home}"
        return runs[-1] / task

    def attempt_log(self, experiment: str, task: str, job: str, attempt: int) -> Path:
        return self.task_dir(experiment, task) / f"log-{experiment}-{task}_{job}_{attempt}.out"

    def batch_log(self, experiment: str, task: str, job: str) -> Path:
        return self.task_dir(experiment, task) / f"sbatch_{experiment}-{task}_{job}.out"

    def nemo_run(self, code: str, timeout: float = 120, env: dict | None = None) -> subprocess.CompletedProcess:
        """Python ``code`` in a fresh interpreter with this world's NEMORUN_HOME (NeMo-Run's own API)."""
        proc = subprocess.run([sys.executable, "-c", code], cwd=self.root, env=env or self.env, capture_output=True,
                              text=True, timeout=timeout, stdin=subprocess.DEVNULL)
        assert proc.returncode == 0, f"{code}\nexited {proc.returncode}:\n{proc.stdout}\n{proc.stderr[-4000:]}"
        return proc

    def assert_no_secret(self) -> None:
        """The sentinel HF_TOKEN is in no file of the NeMo-Run home, the results or the data."""
        needle = self.secret.encode()
        hits = []
        for path in self.root.rglob("*"):
            if path.is_file() and not path.is_symlink() and needle in path.read_bytes():
                hits.append(str(path))
        assert not hits, f"the HF_TOKEN value was written to: {hits}"


def submitted(stdout: str) -> dict[str, str]:
    """``{task: job id}`` from the CLI's ``submitted slurm job <id> (<task>)`` lines."""
    return {name: job for job, name in SUBMITTED.findall(stdout)}


def _text(value) -> str:
    return value.decode(errors="replace") if isinstance(value, bytes) else (value or "")


_DATA_LOCK = threading.Lock()
_DATA: dict[str, Path] = {}


def _workdir(prefix: str) -> Path:
    """A fresh folder under the system temp dir, not pytest's basetemp: other pytest sessions on the machine
    prune old basetemps, and the jobs of a running test need theirs. RECIPES_E2E_KEEP=1 keeps them."""
    path = Path(tempfile.mkdtemp(prefix=prefix))
    if os.environ.get("RECIPES_E2E_KEEP") != "1":
        atexit.register(shutil.rmtree, path, ignore_errors=True)
    return path


def shared_data() -> Path:
    """``data/sample_text_document.{bin,idx}`` and ``data/sft/`` made once per session by the documented commands."""
    with _DATA_LOCK:
        if "root" not in _DATA:
            root = _workdir("recipes-e2e-data-")
            (root / "recipes").symlink_to(REPO / "recipes")
            env = {**clean_env(), "PYTHONPATH": str(REPO)}
            for key in ("data", "sft"):
                proc = subprocess.run(["bash", "-c", DOC_COMMANDS[key]], cwd=root, env=env, capture_output=True,
                                      text=True, timeout=300, stdin=subprocess.DEVNULL)
                assert proc.returncode == 0, f"{DOC_COMMANDS[key]}:\n{proc.stdout}\n{proc.stderr[-3000:]}"
            _DATA["root"] = root
        return _DATA["root"]


def clean_env() -> dict[str, str]:
    """This environment without secrets and site settings, with the venv's bin first on PATH (as if activated)."""
    env = {k: v for k, v in os.environ.items() if k not in SECRET_NAMES + SITE_ENV_NAMES}
    venv_bin = str(Path(sys.executable).parent)
    env["PATH"] = os.pathsep.join([venv_bin, env.get("PATH", "")])
    env["VIRTUAL_ENV"] = str(Path(sys.executable).parent.parent)
    return env


def make_e2e(root: Path, cluster, data_root: Path) -> E2E:
    (root / "recipes").symlink_to(REPO / "recipes")
    data = root / "data"
    data.mkdir()
    for name in ("sample_text_document.bin", "sample_text_document.idx"):
        shutil.copy(data_root / "data" / name, data / name)
    shutil.copytree(data_root / "data" / "sft", data / "sft")
    secret = "hf_e2eSentinel" + secrets.token_hex(12)
    env = {**clean_env(), **cluster.env, "NEMORUN_HOME": str(root / "nemorun_home"),
           "RECIPES_SITE_CONFIG": os.devnull, "HF_TOKEN": secret,
           "PYTHONPATH": os.pathsep.join([str(REPO), str(HERE)])}
    return E2E(root=root, home=root / "nemorun_home", env=env, secret=secret)


@pytest.fixture
def e2e(slurm_cluster, request) -> E2E:
    root = _workdir(f"recipes-e2e-{request.node.name[:40]}-")
    world = make_e2e(root, slurm_cluster, shared_data())
    yield world
    cancel_leftovers(world)
    if os.environ.get("RECIPES_E2E_KEEP") != "1":
        shutil.rmtree(root, ignore_errors=True)
    else:
        print(f"kept {root}")


def cancel_leftovers(world: E2E) -> None:
    """Cancel the jobs a failed test left behind (submitted from its folder), and wait for them to go."""
    out = subprocess.run(["squeue", "-h", "-o", "%i %Z"], capture_output=True, text=True, timeout=30).stdout
    ids = [line.split()[0] for line in out.splitlines()
           if len(line.split()) == 2 and Path(line.split()[1]) == world.root]
    if ids:
        subprocess.run(["scancel", *ids], capture_output=True, timeout=30)
        wait_until(lambda: not squeue_has(ids), 90, f"left-over jobs {ids} to go")


# ---------------------------------------------------------------------------------------------
# Slurm


def run(*cmd: str, timeout: float = 30, check: bool = True) -> subprocess.CompletedProcess:
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL)
    if check and proc.returncode != 0:
        raise AssertionError(f"{' '.join(cmd)} exited {proc.returncode}:\n{proc.stdout}{proc.stderr}")
    return proc


def wait_until(predicate, timeout: float, what: str, interval: float = 0.5):
    """Poll ``predicate`` until it returns something truthy (returned); fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(interval)


def sacct(job: str) -> dict[str, str] | None:
    """The job allocation's sacct row: State (first word), ExitCode, Start, End, Reason; None if not recorded."""
    out = run("sacct", "-X", "-P", "-n", "-o", "JobID,State,ExitCode,Start,End,Reason", "-j", job, check=False).stdout
    for line in out.splitlines():
        fields = line.split("|")
        if len(fields) == 6 and fields[0] == job:
            return {"State": fields[1].split()[0], "ExitCode": fields[2], "Start": fields[3], "End": fields[4],
                    "Reason": fields[5]}
    return None


def wait_state(job: str, states: str | set[str], timeout: float) -> dict[str, str]:
    """Poll sacct until ``job`` is in one of ``states``; fail early on another terminal state."""
    wanted = {states} if isinstance(states, str) else set(states)
    deadline = time.monotonic() + timeout
    row = None
    while time.monotonic() < deadline:
        row = sacct(job)
        if row and row["State"] in wanted:
            return row
        if row and row["State"] in TERMINAL and not squeue_has([job]):
            break
        time.sleep(1)
    detail = run("scontrol", "show", "job", "-o", job, check=False)
    pytest.fail(f"job {job}: wanted {sorted(wanted)} within {timeout:.0f} s; sacct: {row}\n"
                f"scontrol: {detail.stdout.strip()}{detail.stderr.strip()}")


def squeue_state(job: str) -> str:
    """The job's squeue state (PENDING, RUNNING, COMPLETING, ...), '' when squeue no longer lists it."""
    return run("squeue", "-h", "-j", job, "-o", "%T", check=False).stdout.strip()


def squeue_has(jobs: list[str]) -> bool:
    out = run("squeue", "-h", "-o", "%i", check=False).stdout.split()
    return any(job in out for job in jobs)


def scontrol_job(job: str) -> dict[str, str]:
    fields = {}
    for word in run("scontrol", "show", "job", "-o", job).stdout.split():
        key, sep, value = word.partition("=")
        if sep:
            fields[key] = value
    return fields


def job_processes(job: str) -> list[str]:
    """``pid cmdline`` of every process whose environment says ``SLURM_JOB_ID=<job>``."""
    found = []
    needle = f"SLURM_JOB_ID={job}".encode()
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            if needle in (proc / "environ").read_bytes().split(b"\0"):
                cmd = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace").strip()
                found.append(f"{proc.name} {cmd}")
        except OSError:  # gone meanwhile, or a kernel thread
            continue
    return found


def process_kind(process: str) -> str:
    """``batch`` (the sbatch script), ``srun``, ``torchrun``, ``rank`` (a training process) or ``other``."""
    words = process.split()[1:]  # without the pid
    if not words:
        return "other"
    if words[0].endswith("slurm_script") or (len(words) > 1 and words[1].endswith("slurm_script")):
        return "batch"
    if Path(words[0]).name == "srun":
        return "srun"
    if Path(words[0]).name.startswith("python") and len(words) > 1:
        if Path(words[1]).name == "torchrun":
            return "torchrun"
        if "nemo_run.core.runners.fdl_runner" in words[1:4]:
            return "rank"
    return "other"


# ---------------------------------------------------------------------------------------------
# training output


def logged_steps(path: Path) -> list[int]:
    """Optimizer steps in a job log's ``step N/M | ...`` lines (rank 0), in order."""
    if not path.is_file():
        return []
    return [int(m.group(1)) for m in STEP_LINE.finditer(path.read_text(errors="replace"))]


def checkpoint_steps(log_dir: Path) -> list[int]:
    """Steps of the complete checkpoints (``step=N`` with meta.json) in ``log_dir/checkpoints``."""
    folder = log_dir / "checkpoints"
    if not folder.is_dir():
        return []
    return sorted(int(p.name.split("=")[1]) for p in folder.glob("step=*") if (p / "meta.json").is_file())


def metrics_steps(log_dir: Path) -> list[int]:
    path = log_dir / "metrics.jsonl"
    rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()] if path.is_file() else []
    return [row["step"] for row in rows if "train_loss" in row]


# ---------------------------------------------------------------------------------------------
# the task the secret test runs on the cluster (imported by the job: tests/slurm is on its PYTHONPATH)


def token_probe(out: str) -> None:
    """Record, without the value, what the job sees of HF_TOKEN and which Python runs it."""
    token = os.environ.get("HF_TOKEN", "")
    Path(out).write_text(json.dumps({
        "hf_token_sha256": hashlib.sha256(token.encode()).hexdigest(), "hf_token_len": len(token),
        "executable": sys.executable, "virtual_env": os.environ.get("VIRTUAL_ENV", ""),
    }))


def submit_probe(out: str, experiment: str) -> int:
    """Run :func:`token_probe` as a one-task Slurm job through recipes.launch.remote; 0 when it succeeded."""
    import nemo_run as run

    from executors.settings import ExecutorSettings
    from recipes.launch.remote import run_task

    settings = ExecutorSettings(nodes=1, gpus_per_node=0, ntasks_per_node=1, use_gpus=False, account="acct",
                                partition="debug", time="00:05:00", packager="none",
                                job_name_prefix=f"{experiment}-")
    return run_task(run.Partial(token_probe, out=out), name="probe", experiment=experiment, executor="slurm",
                    settings=settings)
