"""Secrets (HF_TOKEN, WANDB_API_KEY) travel by name through the environment, never as values.

NeMo-Run writes executor ``env_vars`` in plain text into sbatch scripts and saved configs, so secret
values never go there. A Slurm job inherits the submitting environment (sbatch's default
``--export=ALL``) and pyxis passes it into the container; a local job inherits it too.
"""

from __future__ import annotations

import os
import re
import sys

from executors.settings import SECRET_ENV_NAMES

COMMAND_LINE_WARNING = (
    "warning: --hf_token puts the token on the command line, where other users can see it (ps, "
    "shell history); export HF_TOKEN instead. The value is passed to the job through the environment only."
)


def flag_secrets(hf_token: str | None, wandb_token: str | None) -> dict[str, tuple[str, str]]:
    """``--hf_token`` / the tutorial's ``--wandb_token`` still work: {variable: (value, warning)} to hand on
    by name through the environment (:func:`adopt`), never as a value."""
    found = {}
    if hf_token:
        found["HF_TOKEN"] = (hf_token, COMMAND_LINE_WARNING)
    if wandb_token:
        found["WANDB_API_KEY"] = (wandb_token, COMMAND_LINE_WARNING.replace("--hf_token", "--wandb_token").replace(
            "HF_TOKEN", "WANDB_API_KEY"))
    return found


def adopt(secrets: dict[str, tuple[str, str]]) -> None:
    """Warn about each secret given by value and put it into this process's environment, where jobs
    inherit it by name (the launching step does this; planning only finds them)."""
    for name, (value, warning) in secrets.items():
        print(warning, file=sys.stderr)
        os.environ[name] = value


def secret_values() -> list[str]:
    """The secret values present in this process's environment (to scrub or to search for)."""
    return [os.environ[name] for name in SECRET_ENV_NAMES if os.environ.get(name)]


def redact(text: str) -> str:
    for value in secret_values():
        if len(value) >= 4:
            text = text.replace(value, "***")
    return text


def split_secret_env(env: dict[str, str]) -> tuple[dict[str, str], list[str]]:
    """(env without secrets, names of the secrets removed) for ``--env KEY=VALUE`` flags."""
    public = {k: v for k, v in env.items() if k not in SECRET_ENV_NAMES}
    return public, sorted(set(env) - set(public))


# What tokens look like, for a secret not (yet) in this environment: Hugging Face user tokens,
# 40-hex W&B API keys, NGC personal keys.
TOKEN_PATTERNS = (re.compile(r"hf_[A-Za-z0-9]{30,}"), re.compile(r"(?<![0-9a-f])[0-9a-f]{40}(?![0-9a-f])"),
                  re.compile(r"nvapi-[A-Za-z0-9_-]{20,}"))


def secret_value_problems(env: dict[str, str], where: str = "--env", pending: dict | None = None) -> list[str]:
    """A secret under another name (``--env MY_HF=<the HF_TOKEN value>``) would be written in plain text.
    ``pending``: secrets given by value on this command line, not yet in the environment (:func:`flag_secrets`)."""
    given = {name: value for name, (value, _) in (pending or {}).items()}
    known = {name: value for name, value in {**{n: os.environ.get(n, "") for n in SECRET_ENV_NAMES}, **given}.items()
             if len(value) >= 8}
    problems = []
    for key, value in env.items():
        if key in SECRET_ENV_NAMES:
            continue  # handed on by name (split_secret_env)
        text = str(value)
        name = next((n for n, secret in known.items() if secret in text), None)
        if name or any(p.search(text) for p in TOKEN_PATTERNS):
            what = f"the value of {name}" if name else "a token"
            by_name = name or "HF_TOKEN / WANDB_API_KEY"
            problems.append(f"{where} {key}=...: the value is {what}, which would be written in plain text into the "
                            f"job's script and config; export {by_name} instead (jobs receive secrets by name)")
    return problems
