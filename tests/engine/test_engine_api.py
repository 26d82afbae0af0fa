"""Unit tests of the engine contract, run on every backend (cython, python, simpy)."""
from __future__ import annotations

import warnings
from fractions import Fraction

import numpy as np
import pytest

import archsim.engine as engine
from archsim.engine import (
    TICKS_PER_SECOND, ChannelEmptyError, ChannelFullError, Clock, Counters, SimulationError)


# ---------------------------------------------------------------- clocks
def test_clock_period_is_exact_for_integer_periods():
    assert Clock(1e9).period == 1000
    assert Clock(10**9).period == 1000
    assert Clock(2.5e9).period == 400
    assert Clock(TICKS_PER_SECOND).period == 1


def test_clock_period_rounds_to_nearest_tick():
    assert Clock(1.98e9).period == 505      # 505.05 ps
    assert Clock(3e9).period == 333         # 333.33 ps
    assert Clock(1.5e12 / 1.001).period == 1  # 0.667 ps rounds up to 1
    assert abs(Clock(1.98e9).effective_hz - 1.98e9) / 1.98e9 < 1e-3


def test_clock_rejects_bad_frequencies():
    for bad in (0, -1e9, 3e12):
        with pytest.raises(SimulationError):
            Clock(bad)


def test_clock_conversions_and_edges():
    clk = Clock.from_period(400)
    assert clk.cycles_to_ticks(7) == 2800
    assert clk.ticks_to_cycles(2799) == 6
    assert clk.ticks_to_cycles(2800) == 7
    assert clk.next_edge(0) == 400          # strictly after
    assert clk.next_edge(399) == 400
    assert clk.next_edge(400) == 800
    assert clk.edge_at_or_after(400) == 400
    assert clk.edge_at_or_after(401) == 800
    assert Clock.from_period(505).period == 505
    assert Fraction(TICKS_PER_SECOND, 505) == Clock.from_period(505).freq_hz


# -------------------------------------------------------------- counters
def test_counters_mapping():
    c = Counters()
    c.add("l2.hits", 3)
    c.add("dram.reads")
    c.add("l2.hits", 2)
    assert c["l2.hits"] == 5 and c["dram.reads"] == 1
    assert c.as_dict() == {"dram.reads": 1, "l2.hits": 5}
    assert list(c.as_dict()) == ["dram.reads", "l2.hits"]
    assert list(c) == ["dram.reads", "l2.hits"] and len(c) == 2 and "l2.hits" in c
    assert c.get("nope", 0) == 0
    with pytest.raises(KeyError):
        c["nope"]


def test_simulator_has_counters_and_seeded_rng(eng):
    a, b = eng.Simulator(seed=7), eng.Simulator(seed=7)
    a.counters.add("x", 2)
    assert a.counters["x"] == 2
    assert isinstance(a.rng, np.random.Generator)
    assert a.rng.integers(0, 1 << 30, 5).tolist() == b.rng.integers(0, 1 << 30, 5).tolist()


# --------------------------------------------------------------- backend
def test_backend_selection():
    assert engine.BACKEND in ("cython", "python")
    if engine.BACKEND == "cython":
        from archsim.engine import _core
        assert engine.Simulator is _core.Simulator


def test_fallback_warns_once_when_core_missing(monkeypatch):
    import importlib
    import sys

    import archsim
    monkeypatch.setitem(sys.modules, "archsim.engine._core", None)  # its import now fails
    monkeypatch.delitem(sys.modules, "archsim.engine")             # restored after the test
    monkeypatch.setattr(archsim, "engine", archsim.engine)         # the package attribute too
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        fallback = importlib.import_module("archsim.engine")
        importlib.import_module("archsim.engine")                   # cached: no second warning
    assert fallback.BACKEND == "python" and fallback.Handler is None
    assert fallback.Simulator.__module__ == "archsim.engine.pyengine"
    assert sum("pure-Python engine" in str(w.message) for w in caught) == 1


# ------------------------------------------------------------ scheduling
def test_order_is_time_then_priority_then_insertion(eng):
    sim = eng.Simulator()
    out = []
    sim.schedule(10, out.append, "t10-p0-first")
    sim.schedule(10, out.append, "t10-p1", priority=1)
    sim.schedule(10, out.append, "t10-p0-second")
    sim.schedule(10, out.append, "t10-pm1", priority=-1)
    sim.schedule_at(5, out.append, "t5")
    sim.schedule(0, out.append, "t0")
    assert sim.pending == 6
    assert sim.run() == 6
    assert out == ["t0", "t5", "t10-pm1", "t10-p0-first", "t10-p0-second", "t10-p1"]
    assert sim.now == 10 and sim.pending == 0 and sim.events_processed == 6


