"""The YPU unit: input FIFO, drop-on-busy, timer, and the core that runs one handler per event.

The unit is read-only: it never stalls or injects into the host, so its timeline depends only
on the stream of inputs. That lets it run *beside* the host simulation in chunks (the tap
hands it each batch of input changes, in time order) with exactly the result a lock-step
co-simulation would give, and with memory bounded by the FIFO, not by the trace.

Timing (all integer ticks, 1 tick = 1 ps):
- an input arrives at the first unit clock edge at or after the host time it changed;
- a job (an accepted input, or a timer) starts at max(arrival, time the core is free) and
  takes the handler's cycle count (from the interpreter, or from a cost model) × unit period;
- at an arrival, every job that could start at or before it starts first (a FIFO slot frees
  when its job starts); then the input enters the FIFO if it has room, else it is dropped and
  counted. With `fifo_depth=0` an input is taken only if the core is idle (the paper's
  drop-while-busy);
- timers fire every `interval_cycles` host cycles from the start (they close an output
  window); they wait in one dedicated register, never in the FIFO, and are never dropped;
  at a tie a timer goes before an input. `finish(end)` runs one last job of kind FINAL at end.
- `ideal=True` is the infinitely fast, drop-free reference monitor: same program, every input
  accepted, every handler taking zero time.
"""
from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

from archsim.errors import UserError

KIND_EVENT, KIND_TIMER, KIND_FINAL = 0, 1, 2
NO_SIG = 0xFFFFFFFF
TICKS_PER_SECOND = 10**12


def period_ticks(freq_hz: float) -> int:
    """Clock period in ticks, rounded like archsim.engine's clocks and WindowMonitor."""
    if not freq_hz or freq_hz <= 0:
        raise UserError(f"clock frequency must be positive, got {freq_hz!r}")
    return max(1, round(TICKS_PER_SECOND / float(freq_hz)))


@dataclass(frozen=True)
class UnitConfig:
    """The unit's parameters (spec, immutable)."""
    clock_hz: float = 2.0e9          # IPU-lite runs at 2 GHz (arXiv 2312.13428)
    fifo_depth: int = 4              # input FIFO entries; 0 = take an input only when idle
    interval_cycles: int | None = None   # host cycles between timer events (output records)
    max_cycles_per_event: int = 100_000  # a handler that runs longer is a runaway program
    ideal: bool = False              # infinitely fast, drop-free reference
    backend: str = "auto"            # "cython", "python" or "auto"

    def __post_init__(self):
        if isinstance(self.fifo_depth, bool) or not isinstance(self.fifo_depth, int) \
                or not 0 <= self.fifo_depth <= 4096:
            raise UserError(f"ypu fifo_depth must be an integer 0..4096, got {self.fifo_depth!r}")
        if self.interval_cycles is not None and (not isinstance(self.interval_cycles, int)
                                                 or self.interval_cycles < 1):
            raise UserError(f"ypu interval_cycles must be a positive integer, "
                            f"got {self.interval_cycles!r}")
        if self.backend not in ("auto", "cython", "python"):
            raise UserError(f"ypu backend must be 'auto', 'cython' or 'python', "
                            f"got {self.backend!r}")
        period_ticks(self.clock_hz)


def make_core(text: bytes, data: bytes, backend: str = "auto"):
    """The Cython core when compiled (or asked for), else the pure-Python reference."""
    if backend in ("auto", "cython"):
        try:
            from archsim.hw.ypu._core import Rv32Core
            return Rv32Core(text, data)
        except ImportError:
            if backend == "cython":
                raise UserError("the Cython YPU core is not compiled "
                                "(run: python3 setup.py build_ext --inplace)") from None
    from archsim.hw.ypu.pycore import PyRv32Core
    return PyRv32Core(text, data)


