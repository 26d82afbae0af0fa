"""YPU costs to the simulator: interpreter speed, monitor slowdown, unattached-signal cost.

    python benchmarks/ypu_overhead.py [--repeats 5]

1. The RV32I interpreter: instructions per second of the Cython core and of the pure-Python
   reference on the same loop (and the speed-up).
2. A unit behind a tap: input events per second through the C unit (interpreter and cost
   model) for programs/sm_util.s.
3. Slowdown of a whole simulation with monitors attached: BERT-base (2 layers, batch 8,
   seq 128) on the H200 component model, plain vs with 10 SM taps (cycle mode) and their units.
4. Unattached cost: the same plain run vs the run with Signal.set / Signal.pulse replaced by
   no-ops (signals compiled out); also the count of set/pulse calls x the measured cost of
   one unsubscribed call, as a fraction of the run.
Times are minimum over --repeats runs; on a shared machine they are inflated and noisy.
"""
from __future__ import annotations

import argparse
import sys
import time
import timeit
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from archsim.config import load_config  # noqa: E402
from archsim.engine import signals as sigmod  # noqa: E402
from archsim.graph import build_workload  # noqa: E402
from archsim.hw.ypu.asm import assemble  # noqa: E402
from archsim.hw.ypu.monitor import attach  # noqa: E402
from archsim.hw.ypu.pycore import PyRv32Core  # noqa: E402
from archsim.hw.ypu.unit import UnitConfig  # noqa: E402
from archsim.simulate import simulate  # noqa: E402

LOOP = """li a0, 0
    li a1, {n}
    li s1, 0x10000000
1:  addi a0, a0, 1
    xor a2, a2, a0
    slli a3, a2, 3
    sw a3, 0(s1)
    lw a4, 0(s1)
    andi a5, a4, 15
    hist a6, s1, a5
    blt a0, a1, 1b
    ecall"""


def interp_speed(n: int, core_cls) -> float:
    im = assemble(LOOP.format(n=n))
    c = core_cls(im.text, im.data)
    t0 = time.perf_counter()
    c.run(10**9)
    return c.instret / (time.perf_counter() - t0)


def best(fn, repeats):
    return min(_timed(fn) for _ in range(repeats))


def _timed(fn):
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=5)
    args = ap.parse_args(argv)
    print("## YPU: costs to the simulator (contended 2-core machine: inflated, noisy)\n")
    py = interp_speed(20_000, PyRv32Core)
    try:
        from archsim.hw.ypu._core import Rv32Core
        cy = max(interp_speed(2_000_000, Rv32Core) for _ in range(3))
    except ImportError:
        cy = float("nan")
    print(f"- RV32I interpreter: Cython {cy / 1e6:.1f} M instr/s, pure Python "
          f"{py / 1e6:.3f} M instr/s (x{cy / py:.0f})")

    # 2. events/s through tap + unit
    bus = sigmod.SignalBus()
    s = [bus.declare("a"), bus.declare("b"), bus.declare("c", width=8)]
    rng = np.random.default_rng(0)
    n = 200_000
    ts = (np.cumsum(rng.integers(20, 200, n)) * 505).tolist()
    ii = rng.integers(0, 3, n).tolist()
    vv = rng.integers(0, 2, n).tolist()
    rates = {}
    for label, kw in (("interpreter", {}), ("cost model", "cost")):
        for x in s:
            x.value = 0
        mons = []
        prof = None
        if kw == "cost":
            prof = {(0, 0): (1, 40), (0, 1): (1, 40), (0, 2): (1, 40), (1, 0xFFFFFFFF): (1, 60)}
        fn = attach(["a", "b", "c"], "sm_util", into=mons, ideal=False, cost_profile=prof,
                    unit=UnitConfig(interval_cycles=256))
        fn(bus, 1.98e9)
        t0 = time.perf_counter()
        for t, i, v in zip(ts, ii, vv):
            s[i].set(t, v)
        mons[0].finish(ts[-1] + 1)
        rates[label] = n / (time.perf_counter() - t0)
    print(f"- tap + unit, sm_util.s, one unit (+ the cost unit where named): "
          f"{rates['interpreter'] / 1e6:.2f} M signal events/s with the interpreter, "
          f"{rates['cost model'] / 1e6:.2f} M/s with interpreter and cost model side by side "
          f"(the Python loop that publishes the events included)")

    # 3. slowdown with monitors
    cfg = load_config(REPO / "hwconfigs" / "h200.yaml")
    g = build_workload("bert-base(batch=8, seq=128, layers=2)")
    sms = [round(k * cfg.sm.count / 10) for k in range(10)]

    def plain():
        return simulate(g, cfg)

    def monitored(mode, ideal):
        def run():
            mons = []
            fns = [attach([f"sm[{i}].simt_busy", f"sm[{i}].tensor_busy",
                           f"sm[{i}].mem_outstanding"], "sm_util", into=mons, mode=mode,
                          ideal=ideal, unit=UnitConfig(interval_cycles=256)) for i in sms]
            r = simulate(g, cfg, monitors=fns)
            for m in mons:
                m.finish(round(r.time_s * 1e12))
        return run
    t_plain = best(plain, args.repeats)
    print(f"- BERT-base 2 layers on H200, {t_plain:.3f} s plain; with 10 SM taps:")
    for mode, ideal, what in (("cycle", False, "per-cycle sampling, the YPU unit only"),
                              ("change", True, "on change, YPU and ideal units"),
                              ("cycle", True, "per-cycle, YPU and the per-cycle ideal unit "
                                              "(one handler run per host cycle)")):
        t_mon = best(monitored(mode, ideal), max(1, args.repeats // 2))
        print(f"  - {what}: {t_mon:.3f} s, slowdown x{t_mon / t_plain:.2f}")

    # 4. unattached cost
    orig_set, orig_pulse = sigmod.Signal.set, sigmod.Signal.pulse
    calls = {"n": 0}

    def counting_set(self, time, value):
        calls["n"] += 1
        return orig_set(self, time, value)

    def counting_pulse(self, time, amount=1):
        calls["n"] += 1
        return orig_pulse(self, time, amount)
    sigmod.Signal.set, sigmod.Signal.pulse = counting_set, counting_pulse
    try:
        plain()
    finally:
        sigmod.Signal.set, sigmod.Signal.pulse = orig_set, orig_pulse
    sigmod.Signal.set = lambda self, time, value: None
    sigmod.Signal.pulse = lambda self, time, amount=1: None
    try:
        t_off = best(plain, args.repeats)
    finally:
        sigmod.Signal.set, sigmod.Signal.pulse = orig_set, orig_pulse
    bus = sigmod.SignalBus()
    x = bus.declare("x")
    per_call = min(timeit.repeat(lambda: x.set(0, 1), number=200_000, repeat=5)) / 200_000
    est = calls["n"] * per_call / t_plain
    print(f"- unattached signals: {calls['n']} set/pulse calls in the plain run; "
          f"{1e9 * per_call:.0f} ns per unsubscribed call -> {100 * est:.3f} % of the run; "
          f"measured directly: plain {t_plain:.3f} s vs signals compiled out {t_off:.3f} s "
          f"({100 * (t_plain - t_off) / t_off:+.1f} %, within run-to-run noise here)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
