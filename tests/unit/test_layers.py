"""The packages of ``recipes/`` read top-down: each imports only packages below it (no cycles, no arrow back
up), the entry points ``recipes/<command>.py`` sit above them all and nothing imports an entry point, and a
function-local import of our own modules exists only where a light module waits for a heavy library."""

from __future__ import annotations

import ast

from testlib import REPO

# Bottom to top; a package may import those before it (and itself).
LAYERS = ["core", "data", "config", "conversion", "mcore", "megatron", "hf", "evaluation", "backends", "job", "launch",
          "preprocessing", "environment", "pipelines"]
# Functions where a light module loads a heavy one (NeMo, torch, Lightning) on first use: name -> why.
BOUNDARIES = {
    ("recipes/backends/megatron.py", "_nemo"): "NeMo, for the Megatron backend's build, import task and rehearsal",
    ("recipes/backends/hf.py", "build"): "nemo_run and torch, for the small-model recipe",
    ("recipes/conversion/api.py", "import_hf"): "NeMo's importer",
    ("recipes/conversion/api.py", "export_hf"): "NeMo's exporter",
    ("recipes/hf/task.py", "train"): "Lightning and transformers, in the training process",
}


def _modules():
    for path in sorted((REPO / "recipes").rglob("*.py")):
        yield path, ast.parse(path.read_text())


def _imported(node) -> list[str]:
    if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("recipes"):
        return [node.module] + [f"{node.module}.{a.name}" for a in node.names]
    if isinstance(node, ast.Import):
        return [a.name for a in node.names if a.name.startswith("recipes")]
    return []


def _package(module: str) -> str:
    """``recipes.job.plan`` -> ``job``; ``recipes.pretrain`` (an entry point) -> ``<entry>``."""
    parts = module.split(".")
    if len(parts) == 1:
        return ""
    return parts[1] if parts[1] in LAYERS else "<entry>"


def test_every_package_is_in_a_layer():
    folders = {p.parent.name for p in (REPO / "recipes").glob("*/__init__.py")}
    assert folders == set(LAYERS), "a new package needs its place in LAYERS"
    loose = sorted(p.stem for p in (REPO / "recipes").glob("*.py") if p.stem != "__init__")
    for name in loose:  # entry points only, a few lines each
        assert len((REPO / "recipes" / f"{name}.py").read_text().splitlines()) <= 60, name


def test_imports_only_point_down():
    upward = []
    for path, tree in _modules():
        rel = path.relative_to(REPO)
        here = _package(".".join(rel.with_suffix("").parts))
        for node in ast.walk(tree):
            for target in _imported(node):
                there = _package(target)
                if not there or there == here:
                    continue
                if there == "<entry>" and here != "<entry>":
                    upward.append(f"{rel}: imports the entry point {target}")
                elif here in LAYERS and there in LAYERS and LAYERS.index(there) > LAYERS.index(here):
                    upward.append(f"{rel}: {here} imports {target} ({there} is above it)")
    assert not upward, "\n".join(upward)


def test_function_local_imports_of_our_modules_are_the_declared_boundaries():
    found = set()
    for path, tree in _modules():
        rel = str(path.relative_to(REPO))
        for func in ast.walk(tree):
            if isinstance(func, (ast.FunctionDef, ast.AsyncFunctionDef)):
                if any(_imported(n) for n in ast.walk(func) if n is not func):
                    found.add((rel, func.name))
    assert found == set(BOUNDARIES)


def test_no_module_is_over_300_lines():
    long = {str(p.relative_to(REPO)): n for p in (REPO / "recipes").rglob("*.py")
            if (n := len(p.read_text().splitlines())) > 300}
    assert not long, long
