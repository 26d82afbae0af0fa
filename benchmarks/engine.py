"""PHOLD benchmark of the event engine: C path, Python path, SimPy, and a plain heapq loop.

PHOLD (Fujimoto 1990): N logical processes (LPs) start with ``events_per_lp`` events each;
processing an event at an LP schedules one new event at a uniformly random LP after an
exponentially distributed delay (mean ``--mean`` ticks, truncated to whole ticks, so zero
delays happen: no lookahead). The pending-event count therefore stays N * events_per_lp,
and every path below does the same work per event: pop, count, draw two random numbers, push.

    python benchmarks/engine.py                      # defaults recorded in RESULTS.md
    python benchmarks/engine.py --c-events 5000000 --py-events 500000 --repeat 3

Each path is timed ``--repeat`` times, round-robin, and its best run is reported; rates use
CPU time because the machine is shared (wall time is printed too).
"""
from __future__ import annotations

import argparse
import heapq
import os
import platform
import random
import time
from typing import Callable

import simpy

from archsim import engine
from archsim.engine import pyengine


def c_path(n: int, events: int, mean: float, seed: int, per_lp: int) -> int:
    """The Cython PHOLD handler on Simulator.c_schedule (no Python object per event)."""
    from archsim.engine._core import Simulator
    from archsim.engine._phold import CPhold

    sim = Simulator(seed)
    CPhold(sim, n, mean, seed, per_lp)
    return sim.run(max_events=events)


def _python_callback(sim_cls: Callable, n: int, events: int, mean: float, seed: int,
                     per_lp: int) -> int:
    sim = sim_cls(seed)
    rng = random.Random(seed)
    expo, uniform, rate = rng.expovariate, rng.random, 1.0 / mean
    received = [0] * n
    schedule = sim.schedule

    def lp_event(lp: int) -> None:
        received[lp] += 1
        schedule(int(expo(rate)), lp_event, int(uniform() * n))

    for lp in range(n):
        for _ in range(per_lp):
            schedule(int(expo(rate)), lp_event, lp)
    return sim.run(max_events=events)


def python_path(n: int, events: int, mean: float, seed: int, per_lp: int) -> int:
    """A Python function scheduled with sim.schedule on the active (Cython) engine."""
    return _python_callback(engine.Simulator, n, events, mean, seed, per_lp)


def pyengine_path(n: int, events: int, mean: float, seed: int, per_lp: int) -> int:
    """The same Python function on the pure-Python fallback engine."""
    return _python_callback(pyengine.Simulator, n, events, mean, seed, per_lp)


def simpy_path(n: int, events: int, mean: float, seed: int, per_lp: int) -> int:
    """Idiomatic SimPy: one process per in-flight event, a timeout per hop."""
    env = simpy.Environment()
    rng = random.Random(seed)
    expo, uniform, rate = rng.expovariate, rng.random, 1.0 / mean
    received = [0] * n
    done = env.event()
    count = 0

    def message(env: simpy.Environment, lp: int):
        nonlocal count
        while True:
            yield env.timeout(int(expo(rate)))
            received[lp] += 1
            count += 1
            if count == events:
                done.succeed()
            lp = int(uniform() * n)

    for lp in range(n):
        for _ in range(per_lp):
            env.process(message(env, lp))
    env.run(until=done)
    return count


def heapq_path(n: int, events: int, mean: float, seed: int, per_lp: int) -> int:
    """The floor for any Python engine: a bare heapq loop with no API at all."""
    rng = random.Random(seed)
    expo, uniform, rate = rng.expovariate, rng.random, 1.0 / mean
    received = [0] * n
    heap = []
    seq = 0
    for lp in range(n):
        for _ in range(per_lp):
            heap.append((int(expo(rate)), seq, lp))
            seq += 1
    heapq.heapify(heap)
    pop, push = heapq.heappop, heapq.heappush
    for _ in range(events):
        now, _, lp = pop(heap)
        received[lp] += 1
        push(heap, (now + int(expo(rate)), seq, int(uniform() * n)))
        seq += 1
    return events


def workload_only(n: int, events: int, mean: float, seed: int, per_lp: int) -> int:
    """The Python paths' per-event work (count, two draws, a call) with a no-op scheduler.

    Subtracting its time from a Python path's time gives that engine's own overhead.
    """
    rng = random.Random(seed)
    expo, uniform, rate = rng.expovariate, rng.random, 1.0 / mean
    received = [0] * n

    def schedule(delay: int, fn: Callable, lp: int) -> None:
        pass

    def lp_event(lp: int) -> None:
        received[lp] += 1
        schedule(int(expo(rate)), lp_event, int(uniform() * n))

    for i in range(events):
        lp_event(i % n)
    return events


def measure(paths: list[tuple[str, Callable[..., int], int]], repeat: int,
            *args) -> dict[str, tuple[int, float, float]]:
    """Event count, best wall time and best CPU time of each path over ``repeat`` rounds.

    Rounds visit every path in turn, so a burst of load from other processes on this shared
    machine hits all paths alike instead of one. Rates are computed from CPU time: on a busy
    machine wall time also counts the time other processes held the core (both are shown).
    """
    best: dict[str, tuple[int, float, float]] = {}
    for _ in range(repeat):
        for name, fn, events in paths:
            t0, c0 = time.perf_counter(), time.process_time()
            count = fn(args[0], events, *args[1:])
            wall, cpu = time.perf_counter() - t0, time.process_time() - c0
            if name in best:
                assert best[name][0] == count, f"{name} processed a different number of events"
                wall, cpu = min(wall, best[name][1]), min(cpu, best[name][2])
            best[name] = (count, wall, cpu)
    return best


