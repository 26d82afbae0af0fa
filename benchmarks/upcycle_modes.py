"""Where the two execution modes disagree, and why; and what line sampling costs in accuracy.

    python benchmarks/upcycle_modes.py            # both parts
    python benchmarks/upcycle_modes.py --part 1   # or one of them

Part 1 runs matmul and convolution layers on a reduced UPCYCLE (8 x 16 tiles, 4 groups; the
event-driven mesh is Python routers, too slow for 2048 tiles in a benchmark) in both modes and
prints each layer's cycles and the mean per-step fetch time: the step-synchronous estimate
(most-loaded link / link width + longest route x hop latency) against the event-driven drain
of the same packets through the router components.

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
    "gemm(M=512, N=512, K=512, dtype='int8')",
    "gemm(M=16, N=4096, K=1024, dtype='int8')",
    "gemm(M=178, N=1024, K=1024, dtype='int8')",
    "conv2d(N=1, H=28, W=28, C=128, K=128, R=3, dtype='int8')",
    "conv2d(N=1, H=14, W=14, C=256, K=256, R=1, dtype='int8')",
]


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
    cfg = load_config(ROOT / "hwconfigs/upcycle-2048.yaml",
                      overrides=["tiles.rows=8", "tiles.cols=16"])
    if part == 2:
        return part2(load_config, build_workload, StepSyncModel, lower_mesh)
    print("Part 1: upcycle-2048 reduced to 8 x 16 tiles")
    print("| layer | steps | stepsync cycles | event cycles | event / stepsync | "
          "mean fetch/step: estimate | event | compute/step | bound (stepsync) |")
    print("|---|---|---|---|---|---|---|---|---|")
    for spec in LAYERS:
        op = lower_mesh(build_workload(spec), cfg).ops[0]
        s = StepSyncModel(cfg).run_op(op, 0)
        em = EventModel(cfg)
        t0 = time.perf_counter()
        e = em.run_op(op, 0)
        log = [x for x in em.step_log if x[1] > 0]
        est = sum(x[0] for x in log) / max(len(log), 1)
        ev = sum(x[1] for x in log) / max(len(log), 1)
        print(f"| {spec} | {s.steps} | {s.cycles:,.0f} | {e.cycles:,.0f} | "
              f"{e.cycles / s.cycles:.3f} | {est:,.0f} | {ev:,.0f} | "
              f"{s.compute_cycles / max(s.steps, 1):,.0f} | {s.bound} |")
        sys.stdout.flush()
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
