"""LookupFFN kernels measured with numpy on this machine, beside the CPU model's prediction.

    python benchmarks/lookupffn_measure.py [--tokens 32768] [--repeats 5] [--cpu 1]
        [--out benchmarks/data/lookupffn_measure.json]
    python benchmarks/lookupffn_measure.py --sim-only     # re-simulate the stored measurement

One core: the script pins itself to CPU `--cpu` (sched_setaffinity) and sets OPENBLAS/OMP/MKL
threads to 1 before numpy loads; numpy's gathers are single-threaded, and the development
machine's 2 cores are shared with other jobs, so a one-core comparison is fair to both sides.
Every kernel is timed `repeats` times, the kernels interleaved (round-robin, the order rotated
each round) so that load from other jobs falls on all of them alike; the *minimum* CPU time of
the process is the measurement (the least disturbed run), the median is printed beside it, and
the load average and CPU count are recorded.

Measured (fp32, hidden 512, 128 tables of 256 rows, codes and scores from a seeded random
LookupFFN on seeded N(0,1) tokens — the draw the workload graphs count their rows from):
- dense FFN: solvers.lookupffn.dense.dense_ffn_inplace (x W1 + b1, tanh-GELU, W2 + b2, in-place
  passes; numpy's u ** 3 would call libm's pow per element and cost more than a GEMM);
- gather-add, token-major (kernels.gather_add_token_major, chunks of 64 tokens);
- gather-add, table-major tiled (kernels.gather_add_table_major, tiles of 64 tokens, one table
  at a time).

What the simulator is given: the program numpy runs for each kernel (workloads.lookupffn
numpy_*_program: one op per numpy call, numpy's staging buffers, the rows the codes draw), on
xeon-host.yaml with this host's lscpu facts and four numbers measured by this script on
*other* kernels and fitted (the calibration set):
- dram.bandwidth: a 512 MiB numpy copy (read + write);
- cores.efficiency.gemm: a 2048^3 fp32 matmul;
- cores.call_overhead: numpy's per-call dispatch, from calls on 1-row arrays;
- cores.demand_lines: the lines one core keeps in flight on random-row misses, fitted so the
  simulated gather-accumulate calibration kernel (np.take of 64 rows of 2 KiB, then acc += rows)
  matches its measurement from a 256 MiB table;
- l3.size: the last-level capacity this process effectively keeps on the shared machine,
  fitted on the same kernel from 4 MiB and 16 MiB tables.
The same kernel from 128 KiB and 64 MiB tables is held out, and so are the three LookupFFN
kernels above (the test).
"""
from __future__ import annotations

import os

for _v in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_v, "1")

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
from archsim.simulate import simulate  # noqa: E402
from solvers.lookupffn.dense import dense_ffn_inplace  # noqa: E402
from solvers.lookupffn.kernels import (gather_add_table_major,  # noqa: E402
                                       gather_add_token_major)
from solvers.lookupffn.layer import LookupFFN, codes_and_scores  # noqa: E402
from workloads.lookupffn import (numpy_dense_program, numpy_gather_accumulate_program,  # noqa: E402
                                 numpy_gather_program)

# this host, from lscpu: AMD EPYC (Zen 3 class, family 25), 2 cores, AVX2 + FMA (2 FMA pipes of
# 8 fp32 lanes: 32 flop/cycle), 32 KiB L1d, 512 KiB L2 per core, 32 MiB L3; BogoMIPS 4890 ->
# 2.45 GHz
HOST = {"clock_hz": 2.45e9, "simd_fp32": 32, "l1": "32KiB", "l2": "512KiB", "l3": "32MiB"}
KERNELS = ("dense_ffn", "gather_token_major", "gather_table_major")
CAL_TABLES = (64, 2048, 8192, 32768, 131072)      # rows of 2 KiB: 128 KiB ... 256 MiB
CAL_FIT = 131072                                   # the one the fill buffers are fitted on
CAL_L3 = (2048, 8192)                              # the ones the effective L3 is fitted on
CAL_ROWS = 1 << 13                                 # rows gathered per calibration run
TILE_SIM = 4                                       # tiles per simulated slice of the tiled kernel