class InterpExecutor:
    """Runs each handler on the RV32I core: real cycles, real outputs."""

    def __init__(self, image, backend: str = "auto", max_cycles: int = 100_000):
        self.core = make_core(image.text, image.data, backend)
        self.max_cycles = max_cycles
        self.core.run(max_cycles)  # the program's initialisation, up to its first ecall

    def execute(self, inputs, valid, time, kind, sig, drops, seq) -> int:
        return self.core.job(inputs, valid, time, kind, sig, drops, seq, self.max_cycles)

    def take_out(self) -> list[int]:
        return self.core.take_out()


class CostExecutor:
    """The cost model: cycles per job from a measured profile; no program runs, no outputs.

    The profile maps (kind, signal position) to mean cycles; a key never profiled uses the
    mean over all jobs. Each key spreads its fractional mean exactly: the k-th job of a key
    takes floor((k+1)·m) − floor(k·m) cycles, so n jobs take floor(n·m) in total.
    """

    def __init__(self, profile: dict):
        if not profile:
            raise UserError("the cost model needs a non-empty profile (run the interpreter first)")
        self.mean = {k: c / n for k, (n, c) in profile.items() if n}
        tot_n = sum(n for n, _ in profile.values())
        self.default = sum(c for _, c in profile.values()) / max(tot_n, 1)
        self.count: dict = {}

    def execute(self, inputs, valid, time, kind, sig, drops, seq) -> int:
        key = (kind, sig if kind == KIND_EVENT else NO_SIG)
        m = self.mean.get(key, self.default)
        k = self.count.get(key, 0)
        self.count[key] = k + 1
        return int((k + 1) * m) - int(k * m)

    def take_out(self) -> list[int]:
        return []


@dataclass(frozen=True)
class UnitResult:
    """What the unit saw, dropped, computed and cost."""
    arrivals: int             # inputs offered to the unit (after the trigger)
    accepted: int
    dropped: int
    timers: int               # timer and final jobs run
    busy_cycles: int          # unit cycles spent in handlers
    duration_ticks: int       # monitored span (trigger start .. end)
    overrun_ticks: int        # how long after `end` the unit was still working
    records: list             # [(host cycle at which the job ran, [output words])]
    profile: dict             # (kind, sig) -> (jobs, cycles)
    unit_hz: float
    accepted_log: list = field(default_factory=list)  # [(host cycle, sig)] when logging

    @property
    def drop_rate(self) -> float:
        return self.dropped / self.arrivals if self.arrivals else 0.0

    @property
    def output_words(self) -> list[int]:
        return [w for _, ws in self.records for w in ws]

    @property
    def output_bytes(self) -> int:
        return 4 * sum(len(ws) for _, ws in self.records)

    @property
    def output_bandwidth(self) -> float:
        """Bytes per second of output records over the monitored span."""
        return self.output_bytes * TICKS_PER_SECOND / self.duration_ticks if self.duration_ticks else 0.0

    @property
    def utilisation(self) -> float:
        span_cycles = self.duration_ticks * self.unit_hz / TICKS_PER_SECOND
        return self.busy_cycles / span_cycles if span_cycles else 0.0

    @property
    def cycles_per_job(self) -> float:
        n = sum(n for n, _ in self.profile.values())
        return self.busy_cycles / n if n else 0.0

    def summary(self) -> dict:
        return {"arrivals": self.arrivals, "accepted": self.accepted, "dropped": self.dropped,
                "drop_rate": self.drop_rate, "timers": self.timers,
                "busy_cycles": self.busy_cycles, "cycles_per_job": self.cycles_per_job,
                "utilisation": self.utilisation, "output_bytes": self.output_bytes,
                "output_bandwidth_Bps": self.output_bandwidth,
                "overrun_ticks": self.overrun_ticks}


