"""The training backends, one module each behind :class:`recipes.backends.base.Backend`.

``REGISTRY`` maps each ``--backend`` value to its backend, in the order ``--backend auto`` asks them.
A new backend is one module and one line here (or :func:`register` from a plugin). Nothing outside
this package compares backend names: it asks :func:`get` for the chosen backend.
"""

from __future__ import annotations

from recipes.backends import hf, megatron
from recipes.backends.base import Backend
from recipes.core.errors import UsageError

REGISTRY: dict[str, Backend] = {backend.name: backend for backend in (hf.BACKEND, megatron.BACKEND)}

__all__ = ["REGISTRY", "Backend", "build_recipe", "choose", "get", "names", "register", "specific_options",
           "supporting", "use_flags"]


def register(backend: Backend) -> Backend:
    """Add ``backend`` (asked by ``--backend auto`` before the built-in ones)."""
    others = [(name, b) for name, b in REGISTRY.items() if name != backend.name]
    REGISTRY.clear()
    REGISTRY.update([(backend.name, backend), *others])
    return backend


def names() -> tuple[str, ...]:
    return tuple(REGISTRY)


def get(name: str) -> Backend:
    try:
        return REGISTRY[name]
    except KeyError:
        raise UsageError(f"--backend {name}: not a backend; choose auto or one of {', '.join(REGISTRY)}") from None


def choose(debug_model: bool, no_gpu: bool) -> Backend:
    """The backend ``--backend auto`` means here: the first that says so."""
    return next((b for b in REGISTRY.values() if b.auto_chosen(debug_model, no_gpu)), REGISTRY["megatron"])


def supporting(option: str) -> list[Backend]:
    """The backends that honour a backend-specific option."""
    return [b for b in REGISTRY.values() if option in b.honours]


def specific_options() -> frozenset[str]:
    """Every backend-specific option: those some backend honours (and another may not)."""
    return frozenset().union(*(b.honours for b in REGISTRY.values()))


def use_flags(option: str) -> str:
    """How to get a backend that honours ``option``: "--backend megatron" (or several, joined by "or")."""
    return " or ".join(f"--backend {b.name}" for b in supporting(option)) or "another backend"


def build_recipe(opts):
    """The training ``nemo_run.Partial`` of ``opts``, built by its backend."""
    return get(opts.backend).build(opts)
