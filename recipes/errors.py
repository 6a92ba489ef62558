"""User-facing errors: one line that names the flag or file, what is wrong, and the fix."""

from __future__ import annotations

import functools
import sys
from typing import Callable, Iterable

USAGE_EXIT = 2


class UsageError(Exception):
    """Bad input from the user. Exit status 2, nothing written."""


class ValidationErrors(UsageError):
    """Several pre-flight problems, reported together."""

    def __init__(self, problems: Iterable[str]):
        self.problems = list(problems)
        super().__init__("\n".join(self.problems))


def report(exc: UsageError, prog: str) -> None:
    problems = exc.problems if isinstance(exc, ValidationErrors) else [str(exc)]
    for line in problems:
        print(f"{prog}: error: {line}", file=sys.stderr)


def cli_main(prog: str) -> Callable[[Callable[..., int | None]], Callable[..., int]]:
    """Wrap an entry point: UsageError -> one line per problem on stderr, exit 2."""

    def wrap(fn: Callable[..., int | None]) -> Callable[..., int]:
        @functools.wraps(fn)
        def inner(*args, **kwargs) -> int:
            try:
                return int(fn(*args, **kwargs) or 0)
            except UsageError as exc:
                report(exc, prog)
                return USAGE_EXIT
            except KeyboardInterrupt:
                print(f"{prog}: interrupted", file=sys.stderr)
                return 130

        return inner

    return wrap
