"""The tap (the paper's HIT): up to 32 signals of one host block, read-only, into YPU units.

A `Tap` subscribes to signals on a machine's `SignalBus` (archsim.engine.signals) and hands
their changes, in time order and in chunks, to one or more `Unit`s (the real unit, the ideal
drop-free reference, a cost-model unit: all see the same stream). Two modes:

- `mode="change"`: every pulse is one input event, and so is every host cycle in which one or
  more levels changed (the tap latches all its inputs once per cycle: simultaneous changes,
  such as an SM's busy flags flipping at a chunk boundary, are one event carrying the final
  levels);
- `mode="cycle"`: the held levels are sampled every `sample_every` host cycles. Samples are
  computed from the change events (levels are constant between changes); while the unit's
  FIFO is full, all samples up to its next free slot are dropped in one step, so the cost is
  per accepted sample, never a loop over simulated cycles. Pulse signals need `"change"`.

A `Trigger` limits what reaches the unit: a time window [start, end) in ticks, and an address
range [lo, hi) on one address-carrying pulse signal (e.g. `llc.miss_addr`). Levels that change
outside the window are still tracked (so the window opens on the true levels) but are not
events.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from archsim.errors import UserError
from archsim.hw.ypu.unit import period_ticks

MAX_INPUTS = 32
CHUNK = 1 << 15   # events buffered before the units catch up (bounded memory)


@dataclass(frozen=True)
class Trigger:
    """When and what the tap forwards. Times are ticks (ps); the address range is [lo, hi)."""
    start: int = 0
    end: int | None = None
    addr_signal: str | None = None
    addr_lo: int = 0
    addr_hi: int = 1 << 64

    def __post_init__(self):
        if self.start < 0 or (self.end is not None and self.end <= self.start):
            raise UserError(f"trigger window must satisfy 0 <= start < end, "
                            f"got start={self.start}, end={self.end}")
        if self.addr_lo >= self.addr_hi:
            raise UserError(f"trigger address range must satisfy lo < hi, "
                            f"got [{self.addr_lo:#x}, {self.addr_hi:#x})")


def resolve_signals(bus, signals) -> list:
    """Names, globs (fnmatch, '[[]' for a literal '[') or Signal objects -> Signals, in order."""
    if isinstance(signals, str):
        signals = [signals]
    out, seen = [], set()
    for s in signals:
        if isinstance(s, str) and any(c in s for c in "*?") and s not in bus:
            found = bus.match(s)
            if not found:
                raise UserError(f"tap: no signal matches {s!r}")
        else:
            found = [bus.get(s) if isinstance(s, str) else s]
        for sig in found:
            if sig.name not in seen:
                seen.add(sig.name)
                out.append(sig)
    if not out:
        raise UserError("tap: no signals given")
    if len(out) > MAX_INPUTS:
        raise UserError(f"tap: {len(out)} signals requested; a YPU tap has {MAX_INPUTS} inputs")
    return out


class Tap:
    """Subscribes to signals; feeds their changes to units in time order."""

    def __init__(self, bus, signals, *, host_hz: float, mode: str = "change",
                 sample_every: int = 1, trigger: Trigger | None = None):
        if mode not in ("change", "cycle"):
            raise UserError(f"tap mode must be 'change' or 'cycle', got {mode!r}")
        if isinstance(sample_every, bool) or not isinstance(sample_every, int) or sample_every < 1:
            raise UserError(f"tap sample_every must be a positive integer, got {sample_every!r}")
        self.bus = bus
        self.signals = resolve_signals(bus, signals)
        self.host_hz = float(host_hz)
        self.hp = period_ticks(host_hz)
        self.mode = mode
        self.sample_every = sample_every
        self.trigger = trigger or Trigger()
        if mode == "cycle":
            pulses = [s.name for s in self.signals if s.kind == "pulse"]
            if pulses:
                raise UserError(f"tap mode 'cycle' samples levels; pulse signals {pulses} "
                                f"need mode 'change'")
        self.pos = {s.index: i for i, s in enumerate(self.signals)}
        self.pulse = [s.kind == "pulse" for s in self.signals]
        self.pulse_arr = np.array(self.pulse, dtype=bool)
        self.addr_pos = None
        if self.trigger.addr_signal is not None:
            names = [s.name for s in self.signals]
            if self.trigger.addr_signal not in names:
                raise UserError(f"trigger addr_signal {self.trigger.addr_signal!r} is not one "
                                f"of the tapped signals {names}")
            self.addr_pos = names.index(self.trigger.addr_signal)
            if not self.pulse[self.addr_pos]:
                raise UserError(f"trigger addr_signal {self.trigger.addr_signal!r} must be a "
                                f"pulse signal carrying an address")
        # the valid mask of the held levels (pulse inputs are valid only in their own event)
        self.level_mask = sum(1 << i for i, s in enumerate(self.signals) if s.kind == "level")
        self.initial = [0 if s.kind == "pulse" else min(int(s.value), 0xFFFFFFFF)
                        for s in self.signals]
        self.units: dict = {}
        self._t: list[int] = []
        self._p: list[int] = []
        self._v: list[int] = []
        self._last = -1
        self.events = 0
        self._sub = bus.subscribe(self.signals, self._on)
        self.result = None

    def add_unit(self, name: str, make_unit) -> None:
        """`make_unit(n_inputs, host_hz, start_tick, initial, valid_mask)` -> Unit."""
        if self.events:
            raise UserError("add every unit before the simulation starts")
        self.units[name] = make_unit(len(self.signals), self.host_hz, self.trigger.start,
                                     list(self.initial), self.level_mask)

    def _on(self, time: int, sig, value: int) -> None:
        self._t.append(time)
        self._p.append(self.pos[sig.index])
        self._v.append(value)
        if len(self._t) >= CHUNK:
            self.flush()

    def flush(self, final: bool = False) -> None:
        """Hand the buffered changes to every unit, in time order (trigger applied here).

        Components may publish a change ahead of time (an SM sets its busy flag to 0 at the
        end of a chunk it has just scheduled), so changes can reach the tap out of order. The
        tap sorts its buffer (stably) and, unless this is the final flush, hands over only the
        older half; a change that later arrives older than what was handed over is an error
        naming the signal (a bounded reorder window keeps memory bounded).
        """
        if not self._t:
            return
        t = np.asarray(self._t, dtype=np.int64)
        p = np.asarray(self._p, dtype=np.int32)
        v = np.asarray(self._v, dtype=np.uint64)
        if t.min() < self._last:
            k = int(np.argmax(t < self._last))
            raise UserError(f"tap: signal {self.signals[int(p[k])].name!r} changed at tick "
                            f"{int(t[k])}, older than changes already handed to the unit "
                            f"(tick {self._last}); the tap reorders at most {CHUNK} changes")
        order = np.argsort(t, kind="stable")
        t, p, v = t[order], p[order], v[order]
        if final:
            cut = len(t)
        else:
            mid = int(t[len(t) // 2])
            cut = int(np.searchsorted(t, mid, side="left"))   # everything strictly older
            if cut == 0:
                return
        self._t, self._p, self._v = t[cut:].tolist(), p[cut:].tolist(), v[cut:].tolist()
        t, p, v = t[:cut], p[:cut], v[:cut]
        self._last = int(t[-1])
        self.events += len(t)
        tr = self.trigger
        inside = t >= tr.start
        if tr.end is not None:
            inside &= t < tr.end
        is_pulse = self.pulse_arr[p]
        keep = inside | ~is_pulse            # pulses outside the window vanish
        if self.addr_pos is not None:
            ok = v >= np.uint64(tr.addr_lo)
            if tr.addr_hi < (1 << 64):
                ok &= v < np.uint64(tr.addr_hi)
            keep &= (p != self.addr_pos) | ok
        # pulses (addresses) keep their low 32 bits; wider levels saturate at 2**32 - 1
        v = np.where(is_pulse, v & np.uint64(0xFFFFFFFF), np.minimum(v, np.uint64(0xFFFFFFFF)))
        t, p, v, inside = t[keep], p[keep], v[keep].astype(np.uint32), inside[keep]
        cycle = self.mode == "cycle"
        if not cycle and len(t) > 1:
            # the tap latches all its inputs once per host cycle: level changes in the same
            # host cycle are one input event (the last one, carrying the final levels); the
            # others only update the held levels. Pulses stay one event each.
            hc = (t - tr.start) // self.hp
            lvl = ~self.pulse_arr[p]
            same = np.zeros(len(t), dtype=bool)
            same[:-1] = (hc[:-1] == hc[1:]) & lvl[:-1] & lvl[1:]
            inside = inside & ~same
        for u in self.units.values():
            u.feed(t, p, v, inside, cycle, self.sample_every)

    def finish(self, end_time: int) -> dict:
        """Stop listening; finish every unit at min(end_time, trigger end); their results."""
        if self.result is not None:
            return self.result
        self.bus.unsubscribe(self._sub)
        self.flush(final=True)
        end = int(end_time)
        if self.trigger.end is not None:
            end = min(end, self.trigger.end)
        end = max(end, self.trigger.start)
        out = {}
        for name, u in self.units.items():
            if self.mode == "cycle":
                u.samples_until(end, self.sample_every)
            out[name] = u.finish(end)
        self.result = out
        return out
