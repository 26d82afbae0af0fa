"""LookupFFN kernels measured with numpy on this machine, beside the CPU model's prediction.

    OPENBLAS_NUM_THREADS=1 python benchmarks/lookupffn_measure.py [--tokens 32768] [--repeats 5]
        [--out benchmarks/data/lookupffn_measure.json]

One core (OPENBLAS_NUM_THREADS=1 is set by the script before numpy loads): numpy's gathers are
single-threaded, and the development machine's 2 cores are shared, so a one-core comparison is
the one that is fair to both sides.

Measured (fp32, hidden 512, 128 tables of 256 rows, codes and scores from a seeded random
LookupFFN on seeded N(0,1) tokens — the same draw the workload graph counts its rows from):
- dense FFN: x W1 + b1, GELU, W2 + b2 (512 -> 2048 -> 512);
- gather-add, token-major (solvers.lookupffn.kernels.gather_add_token_major, chunks of 64);
- gather-add, table-major tiled (gather_add_table_major, tiles of 64 tokens, one table at a time).
Each is timed `repeats` times after one warm-up; the median CPU time of the process is
reported with min and max (and the median wall time beside: see `timed`).

Calibration of the simulated machine (this host as a CPU config: xeon-host.yaml with
overrides): the core clock, SIMD width and cache sizes from lscpu; two numbers measured here
by this script and fitted — the single-core DRAM bandwidth (a 512 MiB numpy copy) and the GEMM
efficiency (a 2048^3 fp32 matmul). The three kernels above are not fitted: they are the test.
"""
from __future__ import annotations

import os

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import argparse  # noqa: E402
import json  # noqa: E402
import statistics  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from archsim.config import load_config  # noqa: E402
from archsim.graph import build_workload  # noqa: E402
from archsim.simulate import simulate  # noqa: E402
from solvers.lookupffn.dense import gelu  # noqa: E402
from solvers.lookupffn.kernels import (gather_add_table_major,  # noqa: E402
                                       gather_add_token_major)
from solvers.lookupffn.layer import LookupFFN, codes_and_scores  # noqa: E402

# this host, from lscpu: AMD EPYC (Zen 3 class, family 25), 2 cores, AVX2 + FMA (2 FMA pipes of
# 8 fp32 lanes: 32 flop/cycle), 32 KiB L1d, 512 KiB L2 per core, 32 MiB L3; BogoMIPS 4890 ->
# 2.45 GHz
HOST = {"clock_hz": 2.45e9, "simd_fp32": 32, "l1": "32KiB", "l2": "512KiB", "l3": "32MiB"}


def timed(fn, repeats: int) -> dict:
    """CPU seconds of this (single-threaded) process per run: median, min, max; wall seconds
    beside. On a shared machine the wall time counts other jobs' turns on the core; the CPU
    time does not (it still pays for their use of the shared L3 and memory bandwidth)."""
    fn()   # warm-up
    ts, walls = [], []
    for _ in range(repeats):
        w, t = time.perf_counter(), time.process_time()
        fn()
        ts.append(time.process_time() - t)
        walls.append(time.perf_counter() - w)
    return {"median_s": statistics.median(ts), "min_s": min(ts), "max_s": max(ts), "runs": ts,
            "wall_median_s": statistics.median(walls), "wall_runs": walls}


def calibrate(repeats: int) -> dict:
    a = np.ones(128 << 20, dtype=np.float32)          # 512 MiB
    b = np.empty_like(a)
    copy = timed(lambda: np.copyto(b, a), repeats)
    n = 2048
    x = np.random.default_rng(0).standard_normal((n, n), dtype=np.float32)
    mm = timed(lambda: x @ x, repeats)
    bw = 2 * a.nbytes / copy["median_s"]               # read + write
    gflops = 2 * n ** 3 / mm["median_s"]
    return {"copy": copy, "copy_bytes": 2 * a.nbytes, "dram_bandwidth": bw,
            "gemm": mm, "gemm_flops_per_s": gflops,
            "gemm_efficiency": gflops / (HOST["simd_fp32"] * HOST["clock_hz"])}


