"""Machine kinds, registered next to their models.

``register_machine(kind, modes=(...), run=fn, signals=bool)`` is called by each machine package
when it is imported (``archsim.hw.gpu``, ``archsim.hw.cpu``); ``machine_kind(kind)`` imports the
built-in packages on first use and returns the entry. A third-party machine registers the same
way from its own package. ``register_mode(kind, mode, run)`` adds an execution mode with its own
run function to a kind registered elsewhere (a package that builds on a machine, as the dataflow
GPU builds on the GPU, adds its mode without the machine's package importing it).
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
    mode_runs: tuple = ()           # (mode, run) pairs added by register_mode

    def run_for(self, mode: str) -> Callable:
        """The run function of execution mode `mode` (the kind's own unless a mode was added)."""
        return dict(self.mode_runs).get(mode, self.run)


_KINDS: dict[str, MachineKind] = {}
_PENDING: dict[str, list[tuple[str, Callable]]] = {}   # modes registered before their kind
_BUILTIN = ("archsim.hw.gpu", "archsim.hw.cpu_kind", "archsim.hw.manycore_kind",
            "archsim.hw.dataflow")
_loaded = False


def register_machine(kind: str, *, modes: tuple[str, ...], run: Callable,
                     signals: bool = False) -> None:
    _KINDS[kind] = MachineKind(kind, tuple(modes), run, signals)
    for mode, mrun in _PENDING.pop(kind, []):
        register_mode(kind, mode, mrun)


def register_mode(kind: str, mode: str, run: Callable) -> None:
    """Add execution mode `mode` to machine kind `kind`, run by `run(graph, cfg, mode, **opts)`."""
    mk = _KINDS.get(kind)
    if mk is None:
        _PENDING.setdefault(kind, []).append((mode, run))
        return
    modes = mk.modes if mode in mk.modes else mk.modes + (mode,)
    runs = tuple((m, r) for m, r in mk.mode_runs if m != mode) + ((mode, run),)
    _KINDS[kind] = MachineKind(kind, modes, mk.run, mk.signals, runs)


def machine_kind(kind: str) -> MachineKind:
    global _loaded
    # import every built-in package once, even when `kind` is already registered: a package
    # that adds a mode to it (archsim.hw.dataflow) must not depend on import order
    if not _loaded:
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
