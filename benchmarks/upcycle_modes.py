"""Where the two execution modes disagree, and why; and what line sampling costs in accuracy.

    python benchmarks/upcycle_modes.py            # both parts
    python benchmarks/upcycle_modes.py --part 1   # or one of them

Part 1 runs matmul and convolution layers on a reduced UPCYCLE (8 x 16 tiles, 4 groups; the
event mode is Python components, one event per packet per hop, too slow for 2048 tiles in a
benchmark) in both modes, once with the configured HBM and once with an ideal one (no latency,
unbounded bandwidth), and prints each layer's cycles: the step-synchronous formula against the
event-driven components (tiles, group L2s, LLC, HBM stacks and mesh) running the same steps and
cache look-ups.

Part 2 runs the first 20 ops of ResNet-50 (batch 16, INT8) on the full 2048-tile chip with the
LLC legs routed per line (exact) and with the default sampling (32 lines per block read, 8 per
block written), and prints the on-chip cycles of each and the relative error.
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
    ap.add_argument("--part", type=int, choices=(1, 2))
    part = ap.parse_args(argv).part
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


if __name__ == "__main__":
    sys.exit(main())
