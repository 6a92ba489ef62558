"""The doctor's NeMo / megatron-core pair check: by what NeMo's training path calls, not by version numbers.

An image may pair NeMo 2.7 with a megatron-core other than the pinned 0.15.3 (nvcr.io/nvidia/nemo:26.02
ships 0.16.0), so the question is whether the installed megatron-core offers what the installed NeMo
uses. Both are read from their source files with ``ast``, found the way ``import`` finds them; nothing
is imported (``megatron.core.optimizer`` alone costs ~7 s of CPU). The training process decides the
same questions with ``inspect`` on the imported code (:mod:`recipes.mcore.compat`): two readings of
one fact, so a test can hold one against the other.
"""

from __future__ import annotations

import ast
import importlib.util
import sys
from pathlib import Path

from recipes.environment.checks import Check
from recipes.mcore.compat import REMOVED_IN_016

NAME = "nemo/megatron-core pair"
FIX = ("bash scripts/setup.sh (pins megatron-core 0.15.3 beside NeMo 2.7.3), or use an image from README "
       "'Supported stacks'")
OPTIMIZER_CALLER = "lightning/_strategy_lib.py"  # NeMo's setup_megatron_optimizer
# What nemo.collections.llm imports when it loads (gpt/model/megatron/hyena): megatron-core <= 0.14 lacks it.
IMPORTED_BY_LLM = ("process_groups_config.py", "ProcessGroupCollection")
ASYNC_SAVE_MODULE = "dist_checkpointing/strategies/tensorstore.py"  # NeMo's async checkpoint IO imports it


def package_dir(*parts: str) -> Path | None:
    """The first ``parts`` folder on sys.path that holds an ``__init__.py``, as ``import`` would pick it."""
    spec = importlib.util.find_spec(parts[0])  # top level only: finding it runs no package code
    for root in (spec.submodule_search_locations or []) if spec else []:
        folder = Path(root, *parts[1:])
        if (folder / "__init__.py").is_file():
            return folder
    return None


def call_keywords(source: Path, function: str) -> set[str]:
    """The keyword names every call of ``function`` in ``source`` passes."""
    names = set()
    for node in ast.walk(ast.parse(source.read_text())):
        if isinstance(node, ast.Call) and getattr(node.func, "id", getattr(node.func, "attr", None)) == function:
            names.update(k.arg for k in node.keywords if k.arg)
    return names


def top_level(source: Path) -> dict[str, ast.AST]:
    """Functions and classes a module defines at its top level, by name."""
    tree = ast.parse(source.read_text())
    return {n.name: n for n in tree.body if isinstance(n, (ast.FunctionDef, ast.ClassDef))}


def parameters(function: ast.FunctionDef) -> tuple[set[str], bool]:
    """Parameter names of a ``def`` and whether it takes ``**kwargs``."""
    args = function.args
    return {a.arg for a in args.posonlyargs + args.args + args.kwonlyargs}, args.kwarg is not None


def check_pair() -> list[Check]:
    nemo, core = package_dir("nemo"), package_dir("megatron", "core")
    if nemo is None or core is None:
        return []  # the package checks already fail with the fix
    if not (nemo / "collections" / "llm" / "__init__.py").is_file():
        return [Check("nemo llm collection", "FAIL", f"{nemo} has no nemo.collections.llm (NeMo 3 and images from "
                      "26.04 on ship only speech/audio)", FIX)]
    checks = [Check("nemo llm collection", "OK", str(nemo / "collections" / "llm"))]
    version = _core_version(core)
    module, name = core / IMPORTED_BY_LLM[0], IMPORTED_BY_LLM[1]
    if not module.is_file() or name not in top_level(module):
        return checks + [Check(NAME, "FAIL", f"megatron-core {version} has no {name}, which "
                               "nemo.collections.llm imports (megatron-core <= 0.14): importing it fails", FIX)]
    return checks + [_optimizer_check(nemo, core, version)]


def _optimizer_check(nemo: Path, core: Path, version: str) -> Check:
    caller, defs = nemo / OPTIMIZER_CALLER, top_level(core / "optimizer" / "__init__.py")
    passed = call_keywords(caller, "get_megatron_optimizer") if caller.is_file() else set()
    if not passed or "get_megatron_optimizer" not in defs:
        return Check(NAME, "WARN", f"cannot find NeMo's get_megatron_optimizer call ({caller}) or its definition in "
                     f"megatron-core {version}: pair not checked", FIX)
    accepted, any_keyword = parameters(defs["get_megatron_optimizer"])
    missing = set() if any_keyword else passed - accepted
    async_note = "" if (core / ASYNC_SAVE_MODULE).is_file() else (
        "; NeMo's async checkpoint save is unavailable (no dist_checkpointing tensorstore): the recipes save "
        "synchronously")
    if not missing:
        return Check(NAME, "OK", f"megatron-core {version} accepts NeMo's get_megatron_optimizer call" + async_note)
    if missing <= set(REMOVED_IN_016) and "config_overrides" in accepted:
        # config_overrides=None applies the same no-weight-decay rule the dropped defaults asked for.
        return Check(NAME, "OK", f"megatron-core {version} lacks NeMo's {', '.join(sorted(missing))}: adapter will "
                     "be applied in the training process (exact for Llama's defaults; other values are refused)"
                     + async_note)
    return Check(NAME, "FAIL", f"megatron-core {version} lacks get_megatron_optimizer keywords NeMo passes: "
                 f"{', '.join(sorted(missing))}; training fails once the model is built", FIX)


def _core_version(core: Path) -> str:
    info = core / "package_info.py"
    found = {}
    if info.is_file():
        for node in ast.parse(info.read_text()).body:
            if isinstance(node, ast.Assign) and isinstance(node.value, ast.Constant):
                found.update({t.id: node.value.value for t in node.targets if isinstance(t, ast.Name)})
    parts = [str(found[k]) for k in ("MAJOR", "MINOR", "PATCH") if k in found]
    return ".".join(parts) + str(found.get("PRE_RELEASE", "")) if parts else f"at {core}"


if __name__ == "__main__":  # scripts/setup.sh --container: the pair alone, exit 1 on FAIL
    results = check_pair() or [Check(NAME, "FAIL", "nemo or megatron.core not found by this Python", FIX)]
    for result in results:
        print(result.line())
    sys.exit(1 if any(r.status == "FAIL" for r in results) else 0)