def host_config(cal: dict):
    sets = [
        "cores.count=1", f"cores.clock={HOST['clock_hz'] / 1e9}GHz",
        f"cores.simd_flops_per_cycle.fp32={HOST['simd_fp32']}",
        f"cores.efficiency.gemm={cal['gemm_efficiency']:.4f}",
        f"l1.size={HOST['l1']}", f"l2.size={HOST['l2']}", f"l3.size={HOST['l3']}",
        f"dram.bandwidth={cal['dram_bandwidth'] / 1e9:.2f}GB/s",
    ]
    return load_config(REPO / "hwconfigs" / "xeon-host.yaml", overrides=sets), sets


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tokens", type=int, default=32768)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--out", default=str(REPO / "benchmarks" / "data" / "lookupffn_measure.json"))
    ap.add_argument("--host", default="",
                    help="another host's lscpu facts as clock_hz=..,simd_fp32=..,l1=..,l2=..,l3=.."
                         " (default: this development machine)")
    ap.add_argument("--sim-only", action="store_true",
                    help="re-simulate with the calibration and measurements stored in --out "
                         "(e.g. on another CPU model) instead of measuring again")
    args = ap.parse_args(argv)
    for item in filter(None, args.host.split(",")):
        k, v = item.split("=")
        HOST[k] = float(v) if k in ("clock_hz", "simd_fp32") else v
    HOST["simd_fp32"] = int(HOST["simd_fp32"])
    n, d, h, bits, tile = args.tokens, 512, 128, 8, 64
    print(f"host: {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.2f} "
          f"(shared machine: wall times are inflated by other jobs)")

    if args.sim_only:
        return resimulate(Path(args.out))
    rng = np.random.default_rng(0)   # the draw workloads.lookupffn.draw_stats makes (seed 0)
    layer = LookupFFN.init(d, h, bits, "bh4", rng, dtype=np.float32)
    x = rng.standard_normal((n, d), dtype=np.float32)
    codes, scores = codes_and_scores(layer.project(x), h, bits)
    scores = scores.astype(np.float32)
    tables = layer.params["tables"]
    w1 = (rng.standard_normal((d, 4 * d), dtype=np.float32) / np.sqrt(d)).astype(np.float32)
    w2 = (rng.standard_normal((4 * d, d), dtype=np.float32) / np.sqrt(4 * d)).astype(np.float32)
    b1, b2 = np.zeros(4 * d, np.float32), np.zeros(d, np.float32)

    cal = calibrate(args.repeats)
    meas = {
        "dense_ffn": timed(lambda: gelu(x @ w1 + b1) @ w2 + b2, args.repeats),
        "gather_token_major": timed(lambda: gather_add_token_major(tables, codes, scores, 64),
                                    args.repeats),
        "gather_table_major": timed(lambda: gather_add_table_major(tables, codes, scores, tile),
                                    args.repeats),
    }
    cfg, sets = host_config(cal)
    specs = {
        "dense_ffn": f"lookupffn(tokens={n}, ffn='dense', dtype='fp32')",
        "gather_token_major": f"lookupffn(tokens={n}, part='gather', order='token', dtype='fp32')",
        "gather_table_major": f"lookupffn(tokens={n}, part='gather', order='table', tile={tile}, "
                              f"dtype='fp32')",
    }
    sim = {}
    for k, spec in specs.items():
        r = simulate(build_workload(spec), cfg)
        hit, miss = r.l2_hit_bytes, r.dram_read_bytes
        sim[k] = {"spec": spec, "time_s": r.time_s, "dram_read_bytes": miss,
                  "llc_hit_rate": hit / (hit + miss) if hit + miss else 0.0,
                  "bound": [o.bound for o in r.ops]}

    print(f"\ncalibration (fitted): copy {cal['dram_bandwidth'] / 1e9:.2f} GB/s (read+write), "
          f"GEMM {cal['gemm_flops_per_s'] / 1e9:.1f} GFLOP/s = efficiency "
          f"{cal['gemm_efficiency']:.3f} of {HOST['simd_fp32']} flop/cycle x "
          f"{HOST['clock_hz'] / 1e9} GHz")
    print("simulated machine: xeon-host.yaml with --set " + " ".join(sets))
    print(f"\n{n} tokens, hidden {d}, {h} tables x {1 << bits} rows, fp32, 1 core; "
          f"measured: median of {args.repeats} (min-max)")
    print(f"| kernel | measured s | spread | simulated s | sim error | sim bound | sim LLC hit |")
    print("|---|---:|---:|---:|---:|---|---:|")
    for k in specs:
        m, s = meas[k], sim[k]
        err = s["time_s"] / m["median_s"] - 1
        print(f"| {k} | {m['median_s']:.3f} | {m['min_s']:.3f}-{m['max_s']:.3f} | "
              f"{m['wall_median_s']:.3f} | {s['time_s']:.3f} | {100 * err:+.0f}% | {','.join(s['bound'])} | "
              f"{100 * s['llc_hit_rate']:.0f}% |")
    print("\nspeedup of the gather-add over the dense FFN (dense time / gather time):")
    print("| gather | measured | simulated | sim / meas - 1 | within 25 %? | same winner? |")
    print("|---|---:|---:|---:|---|---|")
    rows = {}
    for k in ("gather_token_major", "gather_table_major"):
        ms = meas["dense_ffn"]["median_s"] / meas[k]["median_s"]
        ss = sim["dense_ffn"]["time_s"] / sim[k]["time_s"]
        rows[k] = {"measured": ms, "simulated": ss}
        print(f"| {k} | {ms:.2f}x | {ss:.2f}x | {100 * (ss / ms - 1):+.0f}% | "
              f"{'yes' if abs(ss / ms - 1) <= 0.25 else 'no'} | "
              f"{'yes' if (ms > 1) == (ss > 1) else 'no'} |")
    mt = meas["gather_token_major"]["median_s"] / meas["gather_table_major"]["median_s"]
    st = sim["gather_token_major"]["time_s"] / sim["gather_table_major"]["time_s"]
    print(f"| tiled over naive (naive time / tiled time) | {mt:.2f}x | {st:.2f}x | "
          f"{100 * (st / mt - 1):+.0f}% | {'yes' if abs(st / mt - 1) <= 0.25 else 'no'} | "
          f"{'yes' if (mt > 1) == (st > 1) else 'no'} |")
    out = {"tokens": n, "host": HOST, "calibration": cal, "config_overrides": sets,
           "measured": meas, "simulated": sim, "speedups": rows,
           "tiled_over_naive": {"measured": mt, "simulated": st},
           "load_average": os.getloadavg()}
    p = Path(args.out)
    p.parent.mkdir(parents=True, exist_ok=True)
    tmp = p.with_suffix(".tmp")
    tmp.write_text(json.dumps(out, indent=1))
    tmp.replace(p)
    print(f"\nwrote {p}")
    return 0


