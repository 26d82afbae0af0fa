"""Where the two execution modes disagree, and why; and what line sampling costs in accuracy.

    python benchmarks/upcycle_modes.py            # both parts
    python benchmarks/upcycle_modes.py --part 1   # or one of them
    python benchmarks/upcycle_modes.py --part 3 --json benchmarks/data/upcycle-modes-resnet50-b1.json
    python benchmarks/upcycle_modes.py --part 3 --from-json benchmarks/data/upcycle-modes-resnet50-b1.json

Part 1 runs matmul and convolution layers on a reduced UPCYCLE (8 x 16 tiles, 4 groups; the
event mode is Python components, one event per packet per hop, too slow for 2048 tiles in a
benchmark) in both modes, once with the configured HBM and once with an ideal one (no latency,
unbounded bandwidth), and prints each layer's cycles: the step-synchronous formula against the
event-driven components (tiles, group L2s, LLC, HBM stacks and mesh) running the same steps and
cache look-ups.

Part 2 runs the first 20 ops of ResNet-50 (batch 16, INT8) on the full 2048-tile chip with the
LLC legs routed per line (exact) and with the default sampling (32 lines per block read, 8 per
block written), and prints the on-chip cycles of each and the relative error.

Part 3 (not run by default: tens of CPU minutes) runs a whole model, ResNet-50 batch 1 INT8
(BN folded, elementwise epilogues fused: the default lowering), on the full 2048-tile
upcycle-2048 in both modes, every op and every step (no sampling in either mode's choice of
steps; the event mode routes every line, the step-synchronous mode samples its LLC legs as
usual), one model state per mode carried from op to op as in a run. It prints each op and a
table per layer class: cycles in each mode, which bound the step-synchronous mode reports, what
ended the op in the event mode (the tiles' last step, the last output write reaching its LLC
slice, or HBM draining its write-backs) and how long the first step waited for its operands
in each mode. `--json` keeps each op's row as it finishes (a killed run keeps its finished ops);
`--from-json` prints the tables from such a file.
"""
from __future__ import annotations

import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

LAYERS = [
    "gemm(M=256, N=256, K=256, dtype='int8')",
    "gemm(M=16, N=1024, K=1024, dtype='int8')",
    "gemm(M=178, N=256, K=1024, dtype='int8')",
    "conv2d(N=1, H=28, W=28, C=64, K=64, R=3, dtype='int8')",
    "conv2d(N=1, H=14, W=14, C=256, K=256, R=1, dtype='int8')",
]
IDEAL_HBM = ["hbm.bandwidth=1000000000 GiB/s", "hbm.latency=0 ns"]


