"""A pipeline stage's ``key: value`` mapping -> its command's argv, read off that command's own parser.

No second vocabulary: a key is one of the command's options (``max_steps`` -> ``--max_steps``,
``output-prefix`` -> ``--output-prefix``, ``M`` -> ``-M``) and the value is typed and checked by the
command itself. Only the rendering is decided here, from the option's argparse action: ``true`` gives a
switch (``false`` leaves it out), a list repeats an ``append`` option or follows an ``nargs='+'`` one,
``null`` gives an ``nargs='?'`` option without a value. Standard library only (``--help`` stays fast).
"""

from __future__ import annotations

import argparse
import contextlib
from recipes.core.argcheck import Parser
from recipes.core.errors import UsageError

# Options the pipeline sets for every stage (or for the whole pipeline): a stage may not set them.
RESERVED = {
    "executor": "set for the whole pipeline: python -m recipes.pipeline FILE --executor local|slurm",
    "dryrun": "set for the whole pipeline: python -m recipes.pipeline FILE --dryrun",
    "detach": "set for the whole pipeline: python -m recipes.pipeline FILE --detach",
    "yes": "set for the whole pipeline: python -m recipes.pipeline FILE --yes",
    "debug": "set for the whole pipeline: python -m recipes.pipeline FILE --debug",
    "help": "not a stage option",
}
SLURM_KEYS = ("account", "partition", "cpu_partition", "time", "container_image", "container_mounts", "retries",
              "packager", "allow_dirty", "dependency", "dependency_type", "job_dir")
for _key in SLURM_KEYS:
    RESERVED[_key] = f"Slurm settings are the pipeline's: python -m recipes.pipeline FILE --{_key} ..."


class _Captured(Exception):
    def __init__(self, parser):
        self.parser = parser


def capture_parser(function) -> argparse.ArgumentParser:
    """The parser a command builds inside ``function`` (commands that build and check in one function):
    call it and stop at its first parse (``recipes.core.argcheck.Parser.parse_collecting``)."""
    def stop(self, argv):
        raise _Captured(self)

    original = Parser.parse_collecting
    Parser.parse_collecting = stop
    try:
        function([])
    except _Captured as captured:
        return captured.parser
    finally:
        Parser.parse_collecting = original
    raise RuntimeError(f"{function.__module__}.{function.__name__} built no recipes.core.argcheck.Parser")


def _options(parser: argparse.ArgumentParser) -> dict[str, argparse.Action]:
    return {opt: action for action in parser._actions for opt in action.option_strings}


def _find(options: dict[str, argparse.Action], key: str) -> tuple[str, argparse.Action] | None:
    if len(key) == 1:
        spellings = [f"-{key}"]
    else:
        spellings = [f"--{key}", f"--{key.replace('_', '-')}", f"--{key.replace('-', '_')}"]
    for flag in spellings:
        if flag in options:
            return flag, options[flag]
    return None


def to_argv(parser: argparse.ArgumentParser, mapping: dict, where: str, positional: str | None = None
            ) -> tuple[list[str], list[str]]:
    """(argv, problems) for ``mapping``; ``positional``: the key that holds trailing arguments (overrides)."""
    options, argv, trailing, problems = _options(parser), [], [], []
    prog = parser.prog
    for key, value in mapping.items():
        key = str(key)
        if key in RESERVED:
            problems.append(f"{where}: {key}: {RESERVED[key]}")
            continue
        if positional and key == positional:
            values = value if isinstance(value, list) else [value]
            trailing += [str(v) for v in values]
            continue
        found = _find(options, key)
        if found is None or found[1].help == argparse.SUPPRESS:
            problems.append(f"{where}: {key}: not an option of {prog}; see {prog} --help")
            continue
        rendered, problem = _render(*found, value)
        if problem:
            problems.append(f"{where}: {key}: {problem}")
        argv += rendered
    return argv + trailing, problems


def _render(flag: str, action: argparse.Action, value) -> tuple[list[str], str | None]:
    if isinstance(value, dict):
        return [], "a mapping is not a value; give a string, number, true/false or a list"
    if action.nargs == 0:  # a switch
        if not isinstance(value, bool):
            return [], f"a switch ({flag}); write true or false"
        return ([flag] if value == isinstance(action, (argparse._StoreTrueAction, argparse._StoreConstAction))
                else []), None
    if value is None:
        if action.nargs == "?":
            return [flag], None
        return [], f"needs a value ({flag} VALUE)"
    values = value if isinstance(value, list) else [value]
    if isinstance(value, list) and not values:
        return [], None
    if isinstance(action, argparse._AppendAction):
        return [token for v in values for token in _pair(flag, v)], None
    if action.nargs in ("+", "*") or isinstance(action.nargs, int):
        return [flag, *(_text(v) for v in values)], None
    if isinstance(value, list):
        return [], f"takes one value ({flag} VALUE), not a list"
    return _pair(flag, value), None


def _pair(flag: str, value) -> list[str]:
    """``--flag VALUE``, or ``--flag=VALUE`` when the value could pass for an option."""
    text = _text(value)
    return [f"{flag}={text}"] if text.startswith("-") else [flag, text]


def _text(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


@contextlib.contextmanager
def raising_parser(parser: argparse.ArgumentParser):
    """A plain argparse parser whose errors raise UsageError instead of printing usage and exiting."""
    def error(message):
        raise UsageError(f"{message}; see {parser.prog} --help")

    parsers = [parser] + [p for a in parser._actions if isinstance(a, argparse._SubParsersAction)
                          for p in a.choices.values()]
    saved = [p.error for p in parsers]
    for p in parsers:
        p.error = error
    try:
        yield parser
    finally:
        for p, original in zip(parsers, saved):
            p.error = original