def cal_indices(rows: int) -> np.ndarray:
    """The calibration kernel's row indices for a table of `rows` rows (seeded by the size)."""
    return np.random.default_rng(rows).integers(0, rows, CAL_ROWS)


def timed_rounds(fns: dict, repeats: int) -> dict:
    """CPU seconds of this process per run of each fn, `repeats` interleaved rounds after one
    warm-up each: min (the measurement), median, all runs; wall seconds beside."""
    for f in fns.values():
        f()
    ts = {k: [] for k in fns}
    walls = {k: [] for k in fns}
    keys = list(fns)
    for r in range(repeats):
        for k in keys[r % len(keys):] + keys[:r % len(keys)]:
            w, t = time.perf_counter(), time.process_time()
            fns[k]()
            ts[k].append(time.process_time() - t)
            walls[k].append(time.perf_counter() - w)
    return {k: {"min_s": min(ts[k]), "median_s": statistics.median(ts[k]), "runs": ts[k],
                "wall_min_s": min(walls[k]), "wall_runs": walls[k]} for k in fns}


def calibrate(repeats: int, rng) -> dict:
    a = np.ones(128 << 20, dtype=np.float32)          # 512 MiB
    b = np.empty_like(a)
    n = 2048
    x = rng.standard_normal((n, n), dtype=np.float32)
    m = timed_rounds({"copy": lambda: np.copyto(b, a), "gemm": lambda: x @ x}, repeats)
    del a, b
    # numpy's per-call dispatch: the calls the kernels make, on 1-row operands (L1-resident)
    t1 = rng.standard_normal((64, 512), dtype=np.float32)
    one = np.empty((1, 512), np.float32)
    i1 = np.zeros(1, np.int64)
    s1 = np.ones((1, 1), np.float32)
    z1 = np.zeros((1, 512), np.float32)
    calls = 20000

    def take():
        for _ in range(calls):
            np.take(t1, i1, axis=0, out=one, mode="clip")

    def mul():
        for _ in range(calls):
            one.__imul__(s1)

    def add():
        for _ in range(calls):
            one.__iadd__(z1)
    c = timed_rounds({"take": take, "mul": mul, "add": add}, repeats)
    call_s = statistics.mean(c[k]["min_s"] / calls for k in c)
    # gather-accumulate of 64-row calls from tables of several sizes (fill buffers: fit on one)
    big = rng.standard_normal((max(CAL_TABLES), 512), dtype=np.float32)
    buf, acc = np.empty((64, 512), np.float32), np.zeros((64, 512), np.float32)
    idx = {r: cal_indices(r) for r in CAL_TABLES}

    def gacc(r):
        def f():
            ix = idx[r]
            for s in range(0, CAL_ROWS, 64):
                np.take(big, ix[s:s + 64], axis=0, out=buf, mode="clip")
                acc.__iadd__(buf)
        return f
    g = timed_rounds({r: gacc(r) for r in CAL_TABLES}, repeats)
    return {"copy": m["copy"], "copy_bytes": 2 * (128 << 22), "gemm": m["gemm"],
            "dram_bandwidth": 2 * (128 << 22) / m["copy"]["min_s"],
            "gemm_flops_per_s": 2 * n ** 3 / m["gemm"]["min_s"],
            "gemm_efficiency": 2 * n ** 3 / m["gemm"]["min_s"] / (HOST["simd_fp32"] * HOST["clock_hz"]),
            "calls": {k: v["min_s"] / calls for k, v in c.items()}, "call_overhead_s": call_s,
            "gather_accumulate": {str(r): g[r] for r in CAL_TABLES}}


