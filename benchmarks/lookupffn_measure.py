"""LookupFFN kernels measured with numpy on this machine, beside the CPU model's prediction.

    python benchmarks/lookupffn_measure.py [--tokens 32768] [--repeats 5] [--cpu 1]
        [--host dev|xeon] [--out benchmarks/data/lookupffn_measure.json]
    python benchmarks/lookupffn_measure.py --sim-only [--save]   # re-simulate the stored one
    python benchmarks/lookupffn_measure.py --measure-only ...     # numpy only (another host)
    python benchmarks/lookupffn_measure.py --sim-only --without-new-costs   # the ablation
    python benchmarks/lookupffn_measure.py --report-only [--ablate-dense]   # the stored record

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
  fitted on the same kernel from 4 MiB and 16 MiB tables (xeon: 4-256 MiB);
- l2.bandwidth (since the third stage): one core's L2 rate, fitted on the same kernel from a
  128 KiB table (L2-resident).
The same kernel from a 64 MiB table is held out (dev), and so are the three LookupFFN
kernels above (the test). Since issue 12's third stage, two more:
- cores.elementwise_cycles.{tanh,exp}: numpy's float32 tanh / exp in place on an L2-resident
  array (64 Ki elements), CPU ns per element x clock (larger arrays held out);
- dram.first_touch: CPU time per 4 KiB page of writing fresh memory once (np.empty + fill,
  minus the same fill of a reused buffer) at 256 MiB, the size of the dense FFN's fresh
  intermediates (16 and 64 MiB shown beside; minor page faults counted: numpy asks for
  transparent huge pages, so a fault maps up to 2 MiB).
--host xeon measures the H200 machine's host CPU (lscpu facts of xeon-host.yaml, a 1 GiB table
added to the calibration kernel); benchmarks/device/lookupffn_host.sh runs it there.
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

import resource  # noqa: E402

from solvers.lookupffn.dense import dense_ffn_inplace  # noqa: E402
from solvers.lookupffn.kernels import (gather_add_table_major,  # noqa: E402
                                       gather_add_token_major)
from solvers.lookupffn.layer import LookupFFN, codes_and_scores  # noqa: E402

# archsim is imported only to simulate (--measure-only runs with numpy alone, e.g. on the
# device machine's host CPU)

# The hosts this script knows (--host), from lscpu:
# - dev: the development machine, AMD EPYC (Zen 3 class, family 25), 2 cores, AVX2 + FMA (2 FMA
#   pipes of 8 fp32 lanes: 32 flop/cycle), 32 KiB L1d, 512 KiB L2 per core, 32 MiB L3; BogoMIPS
#   4890 -> 2.45 GHz;
# - xeon: the H200 machine's host (hwconfigs/xeon-host.yaml: a 16-core slice of a 5th-generation
#   Xeon), AVX-512 (64 flop/cycle fp32), 48 KiB L1d, 2 MiB L2 per core, a 300 MiB L3 shared with
#   other tenants; clock as xeon-host.yaml assumes (2.6 GHz). Its L3 is large, so its calibration
#   kernel also reads a 1 GiB table (the fill buffers are fitted on the largest).
HOSTS = {
    "dev": {"clock_hz": 2.45e9, "simd_fp32": 32, "l1": "32KiB", "l2": "512KiB", "l3": "32MiB",
            "cal_tables": [64, 2048, 8192, 32768, 131072], "cal_l3": [2048, 8192]},
    "xeon": {"clock_hz": 2.6e9, "simd_fp32": 64, "l1": "48KiB", "l2": "2MiB", "l3": "256MiB",
             "cal_tables": [64, 2048, 8192, 32768, 131072, 524288],
             "cal_l3": [2048, 8192, 32768, 131072]},
}
HOST = dict(HOSTS["dev"])
KERNELS = ("dense_ffn", "gather_token_major", "gather_table_major")
# the calibration tables: 128 KiB (resident in L2: fits the core's L2 bandwidth), the largest
# (DRAM: fits the fill buffers), and "cal_l3" (fit the effective L3: 4 and 16 MiB on the dev
# host, whose physical L3 is 32 MiB; 4-256 MiB on the xeon, whose 300 MiB L3 is shared with
# other tenants); the rest are held out
CAL_L2 = 64
# what the fits set (host_config reads them): the core's L2 bandwidth
FIT = {"l2_bandwidth": None}
# elementwise calibration: numpy float32 functions in place on arrays of these sizes (elements);
# the per-element cost is fitted on EW_FIT (256 KiB: resident in either host's L2), the larger
# ones are held out (simulated as a one-op program with the fitted cost)
EW_FUNCS = ("tanh", "exp")
EW_SIZES = (1 << 14, 1 << 16, 1 << 20, 1 << 24, 1 << 26)
EW_FIT = 1 << 16
EW_SIM_REPS = 8
# first touch: np.empty(n) filled once (fresh pages: page faults) vs the same fill of a reused
# buffer; the difference per 4 KiB page. Fitted on FT_FIT (the dense FFN's 256 MiB buffers)
FT_MIB = (16, 64, 256)
FT_FIT = 256
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
    faults = {k: [] for k in fns}
    keys = list(fns)
    for r in range(repeats):
        for k in keys[r % len(keys):] + keys[:r % len(keys)]:
            f0 = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
            w, t = time.perf_counter(), time.process_time()
            fns[k]()
            ts[k].append(time.process_time() - t)
            walls[k].append(time.perf_counter() - w)
            faults[k].append(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - f0)
    return {k: {"min_s": min(ts[k]), "median_s": statistics.median(ts[k]), "max_s": max(ts[k]),
                "runs": ts[k], "wall_min_s": min(walls[k]), "wall_runs": walls[k],
                "minor_faults": faults[k]} for k in fns}


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
    tables = HOST["cal_tables"]
    big = rng.standard_normal((max(tables), 512), dtype=np.float32)
    buf, acc = np.empty((64, 512), np.float32), np.zeros((64, 512), np.float32)
    idx = {r: cal_indices(r) for r in tables}

    def gacc(r):
        def f():
            ix = idx[r]
            for s in range(0, CAL_ROWS, 64):
                np.take(big, ix[s:s + 64], axis=0, out=buf, mode="clip")
                acc.__iadd__(buf)
        return f
    g = timed_rounds({r: gacc(r) for r in tables}, repeats)
    del big
    return {"copy": m["copy"], "copy_bytes": 2 * (128 << 22), "gemm": m["gemm"],
            "dram_bandwidth": 2 * (128 << 22) / m["copy"]["min_s"],
            "gemm_flops_per_s": 2 * n ** 3 / m["gemm"]["min_s"],
            "gemm_efficiency": 2 * n ** 3 / m["gemm"]["min_s"] / (HOST["simd_fp32"] * HOST["clock_hz"]),
            "calls": {k: v["min_s"] / calls for k, v in c.items()}, "call_overhead_s": call_s,
            "gather_accumulate": {str(r): g[r] for r in tables},
            "elementwise": measure_elementwise(repeats, rng),
            "first_touch": measure_first_touch(repeats)}


def measure_elementwise(repeats: int, rng) -> dict:
    """numpy float32 tanh and exp in place (out=) over arrays of EW_SIZES elements, each run
    repeated to >= 2^24 elements: CPU ns per element (min over runs) and cycles per element at
    the host's clock. Inputs N(0,1)·0.5 (tanh's and exp's ordinary range in a GELU)."""
    out = {}
    for fn in EW_FUNCS:
        f = getattr(np, fn)
        out[fn] = {}
        for n in EW_SIZES:
            base = (0.5 * rng.standard_normal(n, dtype=np.float32)).astype(np.float32)
            a = np.empty_like(base)
            reps = max(1, (1 << 24) // n)

            def run():
                for _ in range(reps):   # re-copy the input so tanh(tanh(...)) never saturates
                    np.copyto(a, base)
                    f(a, out=a)

            def copy_only():
                for _ in range(reps):
                    np.copyto(a, base)
            t = timed_rounds({"fn": run, "copy": copy_only}, repeats)
            ns = (t["fn"]["min_s"] - t["copy"]["min_s"]) / (reps * n) * 1e9
            out[fn][str(n)] = {"ns_per_element": ns, "cycles_per_element": ns * HOST["clock_hz"] / 1e9,
                               "runs_s": t["fn"]["runs"], "copy_runs_s": t["copy"]["runs"],
                               "reps": reps}
            print(f"  {fn} n={n}: {ns:.3f} ns/element (min; runs "
                  f"{', '.join(f'{x / (reps * n) * 1e9:.2f}' for x in t['fn']['runs'])} incl. copy)",
                  flush=True)
            del a, base
    return out


def measure_first_touch(repeats: int) -> dict:
    """CPU time of the first write to fresh memory: np.empty(n) + fill (the allocation is
    mmapped by glibc and returned to the OS when freed, so every run faults its pages in)
    minus the same fill of a reused buffer, per 4 KiB page; minor page faults counted."""
    out = {}
    for mib in FT_MIB:
        n = mib << 18                        # float32 elements
        keep = np.empty(n, np.float32)
        keep.fill(1.0)

        def fresh():
            b = np.empty(n, np.float32)
            b.fill(1.0)

        def reuse():
            keep.fill(1.0)
        t = timed_rounds({"fresh": fresh, "reuse": reuse}, repeats)
        pages = mib * 256
        ns = (t["fresh"]["min_s"] - t["reuse"]["min_s"]) / pages * 1e9
        out[str(mib)] = {"ns_per_page": ns, "pages": pages, "fresh": t["fresh"], "reuse": t["reuse"]}
        print(f"  first touch {mib} MiB: {ns:.0f} ns per 4 KiB page (min); minor faults a run "
              f"{t['fresh']['minor_faults']}", flush=True)
        del keep
    return out


# set by main(): False = simulate without the elementwise cost table and first-touch cost
# (--without-new-costs: the model before this calibration, for the ablation)
USE_NEW_COSTS = True


def elementwise_cycles(cal: dict) -> dict:
    """The cost table fitted from the calibration: cycles per element of each function at
    EW_FIT elements (L2-resident: the function's own cost, no memory stream)."""
    ew = cal.get("elementwise") or {}
    return {fn: v[str(EW_FIT)]["cycles_per_element"] for fn, v in ew.items() if str(EW_FIT) in v}


def first_touch_ns(cal: dict) -> float | None:
    ft = cal.get("first_touch") or {}
    return ft[str(FT_FIT)]["ns_per_page"] if str(FT_FIT) in ft else None


def base_config_text() -> str:
    """xeon-host.yaml without its own measured `cores.elementwise_cycles` (that host's numpy):
    the simulated machine takes only the cost table this script fitted on the host measured
    (none for a record without the elementwise calibration, or with --without-new-costs)."""
    import yaml
    tree = yaml.safe_load((REPO / "hwconfigs" / "xeon-host.yaml").read_text())
    tree["cores"].pop("elementwise_cycles", None)
    return yaml.safe_dump(tree)


def host_config(cal: dict, demand_lines: int | None = None, l3: str | None = None):
    from archsim.config.loader import load_config_text
    sets = [
        "cores.count=1", f"cores.clock={HOST['clock_hz'] / 1e9}GHz",
        f"cores.simd_flops_per_cycle.fp32={HOST['simd_fp32']}",
        f"cores.efficiency.gemm={min(1.0, cal['gemm_efficiency']):.4f}",
        f"l1.size={HOST['l1']}", f"l2.size={HOST['l2']}", f"l3.size={l3 or HOST['l3']}",
        f"dram.bandwidth={cal['dram_bandwidth'] / 1e9:.2f}GB/s",
        f"cores.call_overhead={cal['call_overhead_s'] * 1e9:.0f}ns",
    ]
    if FIT["l2_bandwidth"]:
        sets.append(f"l2.bandwidth={FIT['l2_bandwidth'] / 1e9:.1f}GB/s")
    if demand_lines:
        sets.append(f"cores.demand_lines={demand_lines}")
    if USE_NEW_COSTS:
        sets += [f"cores.elementwise_cycles.{fn}={c:.2f}" for fn, c in elementwise_cycles(cal).items()]
        ft = first_touch_ns(cal)
        if ft is not None:
            sets.append(f"dram.first_touch={max(0.0, ft):.0f}ns")
    return load_config_text(base_config_text(), overrides=sets), sets


def simulate(graph, cfg):
    from archsim.simulate import simulate as sim
    return sim(graph, cfg, exec_mode="cpu")


def sim_elementwise(cal: dict, F: int, l3: str | None) -> dict:
    """The held-out elementwise sizes simulated: one in-place pass of fn over n fp32 elements
    (after its input copy, as measured: the copy is simulated and subtracted too); at most
    EW_SIM_REPS of the measured repetitions (the rest repeat the same cache state)."""
    from workloads.lookupffn import numpy_elementwise_program
    cfg, _ = host_config(cal, F, l3)
    out = {}
    for fn, sizes in (cal.get("elementwise") or {}).items():
        out[fn] = {}
        for n in map(int, sizes):
            reps = min(EW_SIM_REPS, sizes[str(n)]["reps"])
            t = simulate(numpy_elementwise_program(fn, n, reps), cfg).time_s
            c = simulate(numpy_elementwise_program(None, n, reps), cfg).time_s
            out[fn][str(n)] = (t - c) / (reps * n) * 1e9
    return out


def sim_levels(r) -> dict:
    c = r.counters
    return {x: c[f"{x}.hits"] / c[f"{x}.accesses"] for x in ("l1", "l2", "llc")
            if c.get(f"{x}.accesses")}


def sim_gacc(cal: dict, rows: int, F: int, l3: str | None = None) -> float:
    from workloads.lookupffn import numpy_gather_accumulate_program
    cfg, _ = host_config(cal, F, l3)
    ix = cal_indices(rows)
    return simulate(numpy_gather_accumulate_program(ix, rows), cfg).time_s


def fit_demand_lines(cal: dict) -> int:
    """The smallest F (lines in flight) whose simulated calibration kernel on the largest
    table is no slower than measured (time falls as F grows: bisection)."""
    fit = cal_fit(cal)
    target = cal["gather_accumulate"][str(fit)]["min_s"]
    lo, hi = 1, 256
    while lo < hi:
        mid = (lo + hi) // 2
        if sim_gacc(cal, fit, mid) <= target:
            hi = mid
        else:
            lo = mid + 1
    return lo


def fit_l2_bandwidth(cal: dict, F: int) -> float:
    """The core's L2 bandwidth (B/s) at which the simulated calibration kernel on the CAL_L2
    table (128 KiB: L2-resident, so neither the fill buffers nor the LLC matter) takes what
    was measured, with F lines of fill buffers: bisection on a log scale, 8-1024 GB/s (time
    falls as bandwidth grows).
    xeon-host.yaml's 51 GB/s is a 16-core streaming fit; one core's take-and-add calls run
    faster."""
    FIT["l2_bandwidth"] = None
    target = cal["gather_accumulate"][str(CAL_L2)]["min_s"]
    lo, hi = np.log(8e9), np.log(1024e9)
    for _ in range(10):
        mid = (lo + hi) / 2
        FIT["l2_bandwidth"] = float(np.exp(mid))
        if sim_gacc(cal, CAL_L2, F) <= target:
            hi = mid
        else:
            lo = mid
    FIT["l2_bandwidth"] = float(np.exp(hi))
    return FIT["l2_bandwidth"]


def cal_fit(cal: dict) -> int:
    """The calibration table the fill buffers are fitted on: the largest measured."""
    return max(map(int, cal["gather_accumulate"]))


def fit_l3(cal: dict, F: int) -> str:
    """The last-level capacity this process effectively keeps (the L3 is shared with other
    jobs or tenants): the power of two, 1 MiB to the host's physical L3, that best fits (least
    squared log error) the calibration kernel on the host's cal_l3 tables, with F lines of fill
    buffers."""
    def err(l3):
        return sum(np.log(sim_gacc(cal, r, F, l3) / cal["gather_accumulate"][str(r)]["min_s"]) ** 2
                   for r in HOST["cal_l3"])
    top = int(HOST["l3"].removesuffix("MiB"))
    return min((f"{1 << k}MiB" for k in range(top.bit_length()) if 1 << k <= top), key=err)


def simulate_kernels(cal: dict, codes: np.ndarray, rows: int, tile: int, F: int,
                     l3: str | None = None) -> dict:
    """The three kernels' numpy programs on the host config. The tiled kernel is simulated on
    its first TILE_SIM and 2·TILE_SIM tiles; the difference (steady state, the LLC warm) is
    scaled to all tiles and added to the first slice (its cold start)."""
    from workloads.lookupffn import numpy_dense_program, numpy_gather_program
    cfg, sets = host_config(cal, F, l3)
    n = codes.shape[0]
    out = {}
    for k, g in (("dense_ffn", lambda: numpy_dense_program(n)),
                 ("gather_token_major", lambda: numpy_gather_program("token", codes, rows, chunk=64))):
        r = simulate(g(), cfg)
        out[k] = {"time_s": r.time_s, "levels": sim_levels(r), "dram_read": r.dram_read_bytes,
                  "bound": sorted({o.bound for o in r.ops})}
    ntiles = -(-n // tile)
    r1 = simulate(numpy_gather_program("table", codes, rows, chunk=tile, tiles=TILE_SIM), cfg)
    r2 = simulate(numpy_gather_program("table", codes, rows, chunk=tile, tiles=2 * TILE_SIM), cfg)
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
          + f"), demand fill buffers {rec['demand_lines']} lines, effective L3 "
          f"{rec.get('l3_effective')}, L2 bandwidth "
          + (f"{rec['l2_bandwidth'] / 1e9:.0f} GB/s" if rec.get("l2_bandwidth") else "as the yaml"))
    la = rec.get("load_average", {})
    print("load average (1 min) at start / kernels / end: "
          + " / ".join(f"{v[0]:.2f}" for v in la.values()) + f"; {rec.get('date')}")
    ew, ews = cal.get("elementwise") or {}, rec.get("elementwise_sim") or {}
    if ew:
        print("\nnumpy float32 elementwise functions in place (min CPU ns per element over "
              f"runs, input copy subtracted); cost table fitted at {EW_FIT} elements:")
        print("| function | elements | measured ns/el | cycles/el | simulated ns/el | error | set |")
        print("|---|---:|---:|---:|---:|---:|---|")
        for fn, sizes in ew.items():
            for nn, v in sizes.items():
                sv = ews.get(fn, {}).get(nn)
                err = f"{100 * (sv / v['ns_per_element'] - 1):+.0f}%" if sv else "-"
                print(f"| {fn} | {int(nn):,} | {v['ns_per_element']:.3f} | "
                      f"{v['cycles_per_element']:.2f} | {f'{sv:.3f}' if sv else '-'} | {err} | "
                      f"{'fitted' if int(nn) == EW_FIT else 'held out'} |")
    ft = cal.get("first_touch") or {}
    if ft:
        print("\nfirst touch of fresh memory (np.empty + fill minus fill of a reused buffer), "
              f"fitted at {FT_FIT} MiB:")
        print("| MiB | ns per 4 KiB page (min) | fresh runs CPU s | reuse runs CPU s | minor faults a run |")
        print("|---:|---:|---|---|---|")
        for mib, v in ft.items():
            print(f"| {mib} | {v['ns_per_page']:.0f} | "
                  + ", ".join(f"{t:.4f}" for t in v["fresh"]["runs"]) + " | "
                  + ", ".join(f"{t:.4f}" for t in v["reuse"]["runs"]) + " | "
                  + ", ".join(str(f) for f in v["fresh"]["minor_faults"]) + " |")
    print("simulated machine: xeon-host.yaml --set " + " ".join(rec["simulated"]["config_overrides"]))
    print("\ngather-accumulate calibration kernel (np.take of 64 rows of 2 KiB + acc += rows, "
          f"{CAL_ROWS} rows), measured min CPU s vs simulated:")
    print("| table | measured s | simulated s | error | set |")
    print("|---:|---:|---:|---:|---|")
    for r, v in rec["calibration_sim"].items():
        m = cal["gather_accumulate"][r]["min_s"]
        print(f"| {int(r) * 2048 / 2**20:g} MiB | {m:.4f} | {v:.4f} | {100 * (v / m - 1):+.0f}% | "
              f"{'fitted: fill buffers' if int(r) == cal_fit(cal) else 'fitted: L3' if int(r) in HOST['cal_l3'] else 'fitted: L2 bandwidth' if int(r) == CAL_L2 and FIT['l2_bandwidth'] else 'held out'} |")
    print(f"\n{rec['tokens']} tokens, hidden 512, 128 tables x 256 rows, fp32, 1 core; "
          f"measured: min (median) CPU s of {rec['repeats']} interleaved runs")
    print("| kernel | measured s | median | max | spread | simulated s | sim error | "
          "L1/L2/LLC hit (sim) | sim bound |")
    print("|---|---:|---:|---:|---:|---:|---:|---|---|")
    for k in KERNELS:
        m, s = meas[k], sim[k]
        lv = "/".join(f"{100 * s['levels'][x]:.0f}" for x in ("l1", "l2", "llc") if x in s["levels"])
        mx = max(m["runs"])
        print(f"| {k} | {m['min_s']:.3f} | {m['median_s']:.3f} | {mx:.3f} | "
              f"{100 * (mx / m['min_s'] - 1):.0f}% | {s['time_s']:.3f} | "
              f"{100 * (s['time_s'] / m['min_s'] - 1):+.0f}% | {lv}% | {','.join(s['bound'])} |")
    print("\n| ratio (time of A / time of B) | measured (of mins) | per round | of medians | "
          "simulated | sim / meas - 1 | within 25 %? | same winner? |")
    print("|---|---:|---:|---:|---:|---:|---|---|")
    ok = True
    for a, b in (("gather_token_major", "dense_ffn"), ("gather_table_major", "dense_ffn"),
                 ("gather_token_major", "gather_table_major")):
        mr = meas[a]["min_s"] / meas[b]["min_s"]
        sr = sim[a]["time_s"] / sim[b]["time_s"]
        w, same = abs(sr / mr - 1) <= 0.25, (mr > 1) == (sr > 1)
        ok &= w and same
        # the same ratio in each interleaved round (one run of each kernel), and of the medians
        rr = [x / y for x, y in zip(meas[a]["runs"], meas[b]["runs"])]
        print(f"| {a} / {b} | {mr:.2f} | {min(rr):.2f}-{max(rr):.2f} | "
              f"{meas[a]['median_s'] / meas[b]['median_s']:.2f} | {sr:.2f} | "
              f"{100 * (sr / mr - 1):+.0f}% | {'yes' if w else 'no'} | {'yes' if same else 'no'} |")
    mw = min(KERNELS, key=lambda k: meas[k]["min_s"])
    sw = min(KERNELS, key=lambda k: sim[k]["time_s"])
    print(f"\nfastest: measured {mw}, simulated {sw}; all three ratios within 25 % with the "
          f"same winner: {'yes' if ok and mw == sw else 'no'}")


def ablate_dense(rec: dict, tokens: int) -> None:
    """The dense FFN's numpy program on the record's simulated machine, with the elementwise
    cost table and the first-touch cost each dropped (the CPU model before this calibration
    had neither, and no in-place ops: the 'neither' row still has numpy's buffers)."""
    from archsim.config.loader import load_config_text
    from workloads.lookupffn import numpy_dense_program
    sets = rec["simulated"]["config_overrides"]
    meas = rec["measured"]["dense_ffn"]["min_s"]
    print(f"\ndense FFN numpy program, {tokens} tokens: measured {meas:.3f} s (min)")
    print("| simulated with | time s | vs measured |")
    print("|---|---:|---:|")
    for label, drop in (("both (as above)", ()), ("no tanh/exp cost table", ("cores.elementwise_cycles",)),
                        ("no first-touch cost", ("dram.first_touch",)),
                        ("neither", ("cores.elementwise_cycles", "dram.first_touch"))):
        cfg = load_config_text(base_config_text(),
                               overrides=[x for x in sets if not x.startswith(drop or ("-",))])
        t = simulate(numpy_dense_program(tokens), cfg).time_s
        print(f"| {label} | {t:.3f} | {100 * (t / meas - 1):+.0f}% |")


def describe_host() -> dict:
    """What this process runs on: CPU count, affinity, numpy's version and SIMD targets, lscpu."""
    import platform
    import subprocess
    try:
        lscpu = subprocess.run(["lscpu"], capture_output=True, text=True, timeout=10).stdout
    except (OSError, subprocess.SubprocessError):
        lscpu = ""
    simd = {}
    try:
        from numpy._core._multiarray_umath import __cpu_features__ as feats
        simd = {k: v for k, v in feats.items() if k.startswith(("AVX", "FMA"))}
    except ImportError:
        pass
    return {"nproc": os.cpu_count(), "affinity": sorted(os.sched_getaffinity(0)),
            "numpy": np.__version__, "python": platform.python_version(), "simd": simd,
            "lscpu": lscpu, "threads": {v: os.environ.get(v) for v in
                                        ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS")}}


def fit_and_simulate(rec: dict, codes, bits: int, tile: int) -> dict:
    cal = rec["calibration"]
    # the fill buffers (on the largest table) and the L2 bandwidth (on the 128 KiB one, whose
    # first call still fetches its rows from DRAM) depend a little on each other: F with the
    # yaml's L2 bandwidth, then the L2 bandwidth with that F, then F again
    FIT["l2_bandwidth"] = None
    F = fit_demand_lines(cal)
    if str(CAL_L2) in cal["gather_accumulate"]:
        fit_l2_bandwidth(cal, F)
        F = fit_demand_lines(cal)
    rec["l2_bandwidth"] = FIT["l2_bandwidth"]
    l3 = fit_l3(cal, F)
    rec["demand_lines"], rec["l3_effective"] = F, l3
    rec["elementwise_cycles"] = elementwise_cycles(cal) if USE_NEW_COSTS else {}
    rec["first_touch_ns_per_page"] = first_touch_ns(cal) if USE_NEW_COSTS else None
    rec["calibration_sim"] = {r: sim_gacc(cal, int(r), F, l3) for r in cal["gather_accumulate"]}
    rec["elementwise_sim"] = sim_elementwise(cal, F, l3) if USE_NEW_COSTS else {}
    rec["simulated"] = simulate_kernels(cal, codes, 1 << bits, tile, F, l3)
    return rec


def save(rec: dict, out: str) -> None:
    p = Path(out)
    p.parent.mkdir(parents=True, exist_ok=True)
    tmp = p.with_suffix(".tmp")
    tmp.write_text(json.dumps(rec, indent=1, default=float))
    tmp.replace(p)
    print(f"\nwrote {p}")


def main(argv=None) -> int:
    global USE_NEW_COSTS
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tokens", type=int, default=32768)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--cpu", type=int, default=1, help="CPU to pin to (-1: do not pin)")
    ap.add_argument("--host", choices=sorted(HOSTS), default="dev",
                    help="which host's lscpu facts the simulated machine takes (measuring)")
    ap.add_argument("--out", default=str(REPO / "benchmarks" / "data" / "lookupffn_measure.json"))
    ap.add_argument("--sim-only", action="store_true",
                    help="re-simulate with the calibration and measurements stored in --out "
                         "(e.g. on another CPU model) instead of measuring again")
    ap.add_argument("--save", action="store_true", help="with --sim-only: write the simulation "
                    "into --out (a record from --measure-only gets its fits and simulation)")
    ap.add_argument("--report-only", action="store_true",
                    help="print the report of the record stored in --out (no simulation)")
    ap.add_argument("--ablate-dense", action="store_true",
                    help="with --report-only: simulate the dense FFN's numpy program on the "
                         "stored machine with and without each of the new costs")
    ap.add_argument("--measure-only", action="store_true",
                    help="measure and write --out without simulating (numpy alone: no archsim)")
    ap.add_argument("--without-new-costs", action="store_true",
                    help="simulate without the elementwise cost table and the first-touch cost "
                         "(the ablation: the CPU model as before they were calibrated)")
    args = ap.parse_args(argv)
    USE_NEW_COSTS = not args.without_new_costs
    if args.report_only:
        rec = json.loads(Path(args.out).read_text())
        HOST.clear()
        HOST.update(HOSTS[rec.get("host_name", "dev")])
        HOST.update(rec["host"])
        HOST["cal_l3"] = HOSTS[rec.get("host_name", "dev")]["cal_l3"]
        FIT["l2_bandwidth"] = rec.get("l2_bandwidth")
        report(rec)
        if args.ablate_dense:
            ablate_dense(rec, args.tokens)
        return 0
    n, d, h, bits, tile = args.tokens, 512, 128, 8, 64
    rng = np.random.default_rng(0)   # the draw workloads.lookupffn.draw_stats makes (seed 0)
    layer = LookupFFN.init(d, h, bits, "bh4", rng, dtype=np.float32)
    x = rng.standard_normal((n, d), dtype=np.float32)
    codes, scores = codes_and_scores(layer.project(x), h, bits)
    if args.sim_only:
        rec = json.loads(Path(args.out).read_text())
        HOST.clear()
        HOST.update(HOSTS[rec.get("host_name", "dev")])
        HOST.update(rec["host"])
        HOST["cal_l3"] = HOSTS[rec.get("host_name", "dev")]["cal_l3"]
        fit_and_simulate(rec, codes, bits, tile)
        report(rec)
        if args.save:
            save(rec, args.out)
        return 0
    HOST.clear()
    HOST.update(HOSTS[args.host])
    if args.cpu >= 0:
        os.sched_setaffinity(0, {args.cpu})
    load0 = os.getloadavg()
    print(f"host: nproc {os.cpu_count()}, pinned to {sorted(os.sched_getaffinity(0))}, "
          f"load average {load0[0]:.2f} {load0[1]:.2f} {load0[2]:.2f}", flush=True)
    scores = scores.astype(np.float32)
    tables = layer.params["tables"]
    w1 = (rng.standard_normal((d, 4 * d), dtype=np.float32) / np.sqrt(d)).astype(np.float32)
    w2 = (rng.standard_normal((4 * d, d), dtype=np.float32) / np.sqrt(4 * d)).astype(np.float32)
    b1, b2 = np.zeros(4 * d, np.float32), np.zeros(d, np.float32)
    cal = calibrate(args.repeats, np.random.default_rng(1))
    loadm = os.getloadavg()
    print(f"calibrated; load average now {loadm[0]:.2f}; the three kernels ...", flush=True)
    meas = timed_rounds({
        "dense_ffn": lambda: dense_ffn_inplace(x, w1, b1, w2, b2),
        "gather_token_major": lambda: gather_add_token_major(tables, codes, scores, 64),
        "gather_table_major": lambda: gather_add_table_major(tables, codes, scores, tile),
    }, args.repeats)
    load1 = os.getloadavg()
    for k, v in meas.items():
        print(f"  {k}: CPU s {', '.join(f'{t:.3f}' for t in v['runs'])}; wall s "
              f"{', '.join(f'{t:.3f}' for t in v['wall_runs'])}", flush=True)
    rec = {"tokens": n, "repeats": args.repeats, "host": HOST, "host_name": args.host,
           "nproc": os.cpu_count(), "affinity": sorted(os.sched_getaffinity(0)),
           "threads": {v: os.environ.get(v) for v in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS")},
           "machine": describe_host(),
           "load_average": {"start": load0, "kernels_start": loadm, "end": load1},
           "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
           "calibration": cal, "measured": meas}
    if args.measure_only:
        save(rec, args.out)
        return 0
    print(f"measured; load average now {load1[0]:.2f}; simulating ...", flush=True)
    fit_and_simulate(rec, codes, bits, tile)
    report(rec)
    save(rec, args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
