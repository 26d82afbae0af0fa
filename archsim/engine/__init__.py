"""archsim.engine — the discrete-event core every hardware model runs on.

Public API (identical on every backend; the contract is in README.md next to this file):

    Simulator(seed=0)            .now .schedule() .schedule_at() .run() .stop() .pending
                                 .events_processed .rng .counters .add_hook() .remove_hook()
    Clock(freq_hz)               .period .cycles_to_ticks() .ticks_to_cycles() .next_edge()
    Component(sim, name, clock)  override tick() -> bool; .wake() .sleeping .ticks
    Channel(sim, name, capacity, latency)
    Counters, TICKS_PER_SECOND, SimulationError, ChannelFullError, ChannelEmptyError

The Cython core (``_core``) is used when it was compiled at install time; otherwise the
pure-Python engine (``pyengine``) is used and a warning says so once. ``BACKEND`` names the one
in use. Cython components cimport ``Simulator`` and ``Handler`` from ``archsim.engine._core``.
"""
from __future__ import annotations

import os
import warnings

from archsim.engine._common import (
    HOOK_KINDS, TICKS_PER_SECOND, ChannelEmptyError, ChannelFullError, Clock, Counters,
    SimulationError)

# ARCHSIM_ENGINE=python selects the pure-Python backend on purpose (`archsim run --engine`);
# "cython" insists on the compiled one; unset or "auto" uses it when it was built.
_WANT = os.environ.get("ARCHSIM_ENGINE", "auto") or "auto"
try:
    if _WANT == "python":
        raise ImportError("ARCHSIM_ENGINE=python")
    from archsim.engine._core import Channel, Component, Handler, Simulator
    BACKEND = "cython"
except ImportError as _exc:  # no compiled extension: fall back, loudly but once (import runs once)
    if _WANT == "cython":
        raise
    if _WANT != "python":
        warnings.warn(
            f"archsim.engine: compiled core unavailable ({_exc}); using the pure-Python engine "
            "and L2 (GPU runs of a second or more measured 15-22x slower: benchmarks/RESULTS.md, 'Engine fallback'). "
            "Reinstall with a C compiler and Cython to get the fast one.",
            RuntimeWarning, stacklevel=2)
    from archsim.engine.pyengine import Channel, Component, Simulator
    Handler = None  # the C path exists only in the compiled core
    BACKEND = "python"

__all__ = [
    "BACKEND", "HOOK_KINDS", "TICKS_PER_SECOND", "Channel", "ChannelEmptyError",
    "ChannelFullError", "Clock", "Component", "Counters", "Handler", "SimulationError",
    "Simulator",
]
