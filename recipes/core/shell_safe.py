"""Values that reach a shell or a batch script: names, Slurm settings, environment, mounts, paths.

NeMo-Run builds shell commands from the experiment name (its git packager runs ``gzip ... > NAME``
unquoted) and renders ``export KEY=VALUE`` and ``#SBATCH`` lines from the executor settings. So every
value is checked here against what Slurm and the shell accept, before any NeMo-Run call, and a
value that is free text (``--env`` values) is shell-quoted where it is rendered
(:mod:`executors.slurm`). A newline, carriage return or NUL is refused everywhere: it would start a
new script line.
"""

from __future__ import annotations

import re
import signal

# Experiment and job names: folder names under --results_dir and the job directory, Slurm job names.
NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,127}")
SLURM_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}")
PARTITIONS = re.compile(rf"{SLURM_NAME.pattern}(,{SLURM_NAME.pattern})*")
ENV_KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,127}")
SBATCH_KEY = re.compile(r"[a-z][a-z0-9_-]{0,63}")
# Host paths and images rendered unquoted by NeMo-Run (srun --container-mounts, cd, --output).
PATH_CHARS = re.compile(r"[A-Za-z0-9_./+@=%~-]+")
IMAGE = re.compile(r"[A-Za-z0-9_./:@+#-]+")
MOUNT = re.compile(rf"{PATH_CHARS.pattern}:{PATH_CHARS.pattern}(:[a-z,]+)?")
# sbatch --time: minutes, minutes:seconds, hours:minutes:seconds, days-hours, days-hours:minutes,
# days-hours:minutes:seconds, or UNLIMITED/INFINITE (man sbatch).
TIME = re.compile(r"\d+(:\d{1,2}){0,2}|\d+-\d{1,2}(:\d{1,2}){0,2}|UNLIMITED|INFINITE", re.IGNORECASE)
# sbatch --signal=[{R|B}:]<sig_num>[@sig_time]
SIGNAL = re.compile(r"(?:(?:R|B|RB|BR):)?(?P<sig>[A-Za-z0-9]+)(?:@(?P<time>\d{1,5}))?")
JOB_ID = re.compile(r"\d+(_\d+)?|slurm_tunnel://nemo_run/\d+")
CONTROL = re.compile(r"[\x00-\x1f\x7f]")
# --sbatch keys that a flag already sets: overriding them would silently change what was validated.
MANAGED_SBATCH = {"account": "-a/--account", "partition": "-p/--partition", "time": "-t/--time",
                  "nodes": "-N/--num_nodes", "ntasks-per-node": "-G/--num_gpus", "gpus-per-node": "-G/--num_gpus",
                  "job-name": "-E/--experiment", "output": "-E/--experiment", "error": "-E/--experiment",
                  "dependency": "--dependency", "signal": "--signal", "requeue": "--retries"}


def _signal_names() -> set[str]:
    names = {s.name[3:] for s in signal.Signals if s.name.startswith("SIG") and not s.name.startswith("SIG_")}
    return names | {f"SIG{n}" for n in names}


def has_control(value: str) -> bool:
    return bool(CONTROL.search(value))


def show(value: str) -> str:
    """A value as it may be printed on one line (control characters escaped)."""
    return repr(value)


def name_problem(flag: str, value: str) -> str | None:
    if NAME.fullmatch(value):
        return None
    return (f"{flag}: {show(value)} is not a safe name; use letters, digits, '_', '.', '-' (at most 128, "
            "starting with a letter or digit; no '/', spaces or shell characters)")


def slurm_problems(settings, flags: dict[str, str] | None = None) -> list[str]:
    """Problems with the Slurm-rendered settings of an ``ExecutorSettings``."""
    s, problems = settings, []
    for flag, value in (("-a/--account", s.account), ("-p/--partition", s.partition)):
        pattern = PARTITIONS if flag.startswith("-p") else SLURM_NAME
        if value and not pattern.fullmatch(value):
            problems.append(f"{flag}: {show(value)} is not a Slurm name; use letters, digits, '_', '.', '-'")
    if s.time and not TIME.fullmatch(str(s.time)):
        problems.append(f"-t/--time: {show(s.time)} is not a Slurm time; use MINUTES, HH:MM:SS or D-HH:MM:SS "
                        "(e.g. 04:00:00)")
    if s.signal:
        problems += signal_problems(s.signal)
    for dep in s.dependencies:
        if not JOB_ID.fullmatch(dep):
            problems.append(f"--dependency: {show(dep)} is not a Slurm job id; pass the number sbatch printed "
                            "(e.g. --dependency 12345)")
    problems += sbatch_problems(s.sbatch_params)
    return problems


def signal_problems(value: str) -> list[str]:
    match = SIGNAL.fullmatch(value)
    sig = match and match.group("sig")
    valid = bool(sig) and ((sig.isdigit() and 1 <= int(sig) <= 64) or sig.upper() in _signal_names())
    if valid and (match.group("time") is None or int(match.group("time")) <= 65535):
        return []
    return [f"--signal: {show(value)} is not a Slurm signal; use [R:|B:]SIGNAL[@SECONDS], e.g. TERM@120 or USR1@90"]


def sbatch_problems(params: dict[str, str]) -> list[str]:
    problems = []
    for key, value in params.items():
        key_text = str(key)
        if not SBATCH_KEY.fullmatch(key_text):
            problems.append(f"--sbatch: key {show(key_text)} is not an sbatch option name; e.g. --sbatch qos=high")
        elif key_text.replace("_", "-") in MANAGED_SBATCH:
            flag = MANAGED_SBATCH[key_text.replace("_", "-")]
            problems.append(f"--sbatch {key_text}=...: set by {flag}; use that flag instead")
        if has_control(str(value)):
            problems.append(f"--sbatch {key_text}: the value contains a newline or control character; "
                            "pass one line")
    return problems


def env_problems(env: dict[str, str], where: str = "--env") -> list[str]:
    problems = []
    for key, value in env.items():
        if not ENV_KEY.fullmatch(str(key)):
            problems.append(f"{where}: {show(str(key))} is not an environment variable name; use letters, digits "
                            "and '_' (not starting with a digit)")
        if has_control(str(value)):
            problems.append(f"{where} {key}: the value contains a newline or control character; pass one line")
    return problems


def mount_problems(mounts: list[str], flag: str = "--container_mounts") -> list[str]:
    return [f"{flag}: {show(m)} is not SRC:DST[:ro]; paths may use letters, digits and _ . / + @ = % ~ -"
            for m in mounts if not MOUNT.fullmatch(m)]


def image_problems(image: str | None) -> list[str]:
    if image and not IMAGE.fullmatch(image):
        return [f"-i/--container_image: {show(image)} is not an image name or path; e.g. nvcr.io/nvidia/nemo:25.09"]
    return []


def path_problems(flag: str, path: str | None, *, scripted: bool) -> list[str]:
    """Control characters are refused everywhere; a path rendered into a script must also avoid shell characters."""
    if not path:
        return []
    if has_control(path):
        return [f"{flag}: {show(path)} contains a newline or control character; pass a plain path"]
    if scripted and not PATH_CHARS.fullmatch(path):
        return [f"{flag}: {show(path)} has characters a batch script would interpret (spaces, quotes, $, ;); "
                "use a path of letters, digits and _ . / + @ = % ~ -"]
    return []
