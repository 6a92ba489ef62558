"""Where evaluate and chat (or a pipeline step) get their Hugging Face model folder from.

``--model_path`` may be a Hugging Face folder, a PEFT adapter folder (its base from its config) or a
NeMo 2 checkpoint (``weights/`` + ``context/``: ``<run>/checkpoints/<name>-last``, a
``recipes.conversion.command import`` output, a LoRA checkpoint whose base it names). :func:`model_problems`
checks it without loading anything; :func:`hf_model_dir` yields an HF folder: the path itself, or a
temporary export of the NeMo checkpoint made by ``recipes.convert``'s exporter on CPU (a LoRA
checkpoint merged into its base), removed when the block ends, fails, is interrupted (Ctrl-C) or
gets SIGTERM. Light on purpose: no torch, no NeMo at import.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import sys
import tarfile
import tempfile
import threading
import uuid
from pathlib import Path
from typing import Iterator
from recipes.conversion import export_hf
from recipes.conversion.nemo_source import checkpoint_problems, checkpoints_below, INCOMPLETE, validate_nemo_ckpt
from recipes.conversion.staging import check_output
from recipes.core.errors import UsageError
from recipes.hf.inference import adapter_problems, model_dir_problems
from recipes.hf.modeling import is_adapter_dir, is_hf_model_dir

EXPECTED = ("a Hugging Face model folder (config.json: <log_dir>/hf_model, a save_pretrained folder) or a "
            "NeMo 2 checkpoint (weights/ + context/, e.g. <run>/checkpoints/<name>-last)")
EXPORT_PREFIX = "recipes-nemo-export-"


def is_nemo_checkpoint_path(path: str | os.PathLike) -> bool:
    """A NeMo 2 checkpoint, complete or not (``context/`` or ``weights/`` and no HF ``config.json``)."""
    path = Path(path)
    return path.is_dir() and not (path / "config.json").is_file() and \
        ((path / "context").is_dir() or (path / "weights").is_dir())


def model_problems(model_path: str, adapter: str | None, flag: str = "--model_path",
                   adapter_flag: str = "--adapter") -> list[str]:
    """Every problem of ``--model_path`` / ``--adapter`` as one line each; reads files only."""
    path = Path(model_path)
    if path.is_file():
        return [_file_problem(path, flag)]
    if not path.exists():
        return [f"{flag}: {model_path} does not exist; pass {EXPECTED}"]
    if is_nemo_checkpoint_path(path):
        return nemo_problems(path, flag) + (_adapter_problems(adapter, flag, adapter_flag) if adapter else [])
    if adapter is not None and is_nemo_checkpoint_path(adapter):
        return model_dir_problems(model_path, None, flag)[2] + _adapter_problems(adapter, flag, adapter_flag)
    if not is_hf_model_dir(path) and not is_adapter_dir(path):
        return [_neither_problem(path, flag)]
    return model_dir_problems(model_path, adapter, flag, adapter_flag)[2]


def _adapter_problems(adapter: str, flag: str, adapter_flag: str) -> list[str]:
    if is_nemo_checkpoint_path(adapter):
        return [f"{adapter_flag}: {adapter} is a NeMo checkpoint, not a PEFT adapter folder; pass a NeMo LoRA "
                f"checkpoint as {flag} alone (it is merged into its base model)"]
    return adapter_problems(adapter, adapter_flag)


def nemo_problems(path: Path, flag: str) -> list[str]:
    """The exporter's own source checks (Llama, LoRA base present), the weights' files, the temp disk space."""
    absent = [name for name in ("context", "weights") if not (path / name).is_dir()]
    if absent:
        return [f"{flag} {path.absolute()}: a NeMo checkpoint without {absent[0]}/; {INCOMPLETE}"]
    try:
        source = validate_nemo_ckpt(str(path), flag)
        problems = checkpoint_problems(source, flag)
        if not problems:
            check_output(Path(tempfile.gettempdir()) / EXPORT_PREFIX, False, source.output_bytes, "TMPDIR")
    except UsageError as exc:
        return getattr(exc, "problems", None) or [str(exc)]
    return problems


def _file_problem(path: Path, flag: str) -> str:
    if tarfile.is_tarfile(path) and _tar_holds_nemo2(path):
        return f"{flag}: {path} is an archive of a NeMo 2 checkpoint; extract it (tar -xf {path.name} -C DIR) " \
               "and pass the folder that holds context/ and weights/"
    if path.suffix == ".nemo" and tarfile.is_tarfile(path):
        # NeMo 1 archives need nemo.collections.nlp (NLPSaveRestoreConnector), which NeMo 2.7 no longer ships.
        return (f"{flag}: {path} is a NeMo 1 .nemo archive, which NeMo 2.7 cannot read; import the Hugging Face "
                "model it came from (python -m recipes.conversion.command import --source HF_DIR --output_path DIR) or "
                "convert the archive with NeMo's scripts/checkpoint_converters/convert_nemo1_to_nemo2.py in a "
                "NeMo 24.12 container, and pass that directory")
    return f"{flag}: {path} is a file; pass {EXPECTED}"


def _tar_holds_nemo2(path: Path, look_at: int = 200) -> bool:
    """Whether the archive's first members include a NeMo 2 ``context/`` (headers only, no extraction)."""
    try:
        with tarfile.open(path) as tar:
            for _, member in zip(range(look_at), tar):
                if "context" in Path(member.name).parts:
                    return True
    except (OSError, tarfile.TarError):
        return False
    return False