def test_zero_delay_from_an_event_runs_at_the_same_time_after_peers(eng):
    sim = eng.Simulator()
    out = []

    def first():
        out.append(("first", sim.now))
        sim.schedule(0, out.append, ("child", sim.now))

    sim.schedule(3, first)
    sim.schedule(3, out.append, ("peer", 3))
    sim.run()
    assert out == [("first", 3), ("peer", 3), ("child", 3)]


def test_scheduling_errors(eng):
    sim = eng.Simulator()
    sim.schedule(10, lambda: None)
    sim.run()
    with pytest.raises(SimulationError):
        sim.schedule(-1, lambda: None)
    with pytest.raises(SimulationError):
        sim.schedule_at(9, lambda: None)
    with pytest.raises(SimulationError):
        sim.schedule(1, "not callable")
    with pytest.raises(SimulationError):
        sim.run(until=5)
    with pytest.raises(SimulationError):
        sim.run(max_events=-1)
    with pytest.raises(SimulationError):
        sim.add_hook("during_event", print)


def test_run_until_is_inclusive_and_advances_time(eng):
    sim = eng.Simulator()
    out = []
    for t in (5, 10, 15):
        sim.schedule_at(t, out.append, t)
    assert sim.run(until=10) == 2 and out == [5, 10] and sim.now == 10
    assert sim.run(until=12) == 0 and sim.now == 12     # time advances with nothing to do
    assert sim.run(until=12) == 0 and sim.now == 12     # until == now is allowed
    assert sim.run() == 1 and sim.now == 15
    assert sim.run(until=100) == 0 and sim.now == 100   # empty heap: still advances


def test_max_events_and_stop_leave_time_at_last_event(eng):
    sim = eng.Simulator()
    for t in (1, 2, 3, 4):
        sim.schedule_at(t, lambda: None)
    assert sim.run(until=50, max_events=2) == 2 and sim.now == 2
    assert sim.run(max_events=0) == 0 and sim.now == 2
    sim.schedule_at(3, sim.stop)       # runs after the (3) scheduled earlier
    assert sim.run(until=50) == 2 and sim.now == 3
    assert sim.pending == 1 and sim.events_processed == 4
    assert sim.run(until=50) == 1 and sim.now == 50


def test_exception_in_event_propagates_and_engine_stays_usable(eng):
    sim = eng.Simulator()

    def boom():
        raise KeyError("boom")

    sim.schedule(1, boom)
    sim.schedule(2, lambda: None)
    with pytest.raises(KeyError):
        sim.run()
    assert sim.now == 1 and sim.pending == 1
    assert sim.run() == 1 and sim.now == 2


# ------------------------------------------------------------------ hooks
def test_event_hooks_see_time_and_description(eng):
    sim = eng.Simulator()
    seen = []

    def cb(x):
        seen.append(("cb", x))

    def before(t, desc):
        seen.append(("before", t, desc))

    sim.add_hook("before_event", before)
    sim.add_hook("after_event", lambda t, desc: seen.append(("after", t, desc)))
    sim.schedule(4, cb, 1)
    sim.run()
    assert seen == [("before", 4, cb), ("cb", 1), ("after", 4, cb)]
    sim.remove_hook("before_event", before)
    seen.clear()
    sim.schedule(1, cb, 2)
    sim.run()
    assert seen == [("cb", 2), ("after", 5, cb)]


def test_channel_hooks_see_put_and_get(eng):
    sim = eng.Simulator()
    ch = eng.Channel(sim, "q", capacity=2, latency=0)
    seen = []
    ch.add_hook(lambda t, what, item: seen.append((t, what, item)))
    sim.schedule(3, ch.put, "x")
    sim.schedule(7, ch.get)
    sim.run()
    assert seen == [(3, "put", "x"), (7, "get", "x")]