def resimulate(path: Path) -> int:
    """Simulate the three kernels again from a stored measurement (its calibration, tokens and
    host) on the CPU model of this checkout; print measured beside simulated; write nothing."""
    import archsim.hw.cpu.model as cpu_model
    rec = json.loads(path.read_text())
    HOST.update(rec["host"])
    cfg, sets = host_config(rec["calibration"])
    print(f"CPU model: {cpu_model.__doc__.strip().splitlines()[0]}")
    print(f"stored measurement: {path.name}; machine: xeon-host.yaml --set " + " ".join(sets))
    print("| kernel | measured CPU s | simulated s | sim error | L1/L2/LLC hit |")
    print("|---|---:|---:|---:|---|")
    sim = {}
    for k, s in rec["simulated"].items():
        r = simulate(build_workload(s["spec"]), cfg)
        c = r.counters
        lv = "/".join(f"{100 * c[f'{x}.hits'] / c[f'{x}.accesses']:.0f}"
                      for x in ("l1", "l2", "llc") if c.get(f"{x}.accesses")) or "-"
        sim[k] = r.time_s
        m = rec["measured"][k]["median_s"]
        print(f"| {k} | {m:.3f} | {r.time_s:.3f} | {100 * (r.time_s / m - 1):+.0f}% | {lv} |")
    print("| speedup (dense / gather) | measured | simulated | sim / meas - 1 |")
    print("|---|---:|---:|---:|")
    meas = {k: v["median_s"] for k, v in rec["measured"].items()}
    for k in ("gather_token_major", "gather_table_major"):
        ms, ss = meas["dense_ffn"] / meas[k], sim["dense_ffn"] / sim[k]
        print(f"| {k} | {ms:.2f}x | {ss:.2f}x | {100 * (ss / ms - 1):+.0f}% |")
    mt = meas["gather_token_major"] / meas["gather_table_major"]
    st = sim["gather_token_major"] / sim["gather_table_major"]
    print(f"| tiled over naive | {mt:.2f}x | {st:.2f}x | {100 * (st / mt - 1):+.0f}% |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
