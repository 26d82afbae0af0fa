"""A 200-point design-space sweep on Dask: 1 local worker against 2 (and more if asked).

    python benchmarks/sweep_scaling.py                 # 1 and 2 workers, the 200-point sweep
    python benchmarks/sweep_scaling.py --workers 1 2 4 --points 200

The sweep (sweeps/h200-l2-hbm-sm.yaml): H200 with l2.size x hbm.bandwidth x sm.count (5 x 5 x 4)
on BERT-base (1 layer, batch 1, seq 128) and ResNet-50 (batch 1, 224x224): 200 points. Each worker count runs the
whole sweep into a fresh database, timed from the call to the last commit (LocalCluster start
included). The speedup is the 1-worker time over the N-worker time; the stores are checked to
hold the same points with the same reports (apart from each report's simulator block).
Wall-clock numbers depend on what else the machine runs: the load average is printed, and the
CPU seconds the sweep and its workers used over its wall time ("cores obtained") show how much
of the machine the run really had (2 workers on 2 idle cores get close to 2).
"""
from __future__ import annotations

import argparse
import json
import os
import sqlite3
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

SWEEP = Path(__file__).resolve().parents[1] / "sweeps" / "h200-l2-hbm-sm.yaml"


def reports(db: Path) -> dict:
    con = sqlite3.connect(db)
    out = {}
    for key, status, rep in con.execute("SELECT key, status, report FROM points"):
        r = json.loads(rep) if rep else None
        if r:
            r.pop("simulator", None)
        out[key] = (status, r)
    con.close()
    return out


def _cpu() -> float:
    """CPU seconds of this process and its finished children (the Dask workers, once the
    cluster is closed): how much of the machine a run actually got."""
    import resource
    me, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--points", type=int, default=200,
                    help="use the first N points of the sweep (200: all of it)")
    ap.add_argument("--keep", help="keep the databases in this directory")
    args = ap.parse_args(argv)

    import warnings
    warnings.simplefilter("ignore")
    from archsim.sweep import load_sweep, run_sweep

    tmp = Path(args.keep or tempfile.mkdtemp(prefix="sweep-scaling-"))
    tmp.mkdir(parents=True, exist_ok=True)
    f = tmp / "sweep.yaml"
    f.write_text(SWEEP.read_text())
    spec = load_sweep(f)
    if args.points < len(spec.points):
        import dataclasses
        spec = dataclasses.replace(spec, points=spec.points[: args.points])
    n = len(spec.points)
    print(f"sweep: {spec.name}, {n} points; cores visible: {len(os.sched_getaffinity(0))}; "
          f"load average before: {os.getloadavg()[0]:.2f}")
    times, stores, cpus = {}, {}, {}
    for w in args.workers:
        db = tmp / f"w{w}.db"
        for suffix in ("", "-wal", "-shm"):
            Path(str(db) + suffix).unlink(missing_ok=True)
        cpu0 = _cpu()
        t0 = time.perf_counter()
        s = run_sweep(spec, db=str(db), workers=w, progress=False)
        times[w] = time.perf_counter() - t0
        cpus[w] = _cpu() - cpu0
        stores[w] = reports(db)
        assert s.ran == len(stores[w]) and s.failed == 0, (s.ran, s.failed, s.errors[:3])
        walls = sorted(s.point_wall_s)
        print(f"workers={w}: {s.ran} points in {times[w]:.1f} s wall "
              f"(median point {walls[len(walls) // 2]:.2f} s); CPU {cpus[w]:.1f} s, i.e. "
              f"{cpus[w] / times[w]:.2f} cores obtained; load average {os.getloadavg()[0]:.2f}",
              flush=True)
    base = args.workers[0]
    for w in args.workers[1:]:
        assert stores[w] == stores[base], f"workers={w} gave different results from workers={base}"
    print()
    print("| workers | points | wall (s) | points/s | CPU (s) | cores obtained | speedup vs " f"{base} |")
    print("|---|---|---|---|---|---|---|")
    for w in args.workers:
        print(f"| {w} | {len(stores[w])} | {times[w]:.1f} | {len(stores[w]) / times[w]:.2f} | "
              f"{cpus[w]:.1f} | {cpus[w] / times[w]:.2f} | {times[base] / times[w]:.2f}x |")
    print(f"\nstores identical across worker counts: yes ({len(stores[base])} points each)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
