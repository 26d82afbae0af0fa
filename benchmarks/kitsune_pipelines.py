"""Per-pipeline view of one Kitsune dataflow run: CTAs, rings' L2 footprint, spill, time,
and the fallback estimate against BSP, on the paper's A100 config or twice its SMs and L2
bandwidth (the sensitivity what-if of kitsune_speedup.py).

    PYTHONPATH=. python3 benchmarks/kitsune_pipelines.py --app graphcast --phase training [--two-x]
        [--hw hwconfigs/a100-kitsune.yaml] [--no-fallback] [--stages] [--kernels OP ...]

--stages adds a row per stage (kind, tiles, steps, CTAs, pipe time per tile on one CTA) and the
pipeline's tensor and SIMT SM time over the SM count (its compute floor); --kernels lists the
BSP kernels the autotuned lowering picks for the named ops.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from archsim.config import load_config  # noqa: E402
from archsim.hw.dataflow.queue import params_for  # noqa: E402
from archsim.hw.dataflow.run import run_dataflow  # noqa: E402
from kitsune_speedup import graph_of  # noqa: E402
from kitsune_table2 import APPS  # noqa: E402


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--app", required=True, choices=sorted(APPS))
    ap.add_argument("--phase", default="inference", choices=["inference", "training"])
    ap.add_argument("--hw", default=str(ROOT / "hwconfigs" / "a100-kitsune.yaml"))
    ap.add_argument("--two-x", action="store_true")
    ap.add_argument("--no-fallback", action="store_true")
    ap.add_argument("--stages", action="store_true")
    ap.add_argument("--kernels", nargs="+", default=[])
    args = ap.parse_args(argv)
    base = load_config(args.hw)
    ov = (f"sm.count={2 * base.sm.count}", f"l2.bandwidth={2 * base.l2.bandwidth:.6g}B/s",
          f"crossbar.bandwidth={2 * base.crossbar.bandwidth:.6g}B/s") if args.two_x else ()
    cfg = load_config(args.hw, overrides=ov)
    c0 = time.process_time()
    df = run_dataflow(graph_of(args.app, args.phase), cfg, fallback=not args.no_fallback)
    cpu = time.process_time() - c0
    x = df.extra["dataflow"]
    region = params_for(cfg).capacity_bytes(cfg)
    print(f"{args.app} {args.phase} on {cfg.name} {' '.join(ov) or '(base)'}: dataflow "
          f"{df.time_s * 1e3:.3f} ms, BSP {x['bsp_time_s'] * 1e3:.3f} ms, "
          f"{len(x['fallback_to_bsp'])} of {len(x['predicted'])} segments fell back; "
          f"queue region {region / 1e6:.1f} MB; {cpu:.1f} s CPU")
    print("\n| pipeline | time us | CTAs | rings MB | spilled share |")
    print("|---|---:|---:|---:|---:|")
    for p in x["pipelines"]:
        print(f"| {p['name']} | {p['time_s'] * 1e6:.1f} | {sum(s['ctas'] for s in p['stages'])} | "
              f"{p['queue_footprint_bytes'] / 1e6:.1f} | {p['spill_fraction']:.2f} |")
    if args.stages:
        for p in x["pipelines"]:
            print(f"\n{p['name']}:\n")
            print("| stage | kind | tiles | steps | CTAs | pipe us per tile | ops |")
            print("|---|---|---:|---:|---:|---:|---|")
            sm = {"tensor": 0.0, "simt": 0.0}
            for st in p["stages"]:
                sm[st["kind"]] += st["tiles"] * st["compute_s_per_tile"]
                print(f"| {st['name']} | {st['kind']} | {st['tiles']} | {st['steps']} | "
                      f"{st['ctas']} | {st['compute_s_per_tile'] * 1e6:.2f} | "
                      f"{', '.join(st['ops'][:3])} |")
            print(f"\nSM time: tensor {sm['tensor'] * 1e3:.1f} ms-SM = "
                  f"{sm['tensor'] / cfg.sm.count * 1e3:.3f} ms on {cfg.sm.count} SMs, SIMT "
                  f"{sm['simt'] * 1e3:.1f} ms-SM = {sm['simt'] / cfg.sm.count * 1e3:.3f} ms")
    if args.kernels:
        from archsim.hw.gpu import _gemm_tuner
        from archsim.lower import lower
        prog = lower(graph_of(args.app, args.phase), cfg, mode="bsp", tuner=_gemm_tuner(cfg))
        print()
        for o in prog.ops:
            if o.op in args.kernels:
                for k in o.kernels:
                    print(f"{o.op}: {k.name}, {k.units} units")
    print("\n| segment | estimate us | BSP us |")
    print("|---|---:|---:|")
    for q in x["predicted"]:
        print(f"| {q['pipeline']} | {q['predicted_s'] * 1e6:.1f} | {q['bsp_s'] * 1e6:.1f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