def host_config(cal: dict, demand_lines: int | None = None, l3: str | None = None):
    sets = [
        "cores.count=1", f"cores.clock={HOST['clock_hz'] / 1e9}GHz",
        f"cores.simd_flops_per_cycle.fp32={HOST['simd_fp32']}",
        f"cores.efficiency.gemm={min(1.0, cal['gemm_efficiency']):.4f}",
        f"l1.size={HOST['l1']}", f"l2.size={HOST['l2']}", f"l3.size={l3 or HOST['l3']}",
        f"dram.bandwidth={cal['dram_bandwidth'] / 1e9:.2f}GB/s",
        f"cores.call_overhead={cal['call_overhead_s'] * 1e9:.0f}ns",
    ]
    if demand_lines:
        sets.append(f"cores.demand_lines={demand_lines}")
    return load_config(REPO / "hwconfigs" / "xeon-host.yaml", overrides=sets), sets


def sim_levels(r) -> dict:
    c = r.counters
    return {x: c[f"{x}.hits"] / c[f"{x}.accesses"] for x in ("l1", "l2", "llc")
            if c.get(f"{x}.accesses")}


def sim_gacc(cal: dict, rows: int, F: int, l3: str | None = None) -> float:
    cfg, _ = host_config(cal, F, l3)
    ix = cal_indices(rows)
    return simulate(numpy_gather_accumulate_program(ix, rows), cfg, exec_mode="cpu").time_s


def fit_demand_lines(cal: dict) -> int:
    """The smallest F (lines in flight) whose simulated calibration kernel on the CAL_FIT
    table is no slower than measured (time falls as F grows: bisection)."""
    target = cal["gather_accumulate"][str(CAL_FIT)]["min_s"]
    lo, hi = 1, 256
    while lo < hi:
        mid = (lo + hi) // 2
        if sim_gacc(cal, CAL_FIT, mid) <= target:
            hi = mid
        else:
            lo = mid + 1
    return lo


def fit_l3(cal: dict, F: int) -> str:
    """The last-level capacity this process effectively keeps (the 32 MiB L3 is shared with
    the other core's jobs): the power of two, 1-32 MiB, that best fits (least squared log
    error) the calibration kernel on the CAL_L3 tables, with F lines of fill buffers."""
    def err(l3):
        return sum(np.log(sim_gacc(cal, r, F, l3) / cal["gather_accumulate"][str(r)]["min_s"]) ** 2
                   for r in CAL_L3)
    return min((f"{m}MiB" for m in (1, 2, 4, 8, 16, 32)), key=err)


