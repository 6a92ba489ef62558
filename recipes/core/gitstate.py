"""Uncommitted changes never travel silently with ``--packager git`` (NeMo-Run #40)."""

from __future__ import annotations

import subprocess
from pathlib import Path


def uncommitted_files(repo: Path) -> list[str]:
    try:
        out = subprocess.run(["git", "-C", str(repo), "status", "--porcelain", "--untracked-files=no"],
                             capture_output=True, text=True, timeout=30, check=True).stdout
    except (OSError, subprocess.SubprocessError):
        return []
    return [line[3:] for line in out.splitlines() if line.strip()]