class Unit:
    """One YPU: takes input changes / samples in time order, runs handlers, counts drops.

    `n_inputs` input registers (≤ 32) start at `initial` levels. Host times are ticks; the
    TIME register holds host cycles since `start_tick`.
    """

    def __init__(self, executor, *, n_inputs: int, host_hz: float, cfg: UnitConfig,
                 start_tick: int = 0, initial=None, valid_mask: int | None = None,
                 log_accepted: bool = False):
        if not 1 <= n_inputs <= 32:
            raise UserError(f"a YPU tap takes 1..32 inputs, got {n_inputs}")
        self.ex = executor
        self.cfg = cfg
        self.n = n_inputs
        self.hp = period_ticks(host_hz)
        self.up = period_ticks(cfg.clock_hz)
        self.start = int(start_tick)
        self.levels = list(initial) if initial is not None else [0] * n_inputs
        if len(self.levels) != n_inputs:
            raise UserError(f"initial levels: expected {n_inputs} values, got {len(self.levels)}")
        self.level_mask = (1 << n_inputs) - 1 if valid_mask is None else valid_mask
        self.fifo: deque = deque()
        self.free = self.start
        self.next_timer = (self.start + cfg.interval_cycles * self.hp
                           if cfg.interval_cycles else None)
        self.timer_k = 1
        self.timer_limit = None   # at finish: no timer at or after the end
        self.arrivals = self.accepted = self.dropped = self.timers = 0
        self.busy = 0
        self.records: list = []
        self.profile: dict = {}
        self.log = [] if log_accepted else None
        self.finished: UnitResult | None = None

    # ---- time helpers -----------------------------------------------------------------------
    def _edge(self, t: int) -> int:
        """The first unit clock edge at or after t."""
        return -(-t // self.up) * self.up

    def _hcycle(self, t: int) -> int:
        return (t - self.start) // self.hp

    # ---- jobs -------------------------------------------------------------------------------
    def _run(self, start: int, inputs, valid: int, hcycle: int, kind: int, sig: int) -> None:
        cyc = self.ex.execute(inputs, valid, hcycle, kind, sig, self.dropped, self.accepted)
        key = (kind, sig)
        n, c = self.profile.get(key, (0, 0))
        self.profile[key] = (n + 1, c + cyc)
        self.busy += cyc
        if not self.cfg.ideal:
            self.free = start + cyc * self.up
        out = self.ex.take_out()
        if out:
            self.records.append((hcycle, out))

    def _run_timer(self, start: int, kind: int = KIND_TIMER, hcycle: int | None = None) -> None:
        if hcycle is None:
            hcycle = self.timer_k * self.cfg.interval_cycles
            self.timer_k += 1
            self.next_timer = self.start + self.timer_k * self.cfg.interval_cycles * self.hp
        self.timers += 1
        self._run(start, tuple(self.levels), self.level_mask, hcycle, kind, NO_SIG)

    def _serve(self, t: int) -> None:
        """Start every job whose start time is <= t, in order."""
        fifo = self.fifo
        while True:
            nt = self.next_timer
            if nt is not None and self.timer_limit is not None and nt >= self.timer_limit:
                nt = None
            if fifo:
                a = fifo[0][0]
                if nt is not None and self._edge(nt) <= a:
                    a, is_timer = self._edge(nt), True
                else:
                    is_timer = False
            elif nt is not None:
                a, is_timer = self._edge(nt), True
            else:
                return
            s = a if a > self.free else self.free
            if s > t:
                return
            if is_timer:
                self._run_timer(s)
            else:
                _, inputs, valid, hc, sig = fifo.popleft()
                self._run(s, inputs, valid, hc, KIND_EVENT, sig)

    def _room(self, a: int) -> bool:
        if self.cfg.ideal:
            return True
        if self.cfg.fifo_depth == 0:
            return not self.fifo and self.free <= a
        return len(self.fifo) < self.cfg.fifo_depth

    def offer(self, t: int, sig: int, valid: int) -> bool:
        """An input event at host tick t (levels already updated); True if accepted."""
        a = self._edge(t)
        self._serve(a)
        self.arrivals += 1
        if not self._room(a):
            self.dropped += 1
            return False
        self.accepted += 1
        job = (a, tuple(self.levels), valid, self._hcycle(t), sig)
        if self.log is not None:
            self.log.append((job[3], sig))
        if self.cfg.ideal:
            self._serve(a)  # timers due before it
            self._run(a, job[1], valid, job[3], KIND_EVENT, sig)
        else:
            self.fifo.append(job)
        return True

    # ---- the two input modes ----------------------------------------------------------------
    def change(self, t: int, pos: int, value: int, pulse: bool = False) -> bool:
        """On-change mode: input `pos` changed to / pulsed `value` at host tick t."""
        self._serve(self._edge(t))   # jobs due before the change see the old levels
        self.levels[pos] = value
        valid = self.level_mask | (1 << pos)
        return self.offer(t, pos, valid)

    def samples_until(self, t: int, step_cycles: int) -> None:
        """Per-cycle mode: offer a sample every `step_cycles` host cycles at ticks < t.

        Levels are constant over the span, so while the FIFO is full every sample up to the
        next job start is dropped in one step: the cost is per accepted sample, not per cycle.
        """
        step = step_cycles * self.hp
        nxt = getattr(self, "_next_sample", self.start)
        while nxt < t:
            a = self._edge(nxt)
            self._serve(a)
            if self._room(a):
                self.arrivals += 1
                self.accepted += 1
                hc = self._hcycle(nxt)
                job = (a, tuple(self.levels), self.level_mask, hc, NO_SIG)
                if self.log is not None:
                    self.log.append((hc, NO_SIG))
                if self.cfg.ideal:
                    self._run(a, job[1], job[2], hc, KIND_EVENT, NO_SIG)
                else:
                    self.fifo.append(job)
                nxt += step
                continue
            # full: the next slot opens when the core is next free (> a, or _serve would
            # have started a job); every sample arriving (at a unit edge) before then is
            # dropped: edge(x) < free  <=>  x <= free - up (free is on a unit edge)
            until = min(self.free - self.up + 1, t)
            k = max(1, -(-(until - nxt) // step))
            self.arrivals += k
            self.dropped += k
            nxt += k * step
        self._next_sample = nxt

    def feed(self, ts, ps, vs, arrive, cycle: bool, step: int) -> None:
        """A chunk of input changes in time order: ts ticks, ps input positions, vs values,
        arrive[k] False for a level change that only updates the held level (outside the
        trigger window). In per-cycle mode changes only update levels between samples."""
        levels = self.levels
        for t, p, v, a in zip(ts, ps, vs, arrive):
            t, p, v = int(t), int(p), int(v)
            if not a:
                self._serve(self._edge(t))
                levels[p] = v
            elif cycle:
                self.samples_until(t, step)
                levels[p] = v
            else:
                self.change(t, p, v)

    def finish(self, end_tick: int) -> UnitResult:
        """Run timers up to `end_tick`, one FINAL job at `end_tick`, and drain the FIFO."""
        if self.finished is not None:
            return self.finished
        end = int(end_tick)
        if end < self.start:
            raise UserError(f"monitor end {end} is before its start {self.start}")
        # timers strictly before the end; the FINAL job closes the last (partial) window
        self.timer_limit = end
        self._serve(1 << 62)
        s = max(self._edge(end), self.free)
        self.timers += 1
        self._run(s, tuple(self.levels), self.level_mask, self._hcycle(end), KIND_FINAL, NO_SIG)
        self.finished = UnitResult(
            arrivals=self.arrivals, accepted=self.accepted, dropped=self.dropped,
            timers=self.timers, busy_cycles=self.busy, duration_ticks=end - self.start,
            overrun_ticks=max(0, self.free - end), records=self.records,
            profile=dict(self.profile), unit_hz=self.cfg.clock_hz,
            accepted_log=self.log or [])
        return self.finished


_KEYS = [(KIND_EVENT, i) for i in range(32)] + [(KIND_EVENT, NO_SIG), (KIND_TIMER, NO_SIG),
                                                 (KIND_FINAL, NO_SIG)]


class FastUnit:
    """`Unit` in C (`_core.CUnit`): same inputs, same UnitResult, bit for bit (tested)."""

    def __init__(self, image, *, n_inputs: int, host_hz: float, cfg: UnitConfig,
                 start_tick: int = 0, initial=None, valid_mask: int | None = None,
                 log_accepted: bool = False, cost_profile: dict | None = None):
        from archsim.hw.ypu._core import CUnit, Rv32Core
        if not 1 <= n_inputs <= 32:
            raise UserError(f"a YPU tap takes 1..32 inputs, got {n_inputs}")
        self.cfg = cfg
        self.start = int(start_tick)
        core, means = None, None
        if cost_profile is None:
            core = Rv32Core(image.text, image.data)
            core.run(cfg.max_cycles_per_event)
        else:
            ce = CostExecutor(cost_profile)
            means = [ce.mean.get(k, ce.default) for k in _KEYS]
        initial = list(initial) if initial is not None else [0] * n_inputs
        mask = (1 << n_inputs) - 1 if valid_mask is None else valid_mask
        self.c = CUnit(core, n_inputs=n_inputs, host_period=period_ticks(host_hz),
                       unit_period=period_ticks(cfg.clock_hz), start_tick=self.start,
                       fifo_depth=cfg.fifo_depth, ideal=int(cfg.ideal),
                       interval_cycles=cfg.interval_cycles or 0,
                       max_cycles=cfg.max_cycles_per_event, initial=initial,
                       valid_mask=mask, cost_means=means, log_accepted=log_accepted)
        self.finished: UnitResult | None = None

    def feed(self, ts, ps, vs, arrive, cycle: bool, step: int) -> None:
        import numpy as np
        self.c.feed(np.ascontiguousarray(ts, dtype=np.int64),
                    np.ascontiguousarray(ps, dtype=np.intc),
                    np.ascontiguousarray(vs, dtype=np.uint32),
                    np.ascontiguousarray(arrive, dtype=bool), bool(cycle), int(step))

    def samples_until(self, t: int, step_cycles: int) -> None:
        self.c.samples_until(int(t), int(step_cycles))

    def finish(self, end_tick: int) -> UnitResult:
        if self.finished is not None:
            return self.finished
        end = int(end_tick)
        if end < self.start:
            raise UserError(f"monitor end {end} is before its start {self.start}")
        c = self.c
        c.finish_jobs(end)
        self.finished = UnitResult(
            arrivals=c.arrivals, accepted=c.accepted, dropped=c.dropped, timers=c.timers,
            busy_cycles=c.busy, duration_ticks=end - self.start,
            overrun_ticks=max(0, c.free - end), records=c.records, profile=c.profile(),
            unit_hz=self.cfg.clock_hz, accepted_log=c.log)
        return self.finished


def build_unit(image, *, n_inputs: int, host_hz: float, cfg: UnitConfig, start_tick: int = 0,
               initial=None, valid_mask: int | None = None, log_accepted: bool = False,
               cost_profile: dict | None = None):
    """The C unit when compiled (backend "auto"/"cython"), else the Python reference."""
    kw = dict(n_inputs=n_inputs, host_hz=host_hz, cfg=cfg, start_tick=start_tick,
              initial=initial, valid_mask=valid_mask, log_accepted=log_accepted)
    if cfg.backend in ("auto", "cython"):
        try:
            import archsim.hw.ypu._core  # noqa: F401
            return FastUnit(image, cost_profile=cost_profile, **kw)
        except ImportError:
            if cfg.backend == "cython":
                raise UserError("the Cython YPU core is not compiled "
                                "(run: python3 setup.py build_ext --inplace)") from None
    ex = (CostExecutor(cost_profile) if cost_profile is not None
          else InterpExecutor(image, "python", cfg.max_cycles_per_event))
    return Unit(ex, **kw)
