"""User-facing errors: one line that names the flag or file, what is wrong, and the fix."""

from __future__ import annotations

import functools
import os
import sys
import traceback
from typing import Callable, Iterable
from executors.settings import SettingsError
from recipes.core.secrets import redact

USAGE_EXIT = 2
RUN_FAILED = 1
DEBUG_FLAG = "--debug"
DEBUG_ENV = "RECIPES_DEBUG"


class UsageError(Exception):
    """Bad input from the user. Exit status 2, nothing written."""


class ValidationErrors(UsageError):
    """Several pre-flight problems, reported together."""

    def __init__(self, problems: Iterable[str]):
        self.problems = list(problems)
        super().__init__("\n".join(self.problems))


def report(exc: Exception, prog: str) -> None:
    problems = getattr(exc, "problems", None) or [str(exc)]
    for line in problems:
        print(f"{prog}: error: {line}", file=sys.stderr)


def _usage_errors() -> tuple[type, ...]:
    """UsageError, and executors' own settings errors (executors/ does not import recipes/)."""
    return UsageError, SettingsError


def _split_debug(args: tuple) -> tuple[tuple, bool]:
    """Take ``--debug`` out of the command line (every entry point accepts it) and honour $RECIPES_DEBUG."""
    env_debug = os.environ.get(DEBUG_ENV, "") not in ("", "0")
    if args and not (args[0] is None or isinstance(args[0], (list, tuple))):
        return args, env_debug or DEBUG_FLAG in sys.argv[1:]  # an inner function taking other arguments
    argv = list(args[0]) if args and args[0] is not None else sys.argv[1:]
    return ([a for a in argv if a != DEBUG_FLAG], *args[1:]), env_debug or DEBUG_FLAG in argv


def _unexpected(exc: BaseException, prog: str, debug: bool) -> int:
    """A bug, not a usage error: one line first; the traceback with --debug / RECIPES_DEBUG=1."""
    where = traceback.extract_tb(exc.__traceback__)[-1] if exc.__traceback__ else None
    at = f" at {os.path.basename(where.filename)}:{where.lineno}" if where else ""
    first = str(exc).splitlines()[0] if str(exc) else ""
    print(redact(f"{prog}: internal error: {type(exc).__name__}{at}: {first}"[:400]), file=sys.stderr)
    if debug:
        print(redact("".join(traceback.format_exception(exc))), file=sys.stderr)
    else:
        print(f"{prog}: rerun with {DEBUG_FLAG} (or {DEBUG_ENV}=1) for the traceback, and report it", file=sys.stderr)
    return RUN_FAILED


def cli_main(prog: str) -> Callable[[Callable[..., int | None]], Callable[..., int]]:
    """Wrap an entry point: usage errors -> one line per problem on stderr, exit 2; anything else -> one line, exit 1."""

    def wrap(fn: Callable[..., int | None]) -> Callable[..., int]:
        @functools.wraps(fn)
        def inner(*args, **kwargs) -> int:
            args, debug = _split_debug(args)
            try:
                return int(fn(*args, **kwargs) or 0)
            except _usage_errors() as exc:
                report(exc, prog)
                return USAGE_EXIT
            except KeyboardInterrupt:
                print(f"{prog}: interrupted", file=sys.stderr)
                return 130
            except SystemExit:
                raise  # argparse's own usage errors (exit 2) and explicit exits
            except Exception as exc:  # noqa: BLE001 - the last line of defence: never a bare traceback
                return _unexpected(exc, prog, debug)

        return inner

    return wrap
