"""Property tests: random programs give identical traces on every backend, and the invariants
(causality, determinism, capacity, FIFO, Little's law, run segmentation) hold.

The SimPy reference (archsim.engine.reference) is the oracle; the Cython core and the
pure-Python engine must match it event for event.
"""
from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from archsim.engine import Clock

SETTINGS = dict(deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _name(desc) -> str:
    """Hook descriptions differ by backend object identity; compare them by name."""
    return getattr(desc, "name", None) or getattr(desc, "__name__", None) or repr(desc)


def _assert_all_equal(traces: dict[str, list]) -> None:
    (ref_name, ref), *others = sorted(traces.items(), key=lambda kv: kv[0] != "simpy")
    for name, trace in others:
        assert trace == ref, f"{name} trace differs from {ref_name}"


# ------------------------------------------------------------------ event programs
@dataclass(frozen=True)
class Node:
    delay: int
    priority: int
    absolute: bool       # schedule_at(now + delay) instead of schedule(delay)
    stop: bool           # call sim.stop() when it fires
    children: tuple[int, ...]


@st.composite
def event_programs(draw):
    n = draw(st.integers(1, 30))
    nodes = []
    for i in range(n):
        children = () if i == n - 1 else tuple(draw(st.lists(st.integers(i + 1, n - 1),
                                                             max_size=3)))
        nodes.append(Node(delay=draw(st.integers(0, 20)), priority=draw(st.integers(-2, 2)),
                          absolute=draw(st.booleans()),
                          stop=draw(st.integers(0, 9)) == 0, children=children))
    roots = draw(st.lists(st.integers(0, n - 1), min_size=1, max_size=6))
    runs = draw(st.lists(st.one_of(
        st.tuples(st.just("until"), st.integers(0, 40)),
        st.tuples(st.just("max"), st.integers(0, 15)),
        st.tuples(st.just("both"), st.integers(0, 40))), max_size=4))
    return nodes, roots, runs + [("all", 0)]


def run_event_program(mod, program, with_hooks: bool = True) -> list:
    nodes, roots, runs = program
    sim = mod.Simulator(seed=0)
    trace = []

    def schedule(i):
        node = nodes[i]
        if node.absolute:
            sim.schedule_at(sim.now + node.delay, fire, i, priority=node.priority)
        else:
            sim.schedule(node.delay, fire, i, priority=node.priority)

    def fire(i):
        trace.append(("event", sim.now, i))
        for child in nodes[i].children:
            schedule(child)
        if nodes[i].stop:
            sim.stop()

    if with_hooks:
        sim.add_hook("before_event", lambda t, d: trace.append(("before", t, _name(d))))
        sim.add_hook("after_event", lambda t, d: trace.append(("after", t, _name(d))))
    for root in roots:
        schedule(root)
    for kind, value in runs:
        if kind == "until":
            n = sim.run(until=sim.now + value)
        elif kind == "max":
            n = sim.run(max_events=value)
        elif kind == "both":
            n = sim.run(until=sim.now + value, max_events=3)
        else:
            n = sim.run()
        trace.append(("run", kind, n, sim.now, sim.pending, sim.events_processed))
    return trace


@settings(max_examples=300, **SETTINGS)
@given(program=event_programs())
def test_event_programs_identical_on_all_backends(backends, program):
    traces = {name: run_event_program(mod, program) for name, mod in backends}
    _assert_all_equal(traces)
    events = [e for e in traces["simpy"] if e[0] == "event"]
    times = [t for _, t, _ in events]
    assert times == sorted(times), "time went backwards"


@settings(max_examples=200, **SETTINGS)
@given(program=event_programs())
def test_run_segmentation_does_not_change_event_order(backends, program):
    """Stopping and resuming (until / max_events) never reorders events."""
    nodes, roots, _ = program
    nodes = [Node(n.delay, n.priority, n.absolute, False, n.children) for n in nodes]
    for _, mod in backends:
        whole = run_event_program(mod, (nodes, roots, [("all", 0)]), with_hooks=False)
        pieces = run_event_program(mod, (nodes, roots, program[2]),
                                   with_hooks=False)
        assert [e for e in pieces if e[0] == "event"] == [e for e in whole if e[0] == "event"]


@settings(max_examples=30, **SETTINGS)
@given(seed=st.integers(0, 2**32 - 1), n_roots=st.integers(1, 20))
def test_same_seed_same_trace(backends, seed, n_roots):
    """Models draw randomness only from sim.rng: same seed, same trace, on every backend."""
    def program(mod):
        sim = mod.Simulator(seed=seed)
        trace = []

        def fire(k):
            trace.append((sim.now, k))
            if k < 6:
                sim.schedule(int(sim.rng.integers(0, 50)), fire, k + 1,
                             priority=int(sim.rng.integers(-1, 2)))

        for _ in range(n_roots):
            sim.schedule(int(sim.rng.integers(0, 100)), fire, 0)
        sim.run()
        return trace

    traces = {}
    for name, mod in backends:
        first = program(mod)
        assert program(mod) == first
        traces[name] = first
    _assert_all_equal(traces)


# -------------------------------------------------- components, channels, back-pressure
@st.composite
def pipelines(draw):
    stages = draw(st.integers(0, 2))             # components between source and sink
    n_channels = stages + 1
    channels = [(draw(st.integers(1, 4)), draw(st.sampled_from([0, 0, 1, 500, 999, 2000, 3500])))
                for _ in range(n_channels)]
    components = []
    for _ in range(stages + 2):
        pattern = draw(st.lists(st.booleans(), min_size=1, max_size=5))
        components.append((draw(st.sampled_from([700, 1000, 1300, 2500])), tuple(pattern) + (True,)))
    n_items = draw(st.integers(0, 25))
    # external wake-ups: (time, component index, priority) — must never cause extra ticks
    wakes = draw(st.lists(st.tuples(st.integers(0, 40_000), st.integers(0, stages + 1),
                                    st.integers(-1, 1)), max_size=6))
    horizon = draw(st.one_of(st.none(), st.integers(0, 60_000)))
    return channels, components, n_items, wakes, horizon


def build_and_run_pipeline(mod, spec):
    channels_spec, comps_spec, n_items, wakes, horizon = spec
    sim = mod.Simulator(seed=0)
    trace = []
    channels = []
    for k, (cap, lat) in enumerate(channels_spec):
        ch = mod.Channel(sim, f"ch{k}", cap, lat)

        def hook(t, what, item, ch=ch):
            trace.append(("chan", t, ch.name, what, item, ch.occupancy))

        ch.add_hook(hook)
        channels.append(ch)

    class Unit(mod.Component):
        def __init__(self, sim, name, clock, pattern, inp, out, items):
            super().__init__(sim, name, clock)
            self.pattern, self.inp, self.out, self.items = pattern, inp, out, list(items)
            self.received = []

        def tick(self):
            trace.append(("tick", self.sim.now, self.name))
            act = self.pattern[self.ticks % len(self.pattern)]
            if self.inp is None:                                     # source
                if not self.items:
                    return False
                if not act:
                    return True
                if self.out.try_put(self.items[0]):
                    self.items.pop(0)
                    return bool(self.items)
                return False                                         # back-pressure
            if not act:
                return self.inp.occupancy > 0
            if not self.inp.can_get():
                return False                                         # arrival wakes us
            if self.out is None:                                     # sink
                self.received.append(self.inp.get())
                return True
            if not self.out.can_put():
                return False                                         # space frees wakes us
            self.out.put(self.inp.get())
            return True

    comps = []
    for k, (period, pattern) in enumerate(comps_spec):
        inp = channels[k - 1] if k > 0 else None
        out = channels[k] if k < len(channels) else None
        comp = Unit(sim, f"u{k}", Clock.from_period(period), pattern, inp, out,
                    range(n_items) if k == 0 else ())
        if inp is not None:
            inp.consumer = comp
        if out is not None:
            out.producer = comp
        comps.append(comp)
    sim.add_hook("before_event", lambda t, d: trace.append(("event", t, _name(d))))
    comps[0].wake()
    for t, k, prio in wakes:
        sim.schedule_at(t, comps[k].wake, priority=prio)
    n = sim.run(until=horizon)
    trace.append(("end", n, sim.now, sim.pending, [c.ticks for c in comps],
                  [c.sleeping for c in comps]))
    return trace, sim, comps, channels


@settings(max_examples=300, **SETTINGS)
@given(spec=pipelines())
def test_pipelines_identical_on_all_backends(backends, spec):
    traces = {name: build_and_run_pipeline(mod, spec)[0] for name, mod in backends}
    _assert_all_equal(traces)


@settings(max_examples=150, **SETTINGS)
@given(spec=pipelines())
def test_pipeline_invariants(backends, spec):
    """Capacity, FIFO, latency, one tick per edge, delivery, Little's law — on each backend."""
    channels_spec, comps_spec, n_items, _, horizon = spec
    for _, mod in backends:
        trace, sim, comps, channels = build_and_run_pipeline(mod, spec)
        end = sim.now
        times = [e[1] for e in trace if e[0] in ("event", "tick", "chan")]
        assert times == sorted(times)
        for comp, (period, _) in zip(comps, comps_spec):
            ticks = [e[1] for e in trace if e[0] == "tick" and e[2] == comp.name]
            assert all(t % period == 0 for t in ticks), "tick off the clock edge"
            assert len(set(ticks)) == len(ticks), "two ticks in one cycle"
        if horizon is None:
            assert comps[-1].received == list(range(n_items)), "items lost or reordered"
            assert all(c.sleeping for c in comps) and sim.pending == 0
        for ch, (cap, lat) in zip(channels, channels_spec):
            ops = [e for e in trace if e[0] == "chan" and e[2] == ch.name]
            puts = [(t, item) for _, t, _, what, item, _ in ops if what == "put"]
            gets = [(t, item) for _, t, _, what, item, _ in ops if what == "get"]
            assert all(occ <= cap for *_, occ in ops), "capacity exceeded"
            assert [i for _, i in gets] == [i for _, i in puts][:len(gets)], "not FIFO"
            assert all(tg >= tp + lat for (tp, _), (tg, _) in zip(puts, gets)), "too early"
            _check_littles_law(ops, puts, gets, end)


def _check_littles_law(ops, puts, gets, end):
    """L = lambda * W over the closed interval [0, end], measured two independent ways.

    L integrates the occupancy the channel itself reported at each put/get; W is the mean
    time items spent in the channel within the interval, matched put-to-get by identity.
    Items still inside at ``end`` count up to ``end`` (the finite-horizon form, exact).
    """
    if end == 0 or not puts:
        return
    area, last_t, occ = 0, 0, 0
    for _, t, _, _, _, occupancy in ops:
        area += occ * (t - last_t)
        last_t, occ = t, occupancy
    area += occ * (end - last_t)
    got_at = {item: t for t, item in gets}
    sojourn = sum(got_at.get(item, end) - t for t, item in puts)
    L = Fraction(area, end)
    lam = Fraction(len(puts), end)
    W = Fraction(sojourn, len(puts))
    assert L == lam * W


# ------------------------------------------------------------------------- C path
_MASK = (1 << 64) - 1


def _python_phold(n_lp: int, mean: float, seed: int, per_lp: int, events: int):
    """CPhold restated in Python on the pure-Python engine: same splitmix64, same float math."""
    import math

    from archsim.engine import pyengine

    state = [seed & _MASK]

    def splitmix64() -> int:
        state[0] = (state[0] + 0x9E3779B97F4A7C15) & _MASK
        z = state[0]
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & _MASK
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & _MASK
        return z ^ (z >> 31)

    def delay() -> int:
        u = ((splitmix64() >> 11) + 1) * (1.0 / 9007199254740992.0)
        return int(-math.log(u) * mean)

    sim = pyengine.Simulator()
    received = [0] * n_lp

    def handle(a: int) -> None:
        received[a] += 1
        target = (splitmix64() >> 11) % n_lp
        sim.schedule(delay(), handle, target)

    for lp in range(n_lp):
        for _ in range(per_lp):
            sim.schedule(delay(), handle, lp)
    sim.run(max_events=events)
    return sim.now, sim.pending, received


@settings(max_examples=60, **SETTINGS)
@given(n_lp=st.integers(1, 40), mean=st.sampled_from([0.5, 3.0, 50.0, 1000.0]),
       seed=st.integers(0, 2**64 - 1), per_lp=st.integers(0, 3), events=st.integers(0, 400))
def test_c_path_matches_python_restatement(core, n_lp, mean, seed, per_lp, events):
    """The C path (c_schedule from a Cython handler) orders events exactly like the Python
    engine; small means make many equal times, so ties by insertion order are exercised."""
    from archsim.engine._phold import CPhold

    sim = core.Simulator()
    model = CPhold(sim, n_lp, mean, seed, per_lp)
    sim.run(max_events=events)
    assert (sim.now, sim.pending, model.received.tolist()) == _python_phold(
        n_lp, mean, seed, per_lp, events)
