"""Named signals a component publishes, a bus that holds them, and a per-window monitor.

A *signal* is one named wire of a component: a level (holds a value until changed, e.g.
``sm[3].tensor_busy``) or a pulse (an event carrying an amount, e.g. ``l2[5].miss`` bytes).
Components declare their signals on the machine's ``SignalBus`` once, when they are built,
and update them as they run. Monitors (window aggregators, tracers, the YPU tap) subscribe.

An unsubscribed signal costs one attribute test: ``set``/``pulse`` return at once when
``subscribed`` is False, and hot loops may test ``sig.subscribed`` themselves first.

Time is engine ticks (1 tick = 1 ps). This module imports nothing from archsim but
``archsim.errors`` (the signal contract shared by the GPU, CPU and monitor models).
"""

from __future__ import annotations

import difflib
import fnmatch
from typing import Callable, Iterable

import numpy as np

from archsim.errors import UserError

__all__ = ["Signal", "SignalBus", "Subscription", "WindowMonitor"]

_KINDS = ("level", "pulse")


class Signal:
    """One named wire of a component. See the module docstring."""

    __slots__ = ("name", "index", "width", "kind", "unit", "value", "subscribed", "_subs",
                 "_mask")

    def __init__(self, name: str, index: int, width: int, kind: str, unit: str = ""):
        self.name = name
        self.unit = unit          # what a value counts ("bytes", "lines"; "" for flags)
        self.index = index
        self.width = width
        self.kind = kind
        self.value = 0
        self.subscribed = False
        self._subs: list[Callable[[int, "Signal", int], None]] = []
        self._mask = (1 << width) - 1

    def set(self, time: int, value: int) -> None:
        """Level: hold ``value`` from ``time`` on; subscribers are told only when it changes.

        The value is kept even when nobody listens, so a monitor attached mid-run starts from
        the true current level.
        """
        if self.value == value:
            return
        self.value = value
        if not self.subscribed:
            return
        for fn in self._subs:
            fn(time, self, value)

    def pulse(self, time: int, amount: int = 1) -> None:
        """Pulse: an event with an amount (hits, misses, bytes); every call is delivered."""
        if not self.subscribed:
            return
        self.value = amount
        for fn in self._subs:
            fn(time, self, amount)

    def __repr__(self) -> str:
        return f"Signal({self.name!r}, {self.kind}, width={self.width}, value={self.value})"


class Subscription:
    """A handle returned by ``SignalBus.subscribe``; pass it to ``unsubscribe``."""

    __slots__ = ("signals", "fn", "active")

    def __init__(self, signals: tuple[Signal, ...], fn: Callable):
        self.signals = signals
        self.fn = fn
        self.active = True


class SignalBus:
    """Every signal of one machine instance, by name and by dense index."""

    def __init__(self) -> None:
        self._signals: list[Signal] = []
        self._by_name: dict[str, Signal] = {}

    def declare(self, name: str, *, width: int = 1, kind: str = "level", unit: str = "") -> Signal:
        if not isinstance(name, str) or not name:
            raise UserError(f"signal name must be a non-empty string, got {name!r}")
        if name in self._by_name:
            raise UserError(f"signal {name!r} is declared twice")
        if kind not in _KINDS:
            raise UserError(f"signal {name!r}: kind must be one of {_KINDS}, got {kind!r}")
        if isinstance(width, bool) or not isinstance(width, int) or not 1 <= width <= 64:
            raise UserError(f"signal {name!r}: width must be an integer 1..64 bits, got {width!r}")
        sig = Signal(name, len(self._signals), width, kind, str(unit))
        self._signals.append(sig)
        self._by_name[name] = sig
        return sig

    def names(self) -> list[str]:
        return [s.name for s in self._signals]

    def __len__(self) -> int:
        return len(self._signals)

    def __iter__(self):
        return iter(self._signals)

    def __contains__(self, name: object) -> bool:
        return name in self._by_name

    def get(self, name: str) -> Signal:
        try:
            return self._by_name[name]
        except KeyError:
            close = difflib.get_close_matches(str(name), self._by_name.keys(), n=1)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            raise UserError(f"unknown signal {name!r}{hint}") from None

    def match(self, pattern: str) -> list[Signal]:
        """Signals whose names match an fnmatch glob, in declaration order.

        ``[`` starts a character class in fnmatch, so literal brackets are written ``[[]``:
        ``"sm[[]*].tensor_busy"``. ``match_prefix`` avoids that for the common case.
        """
        return [s for s in self._signals if fnmatch.fnmatchcase(s.name, pattern)]

    def match_prefix(self, prefix: str, suffix: str = "") -> list[Signal]:
        """Signals whose names start with ``prefix`` and end with ``suffix`` (no globbing)."""
        return [s for s in self._signals if s.name.startswith(prefix) and s.name.endswith(suffix)]

    def _resolve(self, signals) -> tuple[Signal, ...]:
        if isinstance(signals, (str, Signal)):
            signals = [signals]
        out = []
        for s in signals:
            if isinstance(s, Signal):
                if self._by_name.get(s.name) is not s:
                    raise UserError(f"signal {s.name!r} does not belong to this bus")
                out.append(s)
            else:
                out.append(self.get(s))
        return tuple(out)

    def subscribe(self, signals, fn: Callable[[int, Signal, int], None]) -> Subscription:
        """Call ``fn(time, sig, value)`` on every change of a level / every pulse of ``signals``."""
        if not callable(fn):
            raise UserError(f"subscriber must be callable, got {fn!r}")
        sigs = self._resolve(signals)
        for s in sigs:
            s._subs.append(fn)
            s.subscribed = True
        return Subscription(sigs, fn)

    def unsubscribe(self, sub: Subscription) -> None:
        if not sub.active:
            return
        sub.active = False
        for s in sub.signals:
            for i, f in enumerate(s._subs):
                if f is sub.fn:
                    del s._subs[i]
                    break
            s.subscribed = bool(s._subs)