# ---------------------------------------------------------------- channels
def test_channel_capacity_latency_and_fifo(eng):
    sim = eng.Simulator()
    ch = eng.Channel(sim, "q", capacity=2, latency=100)
    assert ch.can_put() and not ch.can_get() and len(ch) == 0
    ch.put("a")
    assert ch.try_put("b") and not ch.try_put("c") and not ch.can_put()
    with pytest.raises(ChannelFullError):
        ch.put("c")
    assert ch.occupancy == 2 and not ch.can_get()     # in flight counts against capacity
    with pytest.raises(ChannelEmptyError):
        ch.get()
    with pytest.raises(ChannelEmptyError):
        ch.peek()
    sim.run(until=99)
    assert not ch.can_get()
    sim.run(until=100)
    assert ch.can_get() and ch.peek() == "a" and len(ch) == 2
    assert ch.get() == "a" and ch.get() == "b" and len(ch) == 0
    assert ch.puts == 2 and ch.gets == 2


def test_channel_rejects_bad_parameters(eng):
    sim = eng.Simulator()
    with pytest.raises(SimulationError):
        eng.Channel(sim, "q", capacity=0, latency=1)
    with pytest.raises(SimulationError):
        eng.Channel(sim, "q", capacity=1, latency=-1)


# -------------------------------------------------------------- components
def _recorder(eng):
    class Recorder(eng.Component):
        """Ticks ``budget`` times in a row, then sleeps."""

        def __init__(self, sim, name, clock, budget):
            super().__init__(sim, name, clock)
            self.budget = budget
            self.times = []

        def tick(self):
            self.times.append(self.sim.now)
            self.budget -= 1
            return self.budget > 0

    return Recorder


def test_component_sleeps_until_woken_and_ticks_on_edges(eng):
    sim = eng.Simulator()
    comp = _recorder(eng)(sim, "r", Clock.from_period(1000), budget=3)
    assert comp.sleeping
    sim.run(until=5000)
    assert comp.times == []                      # asleep: never ticked
    comp.wake()                                  # now = 5000 is an edge: tick there
    comp.wake()                                  # no-op: already scheduled
    assert not comp.sleeping and sim.pending == 1
    sim.run()
    assert comp.times == [5000, 6000, 7000] and comp.sleeping and comp.ticks == 3
    sim.schedule_at(7500, comp.wake)             # between edges: next edge
    comp.budget = 1
    sim.run()
    assert comp.times[-1] == 8000


def test_wake_at_an_edge_already_ticked_goes_to_the_next_edge(eng):
    sim = eng.Simulator()
    comp = _recorder(eng)(sim, "r", Clock.from_period(1000), budget=1)
    comp.wake()
    sim.run()
    assert comp.times == [0] and sim.now == 0
    comp.budget = 1
    comp.wake()                                  # still at t=0, which it ticked at
    sim.run()
    assert comp.times == [0, 1000]


def test_wake_during_own_tick_does_not_duplicate(eng):
    class SelfWaker(eng.Component):
        def __init__(self, *args):
            super().__init__(*args)
            self.times = []

        def tick(self):
            self.times.append(self.sim.now)
            if len(self.times) in (1, 3):
                self.wake()          # while progressing (1) and while about to sleep (3)
            return len(self.times) < 3

    sim = eng.Simulator()
    comp = SelfWaker(sim, "s", Clock.from_period(10))
    comp.wake()
    sim.run(until=1000)
    assert comp.times == [0, 10, 20, 30]         # one tick per edge; the wake at 20 adds 30
    assert comp.sleeping


def test_channel_wakes_consumer_on_arrival_and_producer_on_space(eng):
    sim = eng.Simulator()
    clk = Clock.from_period(100)

    class Producer(eng.Component):
        def __init__(self, sim, name, clock, out, n):
            super().__init__(sim, name, clock)
            self.out, self.n, self.log = out, n, []

        def tick(self):
            if not self.n:
                return False
            if self.out.try_put(self.n):
                self.log.append((self.sim.now, "put", self.n))
                self.n -= 1
                return self.n > 0
            self.log.append((self.sim.now, "blocked"))
            return False

    class Consumer(eng.Component):
        def __init__(self, sim, name, clock, inp):
            super().__init__(sim, name, clock)
            self.inp, self.log = inp, []

        def tick(self):
            if self.inp.can_get() and self.sim.now >= 1000:   # refuses before t=1000
                self.log.append((self.sim.now, self.inp.get()))
                return True
            return self.sim.now < 1000 and self.inp.occupancy > 0

    ch = eng.Channel(sim, "q", capacity=2, latency=250)
    prod = Producer(sim, "p", clk, ch, 3)
    cons = Consumer(sim, "c", clk, ch)
    ch.producer, ch.consumer = prod, cons
    prod.wake()
    sim.run()
    # two puts fill the channel; the third blocks until the consumer frees space at 1000,
    # and the producer (woken then, not yet ticked at 1000) puts in that same cycle
    assert prod.log == [(0, "put", 3), (100, "put", 2), (200, "blocked"), (1000, "put", 1)]
    # the item put at 1000 lands at 1250: the consumer, asleep since 1200, ticks at 1300
    assert cons.log == [(1000, 3), (1100, 2), (1300, 1)]
    assert ch.occupancy == 0


