"""Pieces every engine backend shares: time units, clocks, named counters, engine errors.

They are plain Python on purpose. A clock is consulted when a component is woken (not per
event), and counters are bumped by models at transaction granularity, so neither is on the
event loop's hot path; keeping one implementation means the Cython engine, the pure-Python
engine and the SimPy reference cannot disagree about them.
"""
from __future__ import annotations

import operator
from collections.abc import Callable, Iterator, Mapping
from fractions import Fraction
from typing import Any

import numpy as np

from archsim.errors import ArchsimError

#: One tick is one picosecond: every clock domain up to 1 THz has an integer period, and
#: 2**63 ticks is about 106 days of simulated time.
TICKS_PER_SECOND: int = 10**12

#: Names accepted by ``Simulator.add_hook``.
HOOK_KINDS: tuple[str, ...] = ("before_event", "after_event")


class SimulationError(ArchsimError, ValueError):
    """Misuse of the engine: scheduling in the past, a negative delay, a bad hook name."""


class ChannelFullError(ArchsimError, RuntimeError):
    """``Channel.put`` on a channel whose items in flight + waiting already equal capacity."""


class ChannelEmptyError(ArchsimError, RuntimeError):
    """``Channel.get``/``peek`` when no item whose latency has elapsed is at the head."""