class WindowMonitor:
    """Aggregate signals per window of ``window_cycles`` cycles of a ``clock_hz`` clock.

    ``finish(end_time)`` returns, per signal name, one float per window covering
    ``[start, end_time)``: for a level the time-weighted mean value over the window (for a
    1-bit busy flag, the fraction of the window it was high); for a pulse the sum of the
    amounts pulsed in the window. The last window may be partial; its mean is over the part
    that lies before ``end_time``.
    """

    def __init__(self, bus: SignalBus, signals, *, window_cycles: int, clock_hz: float,
                 start: int = 0):
        if isinstance(window_cycles, bool) or not isinstance(window_cycles, int) or window_cycles < 1:
            raise UserError(f"window_cycles must be a positive integer, got {window_cycles!r}")
        if not clock_hz or clock_hz <= 0:
            raise UserError(f"clock_hz must be positive, got {clock_hz!r}")
        self.bus = bus
        self.signals = bus._resolve(signals)
        # A window is a whole number of ticks; the period rounds like engine Clock periods.
        period = round(10**12 / float(clock_hz))
        self.window_ticks = max(1, int(period) * window_cycles)
        self.start = int(start)
        self._pos = {s.index: i for i, s in enumerate(self.signals)}
        n = len(self.signals)
        self._acc: list[dict[int, float]] = [dict() for _ in range(n)]   # window -> integral/sum
        self._last_t = [self.start] * n
        self._last_v = [s.value for s in self.signals]
        self._sub = bus.subscribe(self.signals, self._on)
        self._done = False

    def _add_level(self, i: int, t0: int, t1: int, v: int) -> None:
        if v == 0 or t1 <= t0:
            return
        W, s0, acc = self.window_ticks, self.start, self._acc[i]
        w = (t0 - s0) // W
        while t0 < t1:
            w_end = s0 + (w + 1) * W
            seg_end = t1 if t1 < w_end else w_end
            acc[w] = acc.get(w, 0.0) + v * (seg_end - t0)
            t0 = seg_end
            w += 1

    def _on(self, time: int, sig: Signal, value: int) -> None:
        i = self._pos[sig.index]
        if time < self.start:
            self._last_v[i] = value if sig.kind == "level" else 0
            return
        if sig.kind == "level":
            self._add_level(i, self._last_t[i], time, self._last_v[i])
            self._last_t[i], self._last_v[i] = time, value
        else:
            w = (time - self.start) // self.window_ticks
            acc = self._acc[i]
            acc[w] = acc.get(w, 0.0) + value

    def finish(self, end_time: int) -> dict[str, np.ndarray]:
        end_time = int(end_time)
        if end_time < self.start:
            raise UserError(f"end_time {end_time} is before the monitor's start {self.start}")
        if not self._done:
            self.bus.unsubscribe(self._sub)
            self._done = True
            for i, s in enumerate(self.signals):
                if s.kind == "level":
                    self._add_level(i, self._last_t[i], end_time, self._last_v[i])
                    self._last_t[i] = end_time
        W = self.window_ticks
        span = end_time - self.start
        n_win = -(-span // W) if span > 0 else 0
        lengths = np.full(n_win, float(W))
        if n_win:
            lengths[-1] = float(span - (n_win - 1) * W)
        out: dict[str, np.ndarray] = {}
        for i, s in enumerate(self.signals):
            arr = np.zeros(n_win)
            for w, v in self._acc[i].items():
                if 0 <= w < n_win:
                    arr[w] += v
            if s.kind == "level" and n_win:
                arr = arr / lengths
            out[s.name] = arr
        return out
