"""Command-line checks that report every problem together (argparse stops at the first).

Numeric flags are parsed as text and checked here, so ``--samples x --seed y`` names both flags;
unknown flags join the same list. ``Checks.done()`` raises one ``ValidationErrors`` (one line per
problem, exit 2) before anything is written. A numeric flag declares its range where it is declared
(``add_argument("--workers", type=whole(low=1), default=1)``); :func:`number_problems` reports every
such flag out of range or not a number.
"""

from __future__ import annotations

import argparse
import math
import os
import sys
from typing import Sequence

from recipes.core.errors import UsageError, ValidationErrors


class Parser(argparse.ArgumentParser):
    """argparse whose errors are one-line ``UsageError``s (no usage dump, the entry point's exit 2)."""

    def error(self, message: str):
        raise UsageError(f"{message}; see {self.prog} --help")

    def parse_collecting(self, argv: Sequence[str] | None) -> tuple[argparse.Namespace, "Checks"]:
        respelled = self.hyphen_spellings(sys.argv[1:] if argv is None else argv)
        if respelled:  # before parsing: the underscore flag may be required, and its absence would mask these
            raise ValidationErrors(respelled)
        args, unknown = self.parse_known_args(argv)
        checks = Checks()
        for extra in unknown:
            checks.add(f"{extra}: unknown argument; see {self.prog} --help")
        checks.add(*number_problems(self, args))
        return args, checks


    def hyphen_spellings(self, argv: Sequence[str]) -> list[str]:
        """The tutorial scripts' ``--model-path`` style of a flag spelled ``--model_path`` here, with the fix."""
        problems = []
        for word in argv:
            flag = word.partition("=")[0]
            fixed = "--" + flag[2:].replace("-", "_")
            if flag.startswith("--") and fixed != flag and fixed in self._option_string_actions:
                problems.append(f"{flag}: spelled {fixed} here; see {self.prog} --help")
        return problems


class Checks:
    def __init__(self):
        self.problems: list[str] = []

    def add(self, *problems: str) -> None:
        self.problems.extend(problems)

    def done(self) -> None:
        if self.problems:
            raise ValidationErrors(self.problems)

    def integer(self, flag: str, text: str | int | None, low: int | None = None,
                high: int | None = None) -> int | None:
        """``text`` as an int in ``[low, high]``; None (and a problem) otherwise, or if ``text`` is None."""
        if text is None or isinstance(text, int):
            value = text
        else:
            try:
                value = int(str(text).strip())
            except ValueError:
                self.add(f"{flag} {text}: not a whole number")
                return None
        if value is not None and not self._in_range(flag, value, low, high):
            return None
        return value

    def number(self, flag: str, text: str | float | None, low: float | None = None,
               high: float | None = None) -> float | None:
        """``text`` as a finite float in ``[low, high]`` (nan and inf are refused)."""
        if text is None:
            return None
        try:
            value = float(text)
        except ValueError:
            self.add(f"{flag} {text}: not a number")
            return None
        if not math.isfinite(value):
            self.add(f"{flag} {text}: must be a finite number")
            return None
        return value if self._in_range(flag, value, low, high) else None

    def choice(self, flag: str, value: str | None, choices: Sequence[str]) -> str | None:
        if value is None or value in choices:
            return value
        self.add(f"{flag} {value}: unknown; choose one of {', '.join(choices)}")
        return None

    def input_file(self, flag: str, path: str, fix: str) -> bool:
        """An existing, readable file (not a folder)."""
        if os.path.isdir(path):
            self.add(f"{flag} {path}: is a folder, not a file; {fix}")
        elif not os.path.exists(path):
            self.add(f"{flag} {path}: file does not exist; {fix}")
        elif not os.access(path, os.R_OK):
            self.add(f"{flag} {path}: file is not readable; check its permissions")
        else:
            return True
        return False

    def _in_range(self, flag: str, value: float, low: float | None, high: float | None) -> bool:
        if low is not None and value < low:
            self.add(f"{flag} {value}: must be at least {low}")
        elif high is not None and value > high:
            self.add(f"{flag} {value}: must be at most {high:,}")
        else:
            return True
        return False


class BadNumber(str):
    """What a :class:`Bounded` flag parses to when its text is not a number in range: argparse goes on, so
    :func:`number_problems` can name every such flag together (argparse itself stops at the first)."""

    def __new__(cls, text: str, problem: str):
        self = super().__new__(cls, text)
        self.problem = problem  # "{flag} TEXT: what is wrong", the flag filled in by number_problems
        return self


class Bounded:
    """The ``type=`` of a numeric flag with its allowed range; see :func:`whole` and :func:`real`."""

    def __init__(self, kind: type, low: float | None, high: float | None):
        self.kind, self.low, self.high = kind, low, high
        self.__name__ = "whole number" if kind is int else "number"  # argparse's name for the type

    def __call__(self, text: str):
        checks = Checks()
        check = checks.integer if self.kind is int else checks.number
        value = check("{flag}", text, self.low, self.high)
        return BadNumber(text, checks.problems[0]) if checks.problems else value


def whole(low: int | None = None, high: int | None = None) -> Bounded:
    """An integer flag in ``[low, high]``: ``type=whole(low=0)`` for counts, ``low=1`` where 0 is meaningless."""
    return Bounded(int, low, high)


def real(low: float | None = None, high: float | None = None) -> Bounded:
    """A finite float flag in ``[low, high]``."""
    return Bounded(float, low, high)


def number_problems(parser: argparse.ArgumentParser, args: argparse.Namespace) -> list[str]:
    """One line per :class:`Bounded` flag whose value is refused; the flag's default takes its place, so
    that the command's other checks still run (and every problem is reported together)."""
    problems = []
    for action in parser._actions:
        value = getattr(args, action.dest, None)
        if isinstance(value, BadNumber):
            problems.append(value.problem.replace("{flag}", "/".join(action.option_strings), 1))
            setattr(args, action.dest, action.default)
    return problems
