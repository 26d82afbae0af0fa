"""A YPU monitor: one tap feeding the real unit and, on the same stream, its references.

`Monitor(bus, signals, program, host_hz=...)` builds a `Tap` and up to three units:
- "ypu":   the program on the RV32I interpreter, with the configured FIFO and drops;
- "ideal": the same program on an infinitely fast, drop-free unit (the error reference);
- "cost":  the cost model (cycles per event from a measured profile, no program), if given.

`attach(...)` returns a callable `fn(bus, clock_hz)` for `archsim.simulate.simulate(...,
monitors=[...])`: the monitor attaches after the machine is built, before it runs, and never
touches model code.
"""
from __future__ import annotations

from dataclasses import dataclass, replace

from archsim.errors import UserError
from archsim.hw.ypu.asm import Image
from archsim.hw.ypu.tap import Tap, Trigger
from archsim.hw.ypu.unit import UnitConfig, UnitResult, build_unit


def _image(program) -> Image:
    if isinstance(program, Image):
        return program
    if isinstance(program, str):
        from archsim.hw.ypu.programs import load
        return load(program)
    raise UserError(f"a YPU program is an Image or a shipped program name, got {program!r}")


@dataclass(frozen=True)
class MonitorResult:
    ypu: UnitResult
    ideal: UnitResult | None
    cost: UnitResult | None
    signals: tuple
    events: int          # signal events the tap received (before the trigger)


class Monitor:
    def __init__(self, bus, signals, program, *, host_hz: float, unit: UnitConfig = UnitConfig(),
                 mode: str = "change", sample_every: int = 1, trigger: Trigger | None = None,
                 ideal: bool = True, cost_profile: dict | None = None, log_accepted: bool = False):
        self.image = _image(program)
        self.cfg = unit
        self.tap = Tap(bus, signals, host_hz=host_hz, mode=mode, sample_every=sample_every,
                       trigger=trigger)
        image = self.image

        def maker(cfg, profile=None):
            def make(n, hz, start, initial, mask):
                return build_unit(image, n_inputs=n, host_hz=hz, cfg=cfg, start_tick=start,
                                  initial=initial, valid_mask=mask, log_accepted=log_accepted,
                                  cost_profile=profile)
            return make

        self.tap.add_unit("ypu", maker(unit))
        if ideal:
            self.tap.add_unit("ideal", maker(replace(unit, ideal=True)))
        if cost_profile is not None:
            self.tap.add_unit("cost", maker(unit, cost_profile))
        self.result: MonitorResult | None = None

    def finish(self, end_time: int) -> MonitorResult:
        if self.result is None:
            r = self.tap.finish(end_time)
            self.result = MonitorResult(r["ypu"], r.get("ideal"), r.get("cost"),
                                        tuple(s.name for s in self.tap.signals), self.tap.events)
        return self.result


def attach(signals, program, *, into: list, **kwargs):
    """A `monitors=` entry for simulate(): builds a Monitor on the machine's bus, appends it
    to `into` (so the caller can `finish` it with the run's end time)."""
    def fn(bus, clock_hz):
        into.append(Monitor(bus, signals, program, host_hz=clock_hz, **kwargs))
    return fn