def main(argv=None) -> int:
    import argparse
    ap = argparse.ArgumentParser()
    ap.add_argument("--part", type=int, choices=(1, 2, 3))
    ap.add_argument("--workload", default="resnet50(batch=1, image=224, dtype='int8', bn='folded')")
    ap.add_argument("--json", help="part 3: write the per-op rows here as they finish")
    ap.add_argument("--from-json", help="part 3: print the tables from this file, run nothing")
    ap.add_argument("--ops", default="", help="part 3: ops A:B of the program only (default "
                    "all); ops before A run with the event model's look-ups but no event timing "
                    "(`EventModel.warm_up`: same cache state), so ranges can run in parallel")
    ap.add_argument("--merge", nargs="+", help="part 3: merge range files into --json, print")
    args = ap.parse_args(argv)
    part = args.part
    if part == 3:
        return part3(args)
    import workloads  # noqa: F401
    from archsim.config import load_config
    from archsim.graph import build_workload
    from archsim.hw.manycore.eventsim import EventModel
    from archsim.hw.manycore.stepsync import StepSyncModel
    from archsim.lower.mesh import lower_mesh
    small = ["tiles.rows=8", "tiles.cols=16"]
    cfg = load_config(ROOT / "hwconfigs/upcycle-2048.yaml", overrides=small)
    ideal = load_config(ROOT / "hwconfigs/upcycle-2048.yaml", overrides=small + IDEAL_HBM)
    if part == 2:
        return part2(load_config, build_workload, StepSyncModel, lower_mesh)
    print("Part 1: upcycle-2048 reduced to 8 x 16 tiles (4 L2 groups, 2 HBM stacks)")
    print("| layer | steps | compute/step | stepsync cycles (bound) | event cycles | event / "
          "stepsync | HBM MB | stepsync, ideal HBM | event, ideal HBM | event / stepsync, ideal "
          "HBM | event CPU s |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for spec in LAYERS:
        op = lower_mesh(build_workload(spec), cfg).ops[0]
        s = StepSyncModel(cfg).run_op(op, 0)
        si = StepSyncModel(ideal).run_op(op, 0)
        c0 = time.process_time()
        e = EventModel(cfg).run_op(op, 0)
        ei = EventModel(ideal).run_op(op, 0)
        cpu = time.process_time() - c0
        print(f"| {spec} | {s.steps} | {s.compute_cycles / max(s.steps, 1):,.0f} | "
              f"{s.cycles:,.0f} ({s.bound}) | {e.cycles:,.0f} | {e.cycles / s.cycles:.2f} | "
              f"{s.counters['hbm_bytes'] / 1e6:.2f} | {si.cycles:,.0f} | {ei.cycles:,.0f} | "
              f"{ei.cycles / si.cycles:.2f} | {cpu:.0f} |", flush=True)
    if part == 1:
        return 0
    print()
    return part2(load_config, build_workload, StepSyncModel, lower_mesh)


def part2(load_config, build_workload, StepSyncModel, lower_mesh) -> int:
    print("Part 2: LLC-leg line sampling vs per-line routing, first 20 ops of ResNet-50 "
          "(batch 16, INT8, BN folded), upcycle-2048")
    full = load_config(ROOT / "hwconfigs/upcycle-2048.yaml")
    prog = lower_mesh(build_workload("resnet50(batch=16, dtype='int8', bn='folded')"), full)
    res = {}
    for name, kw in (("exact", dict(samples=10 ** 9, write_samples=10 ** 9)),
                     ("default (32/8)", {})):
        m = StepSyncModel(full, **kw)
        t0 = time.process_time()
        res[name] = [m.run_op(op, i).onchip_cycles for i, op in enumerate(prog.ops[:20])]
        res[name + " cpu"] = time.process_time() - t0
    ex, sa = res["exact"], res["default (32/8)"]
    worst = max(abs(b - a) / a for a, b in zip(ex, sa) if a)
    print(f"on-chip cycles, sum of 20 ops: exact {sum(ex):,.0f}, sampled {sum(sa):,.0f} "
          f"({(sum(sa) - sum(ex)) / sum(ex):+.2%}); worst op {worst:.2%}; CPU s: exact "
          f"{res['exact cpu']:.1f}, sampled {res['default (32/8)' + ' cpu']:.1f}")
    return 0


def layer_class(graph, op) -> str:
    """A short class name of a mesh op: convolution window and stride, epilogue, or kind."""
    if op.kind in ("conv2d", "conv3d"):
        a = graph.op(op.name).attrs
        name = f"conv {a['R']}x{a['S']}" + (f" /{a['stride']}" if a.get("stride", 1) > 1 else "")
    else:
        name = op.kind
    if any(not per_channel for _, _, per_channel in op.epilogue):
        name += " +residual"
    return name


def part3(args) -> int:
    import json
    rows = []
    if args.merge:
        docs = [json.loads(Path(f).read_text()) for f in args.merge]
        head = docs[0]["head"]
        rows = sorted((r for d in docs for r in d["ops"]), key=lambda r: r["i"])
        if len({r["i"] for r in rows}) != len(rows):
            raise SystemExit("--merge: an op appears in two files")
        if args.json:
            Path(args.json).write_text(json.dumps({"head": head, "ops": rows}, indent=1) + "\n")
    elif args.from_json:
        doc = json.loads(Path(args.from_json).read_text())
        rows, head = doc["ops"], doc["head"]
    else:
        import workloads  # noqa: F401
        from archsim.config import load_config
        from archsim.graph import build_workload
        from archsim.hw.manycore.eventsim import EventModel
        from archsim.hw.manycore.stepsync import StepSyncModel
        from archsim.lower.mesh import lower_mesh
        cfg = load_config(ROOT / "hwconfigs/upcycle-2048.yaml")
        graph = build_workload(args.workload)
        prog = lower_mesh(graph, cfg)
        lo, hi = 0, len(prog.ops)
        if args.ops:
            a, b = args.ops.split(":")
            lo, hi = int(a or 0), min(hi, int(b or hi))
        ev, ss = EventModel(cfg), StepSyncModel(cfg)
        ev.set_program(prog.ops)
        ss.set_program(prog.ops)
        ev.warm_up = True
        for i, op in enumerate(prog.ops[:lo]):     # same cache state as an event run of them
            ev.run_op(op, i)
            ss.run_op(op, i)
        ev.warm_up = False
        head = {"workload": args.workload, "machine": cfg.name, "clock_hz": cfg.tiles.clock,
                "ops_total": len(prog.ops), "started": time.strftime("%Y-%m-%d %H:%M:%S UTC",
                                                                      time.gmtime())}
        for i, op in list(enumerate(prog.ops))[lo:hi]:
            c0 = time.process_time()
            events0 = ev.events
            e = ev.run_op(op, i)
            c1 = time.process_time()
            s = ss.run_op(op, i)
            c2 = time.process_time()
            ec = e.counters
            row = {"i": i, "name": op.name, "kind": op.kind, "class": layer_class(graph, op),
                   "steps": s.steps, "stepsync_cycles": s.cycles, "stepsync_bound": s.bound,
                   "stepsync_compute": s.compute_cycles, "stepsync_fetch": s.fetch_cycles,
                   "stepsync_first_fetch": s.counters.get("first_fetch_cycles", 0.0),
                   "stepsync_hbm_bytes": s.counters.get("hbm_bytes", 0),
                   "event_cycles": e.cycles, "event_hbm_bytes": ec.get("hbm_bytes", 0),
                   "event_tiles": ec.get("event_tiles_cycles", 0.0),
                   "event_writes": ec.get("event_writes_cycles", 0.0),
                   "event_hbm": ec.get("event_hbm_cycles", 0.0),
                   "event_first_start": ec.get("event_first_start_cycles", 0.0),
                   "events": ev.events - events0, "event_cpu_s": c1 - c0,
                   "stepsync_cpu_s": c2 - c1}
            rows.append(row)
            print(f"{i} {op.name} [{row['class']}] steps {s.steps}: stepsync {s.cycles:,.0f} "
                  f"({s.bound}), event {e.cycles:,.0f} ({e.cycles / s.cycles:.2f}x); "
                  f"{row['events']:,} events, {c1 - c0:.1f} s CPU", flush=True)
            if args.json:
                Path(args.json).write_text(json.dumps({"head": head, "ops": rows}, indent=1) + "\n")
    print_part3(head, rows)
    return 0


def print_part3(head, rows) -> None:
    clock = head["clock_hz"]
    done = len(rows) == head["ops_total"]
    print(f"\n{head['workload']} on {head['machine']}: {len(rows)} of {head['ops_total']} ops"
          + ("" if done else " (partial run)"))
    tot_s = sum(r["stepsync_cycles"] for r in rows)
    tot_e = sum(r["event_cycles"] for r in rows)
    print(f"sum of op cycles: stepsync {tot_s:,.0f} ({tot_s / clock * 1e6:.1f} us), event "
          f"{tot_e:,.0f} ({tot_e / clock * 1e6:.1f} us), event / stepsync {tot_e / tot_s:.3f}; "
          f"event mode {sum(r['events'] for r in rows):,} events, "
          f"{sum(r['event_cpu_s'] for r in rows):.0f} s CPU; stepsync "
          f"{sum(r['stepsync_cpu_s'] for r in rows):.1f} s CPU")
    if done:
        print(f"samples/s (batch 1): stepsync {clock / tot_s:,.1f}, event {clock / tot_e:,.1f}")
    print("\n| layer class | ops | steps | stepsync cycles | event cycles | event / stepsync | "
          "share of event time | stepsync bound (ops) | event ended by (ops): tiles / writes / "
          "HBM | first step waits, stepsync / event (cycles, mean) | HBM MB stepsync / event |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    classes: dict = {}
    for r in rows:
        classes.setdefault(r["class"], []).append(r)
    for cls, rs in sorted(classes.items(), key=lambda kv: -sum(r["event_cycles"] for r in kv[1])):
        s = sum(r["stepsync_cycles"] for r in rs)
        e = sum(r["event_cycles"] for r in rs)
        bounds: dict = {}
        for r in rs:
            bounds[r["stepsync_bound"]] = bounds.get(r["stepsync_bound"], 0) + 1
        ended = [0, 0, 0]
        for r in rs:
            k = max(range(3), key=lambda j: (r["event_tiles"], r["event_writes"], r["event_hbm"])[j])
            ended[k] += 1
        ff_s = sum(r["stepsync_first_fetch"] for r in rs) / len(rs)
        ff_e = sum(r["event_first_start"] for r in rs) / len(rs)
        print(f"| {cls} | {len(rs)} | {sum(r['steps'] for r in rs)} | {s:,.0f} | {e:,.0f} | "
              f"{e / s:.2f} | {e / tot_e:.0%} | "
              f"{', '.join(f'{k} {v}' for k, v in sorted(bounds.items()))} | "
              f"{ended[0]} / {ended[1]} / {ended[2]} | {ff_s:,.0f} / {ff_e:,.0f} | "
              f"{sum(r['stepsync_hbm_bytes'] for r in rs) / 1e6:.2f} / "
              f"{sum(r['event_hbm_bytes'] for r in rs) / 1e6:.2f} |")


if __name__ == "__main__":
    sys.exit(main())