def simulate_kernels(cal: dict, codes: np.ndarray, rows: int, tile: int, F: int,
                     l3: str | None = None) -> dict:
    """The three kernels' numpy programs on the host config. The tiled kernel is simulated on
    its first TILE_SIM and 2·TILE_SIM tiles; the difference (steady state, the LLC warm) is
    scaled to all tiles and added to the first slice (its cold start)."""
    cfg, sets = host_config(cal, F, l3)
    n = codes.shape[0]
    out = {}
    for k, g in (("dense_ffn", lambda: numpy_dense_program(n)),
                 ("gather_token_major", lambda: numpy_gather_program("token", codes, rows, chunk=64))):
        r = simulate(g(), cfg, exec_mode="cpu")
        out[k] = {"time_s": r.time_s, "levels": sim_levels(r), "dram_read": r.dram_read_bytes,
                  "bound": sorted({o.bound for o in r.ops})}
    ntiles = -(-n // tile)
    r1 = simulate(numpy_gather_program("table", codes, rows, chunk=tile, tiles=TILE_SIM), cfg,
                  exec_mode="cpu")
    r2 = simulate(numpy_gather_program("table", codes, rows, chunk=tile, tiles=2 * TILE_SIM),
                  cfg, exec_mode="cpu")
    per_tile = (r2.time_s - r1.time_s) / TILE_SIM
    out["gather_table_major"] = {"time_s": r1.time_s + per_tile * (ntiles - TILE_SIM),
                                 "levels": sim_levels(r2), "dram_read": None,
                                 "bound": sorted({o.bound for o in r2.ops}),
                                 "slices": [r1.time_s, r2.time_s], "tiles": ntiles}
    return {"kernels": out, "config_overrides": sets}


def report(rec: dict) -> None:
    meas, sim = rec["measured"], rec["simulated"]["kernels"]
    cal = rec["calibration"]
    print(f"\ncalibration (fitted on other kernels): copy {cal['dram_bandwidth'] / 1e9:.2f} GB/s "
          f"(read+write), GEMM {cal['gemm_flops_per_s'] / 1e9:.1f} GFLOP/s, numpy call "
          f"{cal['call_overhead_s'] * 1e9:.0f} ns (take/mul/add: "
          + ", ".join(f"{v * 1e9:.0f}" for v in cal["calls"].values())
          + f"), demand fill buffers {rec['demand_lines']} lines")
    print("simulated machine: xeon-host.yaml --set " + " ".join(rec["simulated"]["config_overrides"]))
    print("\ngather-accumulate calibration kernel (np.take of 64 rows of 2 KiB + acc += rows, "
          f"{CAL_ROWS} rows), measured min CPU s vs simulated:")
    print("| table | measured s | simulated s | error | set |")
    print("|---:|---:|---:|---:|---|")
    for r, v in rec["calibration_sim"].items():
        m = cal["gather_accumulate"][r]["min_s"]
        print(f"| {int(r) * 2048 / 2**20:g} MiB | {m:.4f} | {v:.4f} | {100 * (v / m - 1):+.0f}% | "
              f"{'fitted: fill buffers' if int(r) == CAL_FIT else 'fitted: L3' if int(r) in CAL_L3 else 'held out'} |")
    print(f"\n{rec['tokens']} tokens, hidden 512, 128 tables x 256 rows, fp32, 1 core; "
          f"measured: min (median) CPU s of {rec['repeats']} interleaved runs")
    print("| kernel | measured s | median | simulated s | sim error | L1/L2/LLC hit (sim) | sim bound |")
    print("|---|---:|---:|---:|---:|---|---|")
    for k in KERNELS:
        m, s = meas[k], sim[k]
        lv = "/".join(f"{100 * s['levels'][x]:.0f}" for x in ("l1", "l2", "llc") if x in s["levels"])
        print(f"| {k} | {m['min_s']:.3f} | {m['median_s']:.3f} | {s['time_s']:.3f} | "
              f"{100 * (s['time_s'] / m['min_s'] - 1):+.0f}% | {lv}% | {','.join(s['bound'])} |")
    print("\n| ratio (time of A / time of B) | measured | simulated | sim / meas - 1 | "
          "within 25 %? | same winner? |")
    print("|---|---:|---:|---:|---|---|")
    ok = True
    for a, b in (("gather_token_major", "dense_ffn"), ("gather_table_major", "dense_ffn"),
                 ("gather_token_major", "gather_table_major")):
        mr = meas[a]["min_s"] / meas[b]["min_s"]
        sr = sim[a]["time_s"] / sim[b]["time_s"]
        w, same = abs(sr / mr - 1) <= 0.25, (mr > 1) == (sr > 1)
        ok &= w and same
        print(f"| {a} / {b} | {mr:.2f} | {sr:.2f} | {100 * (sr / mr - 1):+.0f}% | "
              f"{'yes' if w else 'no'} | {'yes' if same else 'no'} |")
    mw = min(KERNELS, key=lambda k: meas[k]["min_s"])
    sw = min(KERNELS, key=lambda k: sim[k]["time_s"])
    print(f"\nfastest: measured {mw}, simulated {sw}; all three ratios within 25 % with the "
          f"same winner: {'yes' if ok and mw == sw else 'no'}")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tokens", type=int, default=32768)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--cpu", type=int, default=1, help="CPU to pin to (-1: do not pin)")
    ap.add_argument("--out", default=str(REPO / "benchmarks" / "data" / "lookupffn_measure.json"))
    ap.add_argument("--sim-only", action="store_true",
                    help="re-simulate with the calibration and measurements stored in --out "
                         "(e.g. on another CPU model) instead of measuring again")
    args = ap.parse_args(argv)
    n, d, h, bits, tile = args.tokens, 512, 128, 8, 64
    rng = np.random.default_rng(0)   # the draw workloads.lookupffn.draw_stats makes (seed 0)
    layer = LookupFFN.init(d, h, bits, "bh4", rng, dtype=np.float32)
    x = rng.standard_normal((n, d), dtype=np.float32)
    codes, scores = codes_and_scores(layer.project(x), h, bits)
    if args.sim_only:
        rec = json.loads(Path(args.out).read_text())
        HOST.update(rec["host"])
        F = fit_demand_lines(rec["calibration"])
        l3 = fit_l3(rec["calibration"], F)
        rec["demand_lines"], rec["l3_effective"] = F, l3
        rec["calibration_sim"] = {r: sim_gacc(rec["calibration"], int(r), F, l3)
                                  for r in rec["calibration"]["gather_accumulate"]}
        rec["simulated"] = simulate_kernels(rec["calibration"], codes, 1 << bits, tile, F, l3)
        report(rec)
        return 0
    if args.cpu >= 0:
        os.sched_setaffinity(0, {args.cpu})
    load0 = os.getloadavg()
    print(f"host: nproc {os.cpu_count()}, pinned to {sorted(os.sched_getaffinity(0))}, "
          f"load average {load0[0]:.2f} {load0[1]:.2f} {load0[2]:.2f} (shared machine)", flush=True)
    scores = scores.astype(np.float32)
    tables = layer.params["tables"]
    w1 = (rng.standard_normal((d, 4 * d), dtype=np.float32) / np.sqrt(d)).astype(np.float32)
    w2 = (rng.standard_normal((4 * d, d), dtype=np.float32) / np.sqrt(4 * d)).astype(np.float32)
    b1, b2 = np.zeros(4 * d, np.float32), np.zeros(d, np.float32)
    cal = calibrate(args.repeats, np.random.default_rng(1))
    meas = timed_rounds({
        "dense_ffn": lambda: dense_ffn_inplace(x, w1, b1, w2, b2),
        "gather_token_major": lambda: gather_add_token_major(tables, codes, scores, 64),
        "gather_table_major": lambda: gather_add_table_major(tables, codes, scores, tile),
    }, args.repeats)
    load1 = os.getloadavg()
    print(f"measured; load average now {load1[0]:.2f}; simulating ...", flush=True)
    F = fit_demand_lines(cal)
    l3 = fit_l3(cal, F)
    rec = {"tokens": n, "repeats": args.repeats, "host": HOST, "nproc": os.cpu_count(),
           "affinity": sorted(os.sched_getaffinity(0)),
           "threads": {v: os.environ.get(v) for v in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS")},
           "load_average": {"start": load0, "end": load1}, "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
           "calibration": cal, "demand_lines": F, "l3_effective": l3, "measured": meas}
    rec["calibration_sim"] = {str(r): sim_gacc(cal, r, F, l3) for r in CAL_TABLES}
    rec["simulated"] = simulate_kernels(cal, codes, 1 << bits, tile, F, l3)
    report(rec)
    p = Path(args.out)
    p.parent.mkdir(parents=True, exist_ok=True)
    tmp = p.with_suffix(".tmp")
    tmp.write_text(json.dumps(rec, indent=1, default=float))
    tmp.replace(p)
    print(f"\nwrote {p}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
