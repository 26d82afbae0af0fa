"""YPU case study: per-op cycle stacks (PICS-style) on the CPU model, with drops vs ideal.

    python benchmarks/ypu_cycle_stacks.py [--hw xeon-host] [--workload SPEC] [--cores 4]

Each watched core gets a YPU tapping core[i].state (0 idle, 1 compute, 2-5 stalls on L1, L2,
LLC, DRAM, 6 sync) and core[i].op (op index + 1), running programs/cycle_stack.s: the cycles
between two events are charged to the (op, state) the core was in; every 400 000 host cycles
(the paper's merge interval) the non-zero counters are written out and cleared. Two taps per
core: "cycle" samples both signals every host cycle (the paper's tap; drops while busy),
"change" sends every change. The reference is the same program on an infinitely fast,
drop-free unit fed every change: the exact stack. Error of an op = the fraction of its cycles
charged to a wrong (op, state) = sum over states |YPU - ideal| / (2 x op cycles).

Needs a CPU machine that publishes core[i].state / core[i].op (the signal contract); on a
branch whose CPU model publishes none yet, it says so and exits 2. `study()` is what
tests/ypu/test_case_studies.py runs against a signal source the test drives itself.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from archsim.errors import UserError  # noqa: E402
from archsim.hw.ypu import area  # noqa: E402
from archsim.hw.ypu.monitor import attach  # noqa: E402
from archsim.hw.ypu.programs import decode  # noqa: E402
from archsim.hw.ypu.unit import UnitConfig  # noqa: E402

INTERVAL = 400_000


def study(run, cores, *, fifo: int = 4, interval: int = INTERVAL) -> dict:
    """run(monitors) -> end tick, running the machine with `monitors` attached."""
    ucfg = UnitConfig(interval_cycles=interval, fifo_depth=fifo)
    chg, cyc, fns = [], [], []
    for i in cores:
        sigs = [f"core[{i}].state", f"core[{i}].op"]
        fns.append(attach(sigs, "cycle_stack", into=chg, unit=ucfg, mode="change"))
        fns.append(attach(sigs, "cycle_stack", into=cyc, unit=ucfg, mode="cycle", ideal=False))
    end = run(fns)
    rc = [m.finish(end) for m in chg]
    rs = [m.finish(end) for m in cyc]
    ideal = _merge(decode.cycle_stack(r.ideal.output_words) for r in rc)
    out = {"ideal": ideal, "cycle": _merge(decode.cycle_stack(r.ypu.output_words) for r in rs),
           "change": _merge(decode.cycle_stack(r.ypu.output_words) for r in rc)}
    res = {"stacks": out, "end": end}
    for tap, rr in (("cycle", rs), ("change", rc)):
        errs = op_errors(out[tap], ideal)
        tot = sum(c for c, _ in errs.values())
        res[tap] = {
            "drop_rate": sum(r.ypu.dropped for r in rr) / max(1, sum(r.ypu.arrivals for r in rr)),
            "weighted_error": sum(c * e for c, e in errs.values()) / tot if tot else 0.0,
            "worst_error": max((e for c, e in errs.values() if c >= 0.01 * tot), default=0.0),
            "output_bytes": sum(r.ypu.output_bytes for r in rr),
            "per_op": errs}
    return res


def _merge(stacks) -> dict:
    out: dict = {}
    for s in stacks:
        for k, v in s.items():
            out[k] = out.get(k, 0) + v
    return out


def op_errors(got: dict, ideal: dict) -> dict:
    """{op: (ideal cycles, error fraction)}."""
    ops = {k[0] for k in ideal} | {k[0] for k in got}
    res = {}
    for op in sorted(ops):
        ref = sum(v for k, v in ideal.items() if k[0] == op)
        diff = sum(abs(got.get((op, s), 0) - ideal.get((op, s), 0)) for s in range(8))
        res[op] = (ref, diff / (2 * ref) if ref else 1.0)
    return res


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--hw", default="xeon-host")
    ap.add_argument("--workload", default="bert-base(batch=1, seq=128, layers=1)")
    ap.add_argument("--cores", type=int, default=4)
    ap.add_argument("--fifo", type=int, default=4)
    args = ap.parse_args(argv)
    from archsim.config import load_config
    from archsim.graph import build_workload
    from archsim.simulate import simulate
    cfg = load_config(REPO / "hwconfigs" / f"{args.hw}.yaml")
    g = build_workload(args.workload)
    holder = {}

    def run(fns):
        r = simulate(g, cfg, monitors=fns)
        holder["r"] = r
        return round(r.time_s * 1e12)
    try:
        res = study(run, list(range(args.cores)), fifo=args.fifo)
    except UserError as e:
        print(f"ypu_cycle_stacks: {e}", file=sys.stderr)
        return 2
    r = holder["r"]
    names = [o.name for o in r.ops]
    print(f"## YPU: per-op cycle stacks ({cfg.name}, {args.workload}, cores 0-{args.cores - 1},"
          f" merged every {INTERVAL} cycles, FIFO {args.fifo})\n")
    print("| tap | drop rate | error, cycle-weighted | worst op (>= 1 % of cycles) | output |")
    print("|---|---:|---:|---:|---:|")
    for tap in ("cycle", "change"):
        t = res[tap]
        print(f"| {tap} | {100 * t['drop_rate']:.1f} % | {100 * t['weighted_error']:.2f} % | "
              f"{100 * t['worst_error']:.2f} % | "
              f"{t['output_bytes'] / r.time_s / 1e6:.2f} MB/s |")
    ideal = res["stacks"]["ideal"]
    top = sorted(res["cycle"]["per_op"].items(), key=lambda kv: -kv[1][0])[:8]
    print("\n| op | cycles | " + " | ".join(decode.STATES) + " | YPU error |")
    print("|---|---:|" + "---:|" * len(decode.STATES) + "---:|")
    for op, (cyc, err) in top:
        name = names[op - 1] if 0 < op <= len(names) else ("idle" if op == 0 else f"op{op}")
        fr = [ideal.get((op, s), 0) / cyc for s in range(len(decode.STATES))]
        print(f"| {name} | {cyc} | " + " | ".join(f"{100 * f:.0f} %" for f in fr) +
              f" | {100 * err:.2f} % |")
    sh = area.share("xeon-core", power_case="pics")
    print(f"\n- area/power per core: YPU-lite {sh['ypu_area_mm2']:.3f} mm² "
          f"({100 * sh['area_share']:.3f} % of a core's die share, [approx]); 15 mW (the "
          f"paper's PICS power) = {100 * sh['power_share']:.2f} % of its TDP share")
    dst = REPO / "benchmarks" / "data" / "ypu_cycle_stacks.json"
    tmp = dst.with_suffix(".json.tmp")
    tmp.write_text(json.dumps({k: res[k] for k in ("cycle", "change")}, default=str, indent=1))
    os.replace(tmp, dst)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