class Clock:
    """A clock domain: edges at 0, period, 2*period, ... ticks.

    ``period`` is ``TICKS_PER_SECOND / freq_hz`` rounded to the nearest tick (ties to even),
    computed exactly with fractions so 1.98 GHz gives 505 ps rather than a float artefact.
    The rounding error is at most 0.5 ps per cycle (< 0.05 % for clocks up to 1 GHz,
    < 0.25 % at 5 GHz); ``effective_hz`` is the frequency the simulation actually runs at.
    """

    __slots__ = ("freq_hz", "period")

    def __init__(self, freq_hz: float | int | Fraction) -> None:
        freq = Fraction(freq_hz)  # exact for int, float and str-free Fraction alike
        if freq <= 0:
            raise SimulationError(f"clock frequency must be positive, got {freq_hz!r} Hz")
        period = round(Fraction(TICKS_PER_SECOND) / freq)
        if period < 1:
            raise SimulationError(
                f"clock frequency {freq_hz!r} Hz is above 1 THz: its period rounds to 0 ticks")
        self.freq_hz = freq_hz
        self.period: int = int(period)

    @classmethod
    def from_period(cls, period_ticks: int) -> "Clock":
        """A clock with an exact period in ticks (for tests and for ps-specified timings)."""
        if int(period_ticks) != period_ticks or period_ticks < 1:
            raise SimulationError(f"clock period must be a positive integer, got {period_ticks!r}")
        return cls(Fraction(TICKS_PER_SECOND, int(period_ticks)))

    @property
    def effective_hz(self) -> float:
        """The frequency implied by the rounded period."""
        return TICKS_PER_SECOND / self.period

    def cycles_to_ticks(self, n: int) -> int:
        """Duration of ``n`` cycles in ticks."""
        return n * self.period

    def ticks_to_cycles(self, t: int) -> int:
        """Whole cycles completed in ``t`` ticks (floor)."""
        return t // self.period

    def next_edge(self, t: int) -> int:
        """The first clock edge strictly after tick ``t``."""
        return (t // self.period + 1) * self.period

    def edge_at_or_after(self, t: int) -> int:
        """The first clock edge at or after tick ``t`` (``t`` itself when it is an edge)."""
        return -(-t // self.period) * self.period

    def __repr__(self) -> str:
        return f"Clock(freq_hz={self.freq_hz!r}, period={self.period})"


class Counters(Mapping):
    """Named statistics counters (``"l2.hits"``), created on first ``add``.

    A mapping from name to value; reading a name never added raises KeyError like any mapping
    (use ``.get(name, 0)``), so a typo in a report is loud rather than a silent zero.
    """

    __slots__ = ("_values",)

    def __init__(self) -> None:
        self._values: dict[str, int | float] = {}

    def add(self, name: str, n: int | float = 1) -> None:
        """Add ``n`` to counter ``name`` (creating it at 0 first)."""
        values = self._values
        values[name] = values.get(name, 0) + n

    def __getitem__(self, name: str) -> int | float:
        return self._values[name]

    def __iter__(self) -> Iterator[str]:
        return iter(sorted(self._values))

    def __len__(self) -> int:
        return len(self._values)

    def as_dict(self) -> dict[str, int | float]:
        """A plain dict, keys sorted by name (stable for reports and diffs)."""
        return {k: self._values[k] for k in sorted(self._values)}

    def __repr__(self) -> str:
        return f"Counters({self.as_dict()!r})"


def as_ticks(x: object) -> int:
    """An int-like time (int, numpy integer); floats are refused rather than truncated."""
    try:
        return operator.index(x)
    except TypeError:
        raise SimulationError(f"times are integer ticks, got {x!r}") from None


def check_seed(seed: object) -> int:
    """Seeds are integers: a run must be reproducible, so None (OS entropy) is refused."""
    try:
        return operator.index(seed)
    except TypeError:
        raise SimulationError(f"seed must be an integer, got {seed!r}") from None


def check_hook_kind(kind: str) -> None:
    """Reject hook names other than ``HOOK_KINDS`` with a message listing the valid ones."""
    if kind not in HOOK_KINDS:
        raise SimulationError(f"unknown hook kind {kind!r}; expected one of {HOOK_KINDS}")


def check_channel_params(name: str, capacity: int, latency: int) -> None:
    """Shared validation so every backend rejects the same channel configurations."""
    if capacity < 1:
        raise SimulationError(f"channel {name!r}: capacity must be >= 1, got {capacity}")
    if latency < 0:
        raise SimulationError(f"channel {name!r}: latency must be >= 0 ticks, got {latency}")


class PySimulatorBase:
    """What the two Python backends (pyengine, reference) share: argument checks, the
    re-entrancy guard, stop() and hook bookkeeping. Subclasses provide ``now``,
    ``_push(time, priority, fn, args, desc)`` and ``_run(until, max_events)``; the Cython core
    restates the same checks in C.
    """

    now: int

    def __init__(self, seed: int = 0) -> None:
        self.seed = check_seed(seed)
        self.rng = np.random.default_rng(self.seed)
        self.counters = Counters()
        self.events_processed = 0
        self._stopped = False
        self._running = False
        self._before: list[Callable[[int, Any], None]] = []
        self._after: list[Callable[[int, Any], None]] = []

    def _push(self, time: int, priority: int, fn: Callable, args: tuple, desc: Any) -> None:
        raise NotImplementedError

    def _run(self, until: int | None, max_events: int | None) -> int:
        raise NotImplementedError

    def schedule(self, delay: int, fn: Callable, *args: Any, priority: int = 0) -> None:
        """Call ``fn(*args)`` ``delay`` ticks from now."""
        delay = as_ticks(delay)
        if delay < 0:
            raise SimulationError(f"negative delay {delay}")
        if not callable(fn):
            raise SimulationError(f"event callback {fn!r} is not callable")
        self._push(self.now + delay, priority, fn, args, fn)

    def schedule_at(self, time: int, fn: Callable, *args: Any, priority: int = 0) -> None:
        """Call ``fn(*args)`` at absolute tick ``time``."""
        time = as_ticks(time)
        if time < self.now:
            raise SimulationError(f"cannot schedule at {time}: now is {self.now}")
        if not callable(fn):
            raise SimulationError(f"event callback {fn!r} is not callable")
        self._push(time, priority, fn, args, fn)

    def run(self, until: int | None = None, max_events: int | None = None) -> int:
        """Process events in order; return how many ran in this call.

        Runs every event with time <= ``until`` (inclusive), then sets ``now = until``;
        stops early after ``max_events`` events or when an event calls ``stop()`` (then
        ``now`` stays at the last event's time).
        """
        until = None if until is None else as_ticks(until)
        max_events = None if max_events is None else as_ticks(max_events)
        if until is not None and until < self.now:
            raise SimulationError(f"run(until={until}) is in the past: now is {self.now}")
        if max_events is not None and max_events < 0:
            raise SimulationError(f"max_events must be >= 0, got {max_events}")
        if self._running:
            raise SimulationError("run() called from inside an event; use stop() instead")
        self._running = True
        self._stopped = False
        try:
            return self._run(until, max_events)
        finally:
            self._running = False

    def stop(self) -> None:
        """End the current ``run()`` once the event being processed returns."""
        self._stopped = True

    def add_hook(self, kind: str, fn: Callable[[int, Any], None]) -> None:
        """Call ``fn(time, description)`` before/after every event."""
        check_hook_kind(kind)
        (self._before if kind == "before_event" else self._after).append(fn)

    def remove_hook(self, kind: str, fn: Callable[[int, Any], None]) -> None:
        """Unregister a hook added with ``add_hook``."""
        check_hook_kind(kind)
        (self._before if kind == "before_event" else self._after).remove(fn)