def _neither_problem(path: Path, flag: str) -> str:
    below = checkpoints_below(path)
    if below:
        return f"{flag}: {path} holds NeMo checkpoints but is not one; pass one of them: " + \
            ", ".join(str(p) for p in below)
    return f"{flag}: {path} is neither a Hugging Face model folder (no config.json) nor a NeMo 2 checkpoint " \
           f"(no weights/ + context/); pass {EXPECTED}"


@contextlib.contextmanager
def hf_model_dir(model_path: str, prog: str) -> Iterator[str]:
    """An HF folder for ``model_path``: itself, or a temporary export of the NeMo checkpoint (always removed)."""
    if not is_nemo_checkpoint_path(model_path):
        yield model_path
        return

    # Named before it exists, so that an interrupt at any point finds it in ``finally``.
    temp = Path(tempfile.gettempdir()) / f"{EXPORT_PREFIX}{os.getpid()}-{uuid.uuid4().hex[:8]}"
    with _sigterm_raises():
        try:
            temp.mkdir(mode=0o700)
            hf_dir = temp / "hf"
            with _stdout_to_stderr():  # NeMo logs to stdout, which holds the answer / the report
                export_hf(model_path, hf_dir)
            print(f"{prog}: exported the NeMo checkpoint {Path(model_path).absolute()} to a temporary Hugging "
                  f"Face folder {hf_dir} (removed afterwards)", file=sys.stderr, flush=True)
            yield str(hf_dir)
        finally:
            shutil.rmtree(temp, ignore_errors=True)


@contextlib.contextmanager
def _stdout_to_stderr() -> Iterator[None]:
    """Both ``sys.stdout`` and file descriptor 1 (handlers bound at import, child processes) go to stderr."""
    sys.stdout.flush()
    saved = os.dup(1)
    try:
        os.dup2(2, 1)
        with contextlib.redirect_stdout(sys.stderr):
            yield
    finally:
        sys.stdout.flush()
        os.dup2(saved, 1)
        os.close(saved)


@contextlib.contextmanager
def _sigterm_raises() -> Iterator[None]:
    """SIGTERM (a job's time limit, ``kill``) unwinds like Ctrl-C, so the temporary folder is removed."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def stop(signum, _frame):
        raise SystemExit(128 + signum)

    previous = signal.signal(signal.SIGTERM, stop)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)
