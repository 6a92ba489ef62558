"""Local jobs stop with their launcher: Ctrl-C stops gracefully, a second Ctrl-C aborts, no orphans.

NeMo-Run's local scheduler (torchx) starts each job in a new session (``start_new_session=True``), so a
Ctrl-C in the terminal reaches only the launcher, and a launcher that dies leaves the job running.
:class:`LocalJobControl` (in the launcher) turns the first SIGINT, a SIGTERM or a SIGHUP (terminal
closed) into a SIGTERM to every job's process group (the small-model backend then saves a checkpoint
and exits 143) and a second one into SIGKILL. A job that outlives a launcher killed outright notices
through :func:`follow_launcher` (started when ``recipes`` is imported in the job) and stops itself the
same way.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
from pathlib import Path

LAUNCHER_ENV = "RECIPES_LAUNCHER_PID"
POLL_S = 1.0
# Exit statuses of a job stopped by a signal: our checkpoint-and-exit (143 = 128 + SIGTERM), or the
# signal itself (Popen reports -N), or a shell's 128 + N.
SIGNAL_EXITS = {143, 130, 137, -signal.SIGTERM, -signal.SIGINT, -signal.SIGKILL, -signal.SIGHUP, 129}


def child_pids(parent: int | None = None) -> list[int]:
    """Direct children of ``parent`` (default: this process), from /proc."""
    parent = os.getpid() if parent is None else parent
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        fields = stat[stat.rfind(")") + 2:].split()  # after "pid (comm) "
        if int(fields[1]) == parent:
            pids.append(int(entry.name))
    return pids


def signal_jobs(signum: int) -> list[int]:
    """Send ``signum`` to the process group of each child that leads its own session (a torchx job)."""
    hit = []
    for pid in child_pids():
        try:
            if os.getpgid(pid) == pid:
                os.killpg(pid, signum)
                hit.append(pid)
        except ProcessLookupError:
            continue
    return hit


def _say(text: str) -> None:
    try:
        print(text, file=sys.stderr, flush=True)
    except OSError:  # the terminal is gone (SIGHUP)
        pass


class LocalJobControl:
    """While active: stop signals reach the local jobs; the jobs know the launcher's pid."""

    HANDLED = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)

    def __init__(self):
        self.stop_signal: int | None = None
        self.aborted = False
        self._saved: dict[int, object] = {}
        self._saved_env: str | None = None

    def __enter__(self) -> "LocalJobControl":
        if threading.current_thread() is threading.main_thread():
            for signum in self.HANDLED:
                self._saved[signum] = signal.signal(signum, self._handle)
        self._saved_env = os.environ.get(LAUNCHER_ENV)
        os.environ[LAUNCHER_ENV] = str(os.getpid())  # torchx copies os.environ into each job
        return self

    def __exit__(self, *exc) -> None:
        for signum, handler in self._saved.items():
            signal.signal(signum, handler)
        if self._saved_env is None:
            os.environ.pop(LAUNCHER_ENV, None)
        else:
            os.environ[LAUNCHER_ENV] = self._saved_env

    def _handle(self, signum: int, frame) -> None:
        name = signal.Signals(signum).name
        if self.stop_signal is None:
            self.stop_signal = signum
            signal_jobs(signal.SIGTERM)
            _say(f"\n{name}: stopping the job gracefully (SIGTERM: it saves a checkpoint, then exits); "
                 "press Ctrl-C again to abort it")
        elif not self.aborted:
            self.aborted = True
            signal_jobs(signal.SIGKILL)
            _say(f"\n{name} again: aborting the job (SIGKILL); a relaunch resumes from its last complete checkpoint")


def _alive(pid: int) -> bool:
    """Running (a zombie, dead but not yet reaped by its parent, counts as gone)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat[stat.rfind(")") + 2:].split()[0] != "Z"


def follow_launcher(environ=os.environ) -> threading.Thread | None:
    """In a job started by :class:`LocalJobControl`: SIGTERM ourselves once the launcher is gone."""
    value = environ.get(LAUNCHER_ENV, "")
    if not value.isdigit() or int(value) == os.getpid():
        return None
    launcher = int(value)

    def watch() -> None:
        stop = threading.Event()
        while not stop.wait(POLL_S):
            if not _alive(launcher):
                os.kill(os.getpid(), signal.SIGTERM)  # the trainer's handler saves a checkpoint
                return

    thread = threading.Thread(target=watch, name="follow-launcher", daemon=True)
    thread.start()
    return thread