def test_c_path_phold_is_deterministic_and_conserves_events(core):
    from archsim.engine._phold import CPhold
    Simulator = core.Simulator

    runs = []
    for _ in range(2):
        sim = Simulator(1)
        model = CPhold(sim, 64, 100.0, 42, 2)
        assert sim.pending == 128
        assert sim.run(max_events=20_000) == 20_000
        assert sim.pending == 128 and int(model.received.sum()) == 20_000
        runs.append((sim.now, model.received.tolist()))
    assert runs[0] == runs[1]


def test_times_must_be_integer_ticks(eng):
    sim = eng.Simulator()
    sim.schedule(np.int64(3), lambda: None)          # numpy integers are fine
    for bad in (2.5, 3.0, "3"):
        with pytest.raises(SimulationError):
            sim.schedule(bad, lambda: None)
        with pytest.raises(SimulationError):
            sim.schedule_at(bad, lambda: None)
    with pytest.raises(SimulationError):
        sim.run(until=10.0)
    assert sim.run(until=np.int64(10)) == 1 and sim.now == 10


def test_pending_counts_ticks_and_arrivals(eng):
    sim = eng.Simulator()
    comp = _recorder(eng)(sim, "r", Clock.from_period(10), budget=1)
    ch = eng.Channel(sim, "q", capacity=1, latency=5)
    ch.consumer = comp
    ch.put("x")                                      # arrival event at t=5
    assert sim.pending == 1
    comp.wake()                                      # tick at t=0
    assert sim.pending == 2


def test_dropped_simulation_with_pending_events_is_collected(eng):
    import gc
    import weakref

    class Forever(eng.Component):
        def tick(self):
            return True

    def build():
        sim = eng.Simulator()
        comp = Forever(sim, "f", Clock.from_period(10))
        comp.wake()
        sim.schedule(10**9, comp.wake)              # a Python event referencing it too
        sim.run(until=100)
        assert sim.pending == 2
        return weakref.ref(comp)

    ref = build()
    gc.collect()
    assert ref() is None


def test_handler_base_and_c_path_share_the_order(core):
    sim = core.Simulator()
    sim.schedule_handler(1, core.Handler(), 7, 8)
    with pytest.raises(NotImplementedError):
        sim.run()                                    # the base handle() must be overridden
    with pytest.raises(SimulationError):
        sim.schedule_handler(-1, core.Handler())
    # A tick (C-path event) and Python events at the same time and priority run in
    # insertion order: one total order over both kinds of event.
    trace = []
    comp = _recorder(core)(sim, "r", Clock.from_period(10), budget=1)
    sim.schedule_at(10, trace.append, "first")
    sim.schedule_at(5, comp.wake)                    # inserts the tick at t=5
    sim.schedule_at(7, lambda: sim.schedule_at(10, trace.append, "last"))
    sim.schedule_at(10, trace.append, "urgent", priority=-1)
    sim.add_hook("before_event", lambda t, d: trace.append(getattr(d, "name", None)))
    sim.run()
    assert [x for x in trace if x is not None] == ["urgent", "first", "r", "last"]
    assert comp.times == [10]


def test_run_inside_an_event_is_refused(eng):
    sim = eng.Simulator()
    errors = []

    def nested():
        try:
            sim.run()
        except SimulationError as exc:
            errors.append(exc)

    sim.schedule(1, nested)
    sim.schedule(2, lambda: None)
    assert sim.run() == 2 and len(errors) == 1


def test_forgotten_base_init_is_an_error_not_a_crash(core):
    class NoInit(core.Component):
        def __init__(self):
            pass

    class NoInitChannel(core.Channel):
        def __init__(self):
            pass

    with pytest.raises(SimulationError):
        NoInit().wake()
    with pytest.raises(SimulationError):
        NoInitChannel().put(1)
    assert not NoInitChannel().can_get()
    with pytest.raises(ChannelEmptyError):
        NoInitChannel().get()


def test_seed_must_be_an_integer(eng):
    assert eng.Simulator(np.int64(5)).seed == 5
    for bad in (None, 1.5, "1"):
        with pytest.raises(SimulationError):
            eng.Simulator(bad)
