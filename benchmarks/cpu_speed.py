"""How fast the CPU model and the cache component run (host wall and CPU time).

    python benchmarks/cpu_speed.py [--hw hwconfigs/xeon-host.yaml] [--quick]

Prints, per workload: graph build, lowering and simulation times (wall and process CPU),
engine events, the address-sampling rate chosen, and the simulated time; then the cache
component's cost per line (Cython and the Python twin) for hits and misses.
On a shared machine wall time is inflated by other jobs: the CPU column is the better number.
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from archsim.config import load_config  # noqa: E402
from archsim.graph import build_workload  # noqa: E402
from archsim.hw.cache import BACKEND, Cache, PyCache  # noqa: E402
from archsim.hw.cpu.model import run_program  # noqa: E402
from archsim.lower.cpu import lower_cpu  # noqa: E402

WORKLOADS = ["bert-base(batch=8, seq=128)", "bert-base(batch=8, seq=512)",
             "gemm(M=4096, N=4096, K=4096, dtype='fp32')", "copy(n=268435456, dtype='fp32')"]


def timed(fn):
    w, c = time.perf_counter(), time.process_time()
    out = fn()
    return out, time.perf_counter() - w, time.process_time() - c


def cache_ns_per_line(cls, n_lines: int) -> tuple[float, float]:
    c = cls(48 << 10, 64, 12)
    c.access(0, 32 << 10)
    reps = max(1, n_lines // 512)
    _, _, hit = timed(lambda: [c.access(0, 32 << 10) for _ in range(reps)])
    big = cls(2 << 20, 64, 16)
    _, _, miss = timed(lambda: big.access(1 << 30, n_lines * 64))
    return hit / (reps * 512) * 1e9, miss / n_lines * 1e9


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--hw", default=str(REPO / "hwconfigs" / "xeon-host.yaml"))
    ap.add_argument("--quick", action="store_true", help="only the first workload")
    args = ap.parse_args(argv)
    cfg = load_config(args.hw)
    print(f"host: {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}; cache backend {BACKEND}")
    print(f"{'workload':<46} {'build s':>8} {'lower s':>8} {'sim wall s':>10} {'sim cpu s':>9} "
          f"{'events':>8} {'sample':>6} {'simulated ms':>12}")
    for spec in WORKLOADS[:1] if args.quick else WORKLOADS:
        g, _, t_build = timed(lambda: build_workload(spec))
        prog, _, t_lower = timed(lambda: lower_cpu(g, cfg))
        res, wall, cpu = timed(lambda: run_program(prog, cfg))
        print(f"{spec:<46} {t_build:8.2f} {t_lower:8.2f} {wall:10.2f} {cpu:9.2f} {res.events:8d} "
              f"{res.extra['sample']:6d} {res.time_s * 1e3:12.3f}")
    print()
    print(f"{'cache':<10} {'ns/line hit':>12} {'ns/line miss':>13}   (process CPU time)")
    for name, cls, n in (("Cython", Cache, 1 << 22), ("Python", PyCache, 1 << 15)):
        h, m = cache_ns_per_line(cls, n)
        print(f"{name:<10} {h:12.1f} {m:13.1f}")
    print(f"load average after: {os.getloadavg()[0]:.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
