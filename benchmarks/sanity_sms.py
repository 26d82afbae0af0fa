"""More SMs, same workload: the measurement behind tests/sanity/test_physical.py's SM tolerance.

(1) Each GPU workload of the sanity test on h200 with 1.25x, 1.5x and 2x the SMs: change in time.
(2) --rank SPEC SMS: every (tile, split-K) plan of the workload's first GEMM ranked by the vendor
    heuristic's score (lower/vendor.py tensor_gemm_plans), each timed alone
    on the model: shows where the fastest plan ranks.
(3) --cost: CPU seconds of the default `archsim run` workload (BERT-base, batch 8, seq 128, 12
    layers) through archsim.simulate. Run it before and after
    `git apply benchmarks/data/tuner_window.patch` (an autotuner that times every plan within 40 %
    of the best score, up to 8) to see that patch's host-time cost; `git apply -R` undoes it.

    PYTHONPATH=. python benchmarks/sanity_sms.py
    PYTHONPATH=. python benchmarks/sanity_sms.py --rank "gemm(M=512, N=768, K=3072)" 198
    PYTHONPATH=. python benchmarks/sanity_sms.py --cost
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from archsim.config import load_config  # noqa: E402
from archsim.graph import build_workload  # noqa: E402
from archsim.simulate import simulate  # noqa: E402

H200 = str(ROOT / "hwconfigs" / "h200.yaml")


def slowdowns() -> None:
    sys.path.insert(0, str(ROOT / "tests" / "sanity"))
    from test_physical import GPU_WORKLOADS
    base_cfg = load_config(H200)
    print("| workload | 132 SMs (us) | 1.25x SMs | 1.5x SMs | 2x SMs |\n|---|---|---|---|---|")
    for spec in GPU_WORKLOADS:
        g = build_workload(spec)
        t0 = simulate(g, base_cfg).time_s
        cells = []
        for f in (1.25, 1.5, 2.0):
            n = max(base_cfg.sm.count + 1, int(base_cfg.sm.count * f))
            t = simulate(g, load_config(H200, [f"sm.count={n}"])).time_s
            cells.append(f"{100 * (t / t0 - 1):+.1f} % ({t * 1e6:.2f} us)")
        print(f"| {spec} | {t0 * 1e6:.2f} | " + " | ".join(cells) + " |", flush=True)


def rank(spec: str, sms: int) -> None:
    import archsim.lower.vendor as V
    from archsim.hw.gpu import run_program
    from archsim.lower.bsp import lower
    g = build_workload(spec)
    cfg = load_config(H200, [f"sm.count={sms}"])
    op = next(o for o in g.ops if o.kind == "gemm")
    M, N, K, batch = op.attrs["M"], op.attrs["N"], op.attrs["K"], op.attrs.get("batch", 1)
    esize = 2
    plans = V.tensor_gemm_plans(M, N, K, batch, esize, cfg.sm.tensor_flops_per_cycle["bf16"], cfg)
    plans.sort(key=lambda c: c[0])
    heuristic = V.plan_gemm(M, N, K, batch, "bf16", cfg)
    print(f"{spec} on {sms} SMs; the heuristic picks {heuristic.tile_n}x{heuristic.tile_m} "
          f"split {heuristic.split_k}")
    print("| rank | score | tile (N x M) | split-K | CTAs | time alone (us) |\n|---|---|---|---|---|---|")
    orig = V.plan_gemm
    try:
        for i, (score, tn, tm, split, tiles) in enumerate(plans[:10], 1):
            units = tiles * split
            limit = V._smem_limit(cfg)
            stages = V._stages(tn, tm, esize, limit)
            plan = V.GemmPlan(tn, tm, V.K_STEP, stages, split, tiles, min(units, cfg.sm.count),
                              units > cfg.sm.count, "tensor", 384,
                              min(limit, stages * (tn + tm) * V.K_STEP * esize), 168)
            V.plan_gemm = lambda *a, _p=plan, **k: _p
            t = run_program(lower(g, cfg), cfg).time_s
            print(f"| {i} | {score:.0f} | {tn}x{tm} | {split} | {min(units, cfg.sm.count)} | {t * 1e6:.2f} |")
    finally:
        V.plan_gemm = orig


def cost() -> None:
    cfg = load_config(H200)
    g = build_workload("bert-base(batch=8, seq=128, layers=12)")
    simulate(build_workload("add(n=1024)"), cfg)                 # imports and first-use costs
    best = []
    for _ in range(3):
        t0 = time.process_time()
        r = simulate(g, cfg)
        best.append(time.process_time() - t0)
    print(f"bert-base(batch=8, seq=128, layers=12) on h200: {r.time_s * 1e6:.1f} us simulated, "
          f"best of 3: {min(best):.2f} CPU s")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rank", nargs=2, metavar=("SPEC", "SMS"))
    ap.add_argument("--cost", action="store_true")
    args = ap.parse_args()
    if args.rank:
        rank(args.rank[0], int(args.rank[1]))
    elif args.cost:
        cost()
    else:
        slowdowns()


if __name__ == "__main__":
    main()
