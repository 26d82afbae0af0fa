"""Machine kinds, registered next to their models.

``register_machine(kind, modes=(...), run=fn, signals=bool)`` is called by each machine package
when it is imported (``archsim.hw.gpu``, ``archsim.hw.cpu``); ``machine_kind(kind)`` imports the
built-in packages on first use and returns the entry. A third-party machine registers the same
way from its own package.
"""
from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import Callable

from archsim.errors import UserError


@dataclass(frozen=True)
class MachineKind:
    kind: str
    modes: tuple[str, ...]          # execution modes; the first is the default
    run: Callable                   # run(graph, cfg, exec_mode, **options) -> SimResult
    signals: bool = False           # publishes signals (accepts monitors=)


_KINDS: dict[str, MachineKind] = {}
_BUILTIN = ("archsim.hw.gpu", "archsim.hw.cpu_kind")
_loaded = False


def register_machine(kind: str, *, modes: tuple[str, ...], run: Callable,
                     signals: bool = False) -> None:
    _KINDS[kind] = MachineKind(kind, tuple(modes), run, signals)


def machine_kind(kind: str) -> MachineKind:
    global _loaded
    if kind not in _KINDS and not _loaded:
        _loaded = True
        for mod in _BUILTIN:
            importlib.import_module(mod)
    try:
        return _KINDS[kind]
    except KeyError:
        raise UserError(f"no machine model for kind {kind!r}; registered: {sorted(_KINDS)}") \
            from None


def machine_kinds() -> list[str]:
    machine_kind(next(iter(_KINDS), "gpu"))
    return sorted(_KINDS)
