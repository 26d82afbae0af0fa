"""The board power limiter: a component that sets each kernel's clock from the board's recent
average power, not from the kernel's own power alone.

A GPU board's power controller enforces its limit (TDP, `power.cap`) on power averaged over a
window and moves the clock gradually; short excursions above the cap pass (NVML's
ClocksThrottleReasonSwPowerCap is the averaged limit; the fast "HW slowdown" trigger is a
separate, much higher limit). The limiter here keeps:

- `avg`: an exponentially weighted average of board power over the simulated timeline, time
  constant `power.window` (kernels at their power, gaps between kernels at `power.idle`);
- the sustained rule: a kernel gets the highest clock with which `avg` at its end stays
  <= cap (the average moves toward the kernel's power as exp(-t / window), so it is largest at
  an end: the average never exceeds the cap anywhere);
- a repeated run (a loop of the same step, as every NVML loop and graph replay measures) is
  priced in its periodic steady state: the first repeat runs on a rested board (`avg` = idle),
  and at the start of the next repeat `avg` is set to the value the average takes at the start
  of each period of an endless loop of what ran since (`new_period`: with z the average of that
  span's power timeline started from 0, avg = z / (1 - exp(-T / window)), T the span's length),
  capped at `cap` (a loop hotter than the cap is throttled from its start);
- the Nsight Compute replay rule: a kernel replayed alone (`reset`, one kernel at a time with
  the board's average held at the cap by ncu's save/restore passes between its replays) draws at
  most `power.peak` (unset: no limit; a peak below the cap counts as the cap). It is not a limit
  in a timeline: a rested H200 ran a GEMM stream at 863 W for 62 ms before its limiter acted
  (benchmarks/data/h200-fidelity4-energy.json, "limiter").

window = 0 is the per-kernel cap (a kernel's own power <= cap), the behaviour before the
limiter. A steady loop of one kernel has avg = the kernel's power, so it runs at that same
clock whatever the window. Deterministic: plain float arithmetic over the event times.
"""
from __future__ import annotations

import math
from typing import Callable


class PowerLimiter:
    def __init__(self, cap: float, idle: float, window: float, peak: float | None = None,
                 start: float | None = None):
        self.cap = float(cap)
        self.idle = float(idle)
        self.window = float(window)
        # a peak below the cap (a what-if that raises the cap) allows no excursion: the cap
        self.peak = None if peak is None else max(float(peak), self.cap)
        self.avg = self.idle if start is None else float(start)
        self.power = self.idle      # board power now (W)
        self.t = 0.0                # time of the last update (s)
        self.replay = False         # an Nsight-style one-kernel replay (`reset`): peak applies
        self.t0 = 0.0               # start of the span `new_period` turns into a loop's start
        self.z = 0.0                # the span's power timeline averaged from 0

    def state(self) -> dict:
        return {"avg": self.avg, "power": self.power, "t": self.t, "replay": self.replay,
                "t0": self.t0, "z": self.z}

    def load(self, st: dict) -> None:
        self.avg, self.power, self.t = st["avg"], st["power"], st["t"]
        self.replay = st.get("replay", False)
        self.t0, self.z = st.get("t0", 0.0), st.get("z", 0.0)

    def _decay(self, dt: float) -> float:
        return math.exp(-dt / self.window) if self.window > 0 else 0.0

    def advance(self, now: float) -> None:
        """Move the average to `now` at the board power held since the last update."""
        if now > self.t:
            a = self._decay(now - self.t)
            self.avg = self.power + (self.avg - self.power) * a
            self.z = self.power + (self.z - self.power) * a
            self.t = now

    def new_period(self, now: float) -> None:
        """The next repeat of a looped run starts now: `avg` becomes the periodic steady state
        of an endless loop of the span since the last call (or the start), at most the cap."""
        self.advance(now)
        span = now - self.t0
        if self.window > 0 and span > 0:
            d = 1.0 - math.exp(-span / self.window)
            if d > 0:
                self.avg = min(self.cap, self.z / d)
        self.t0, self.z = now, 0.0

    def set_power(self, now: float, power: float) -> None:
        self.advance(now)
        self.power = float(power)

    def reset(self, now: float) -> None:
        """The board has sat idle long enough to forget (e.g. between Nsight Compute replays)."""
        self.advance(now)
        self.avg = self.power = self.idle
        self.t = now
        self.replay = True

    def end_average(self, power: float, t: float) -> float:
        """Average power at the end of a kernel of power `power` and time `t` started now."""
        a = self._decay(t)
        return power + (self.avg - power) * a

    def fits(self, power: float, t: float) -> bool:
        if self.replay and self.peak is not None and self.window > 0 and power > self.peak:
            return False
        return self.end_average(power, t) <= self.cap

    def clock(self, power_time: Callable[[float], tuple[float, float]], f_min: float,
              f_max: float, iters: int = 30) -> float:
        """The highest clock in [f_min, f_max] that fits (power rising with the clock);
        `power_time(f)` gives the kernel's (power W, time s) at clock f."""
        if self.fits(*power_time(f_max)):
            return f_max
        lo, hi = f_min, f_max
        for _ in range(iters):
            mid = 0.5 * (lo + hi)
            if self.fits(*power_time(mid)):
                lo = mid
            else:
                hi = mid
        return lo


def limiter_for(cfg, *, start: str = "idle") -> PowerLimiter:
    """The limiter of GPU config `cfg`; start "idle" (a run on a rested board) or "cap" (the
    board has been running the same loop at its limit: a repeated measurement's warm-up)."""
    p = cfg.power
    if start not in ("idle", "cap"):
        raise ValueError(f"limiter start must be 'idle' or 'cap', not {start!r}")
    return PowerLimiter(p.cap, p.idle, p.window, p.peak,
                        start=p.cap if start == "cap" else p.idle)


__all__ = ["PowerLimiter", "limiter_for"]