def message_chain(stages: int, messages: int, depth: int = 4, nbytes: int = 128) -> int:
    """Messages through a chain of components joined by links (archsim.engine.component):
    every hop is a Link.send (serialisation at 32 B/tick, 10 ticks of flight, `depth`
    buffers, back-pressure) and an on_message event at the next component, which releases
    its input slot and forwards. Returns message deliveries (hops)."""
    from archsim.engine.component import Link, Machine, Message, Node

    class Stage(Node):
        def __init__(self, m, name):
            super().__init__(m, name, None, None)
            self.inp = self.out = None
            self.q = []
            self.got = 0

        def on_message(self, link, msg):
            self.got += 1
            self.inp.release()
            if self.out is None:
                return
            self.q.append(msg)
            self.drain()

        def drain(self):
            while self.q and self.out.send(self.q[0]):
                self.q.pop(0)

        def on_link_free(self, link):
            self.drain()

    class Source(Stage):
        def go(self):
            while self.left and self.out.send(Message("data", nbytes, tag=self.left)):
                self.left -= 1

        def on_link_free(self, link):
            self.go()

    m = Machine()
    nodes = [Source(m, "n0")] + [Stage(m, f"n{i}") for i in range(1, stages)]
    nodes[0].left = messages
    for a, b in zip(nodes, nodes[1:]):
        a.out = b.inp = Link(m, f"{a.name}->{b.name}", a.name, b.name, latency=10,
                             bandwidth=32.0, depth=depth)
    m.post(0, "n0", "go")
    m.run()
    assert nodes[-1].got == messages, "messages lost"
    return sum(n.got for n in nodes)


def cpu_model() -> str:
    """The CPU model name from /proc/cpuinfo (Linux), else what platform knows."""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--lps", type=int, default=1000,
                    help="logical processes (N); the classic setup: 1,000 LPs, one event each")
    ap.add_argument("--per-lp", type=int, default=1, help="initial events per LP")
    ap.add_argument("--mean", type=float, default=1000.0, help="mean delay in ticks")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--c-events", type=int, default=5_000_000)
    ap.add_argument("--py-events", type=int, default=500_000)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args(argv)

    paths = [("simpy", simpy_path, args.py_events),
             ("c-level (Cython handler, c_schedule)", c_path, args.c_events),
             ("python-callback (sim.schedule, cython engine)", python_path, args.py_events),
             ("python-callback (pure-Python engine)", pyengine_path, args.py_events),
             ("plain heapq loop", heapq_path, args.py_events),
             ("(python workload alone, no engine)", workload_only, args.py_events)]
    if engine.BACKEND != "cython":
        paths = [p for p in paths if not p[0].startswith(("c-level", "python-callback (sim"))]

    print(f"PHOLD: N={args.lps} LPs, pending events={args.lps * args.per_lp}, "
          f"mean delay={args.mean:g} ticks, seed={args.seed}, best of {args.repeat}")
    print(f"engine backend: {engine.BACKEND}; python {platform.python_version()}; "
          f"simpy {simpy.__version__}; {os.cpu_count()} CPUs: {cpu_model()}; "
          f"load average before: {os.getloadavg()[0]:.2f}")
    results = measure(paths, args.repeat, args.lps, args.mean, args.seed, args.per_lp)
    simpy_rate = results["simpy"][0] / results["simpy"][2]
    print()
    print(f"| {'path':<46} | {'events':>9} | {'wall s':>7} | {'cpu s':>7} | {'events/s':>11} "
          f"| {'vs SimPy':>8} |")
    print(f"|{'-' * 48}|{'-' * 10}:|{'-' * 8}:|{'-' * 8}:|{'-' * 12}:|{'-' * 9}:|")
    for name, _, _ in paths:
        count, wall, cpu = results[name]
        rate = count / cpu
        print(f"| {name:<46} | {count:>9,} | {wall:>7.3f} | {cpu:>7.3f} | {rate:>11,.0f} "
              f"| {rate / simpy_rate:>7.1f}x |")
    stages, msgs = 8, max(1, args.py_events // 8)
    best = None
    for _ in range(args.repeat):
        t0, c0 = time.perf_counter(), time.process_time()
        hops = message_chain(stages, msgs)
        w, c = time.perf_counter() - t0, time.process_time() - c0
        best = (w, c) if best is None else (min(best[0], w), min(best[1], c))
    print(f"\nmessages through a chain of {stages} components (links: 32 B/tick, 10 ticks, "
          f"depth 4, back-pressure): {hops:,} deliveries, wall {best[0]:.3f} s, cpu "
          f"{best[1]:.3f} s, {hops / best[1]:,.0f} messages/s (cpu)")
    work_ns = 1e9 * results[paths[-1][0]][2] / results[paths[-1][0]][0]
    print(f"\nevents/s = events / best CPU seconds; load average after: "
          f"{os.getloadavg()[0]:.2f}")
    print("engine overhead per event on the Python paths (CPU time minus the workload's "
          f"{work_ns:.0f} ns):")
    for name, _, _ in paths[:-1]:
        if not name.startswith("c-level"):
            count, _, cpu = results[name]
            print(f"  {name}: {1e9 * cpu / count - work_ns:.0f} ns")

if __name__ == "__main__":
    main()
