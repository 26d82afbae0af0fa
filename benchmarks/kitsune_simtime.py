"""Simulation time of the dataflow mode per application (issue 10's target: <= 30 s wall each).

    python benchmarks/kitsune_simtime.py [--hw hwconfigs/a100-kitsune.yaml] [--phase inference training]

Times `run_dataflow` alone -- the pass, the BSP profiling run it needs and the executor -- on the
same graphs as kitsune_speedup.py, with no utilisation monitor attached (kitsune_speedup.py watches
every SM's pipe signals and accounts the HBM channels' busy time for its both-low buckets, which
costs about as much as the simulation itself on the large training graphs). Prints wall and CPU
seconds and the load average.
"""
from __future__ import annotations

import argparse
import os
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))
sys.path.insert(0, HERE)

from archsim.config import load_config  # noqa: E402
from archsim.hw.dataflow.run import run_dataflow  # noqa: E402
from kitsune_speedup import graph_of  # noqa: E402
from kitsune_table2 import APPS  # noqa: E402


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--hw", default=os.path.join(HERE, "..", "hwconfigs", "a100-kitsune.yaml"))
    ap.add_argument("--phase", nargs="+", default=["inference", "training"], choices=["inference", "training"])
    ap.add_argument("--app", action="append", choices=sorted(APPS))
    a = ap.parse_args(argv)
    print(f"load average before: {os.getloadavg()[0]:.2f}")
    print("| app | phase | dataflow ms | sim wall s | sim cpu s |")
    print("|---|---|---:|---:|---:|")
    worst = 0.0
    for phase in a.phase:
        for app in a.app or sorted(APPS):
            g = graph_of(app, phase)
            cfg = load_config(a.hw)
            w, c = time.perf_counter(), time.process_time()
            df = run_dataflow(g, cfg)
            wall = time.perf_counter() - w
            worst = max(worst, wall)
            print(f"| {app} | {phase} | {df.time_s * 1e3:.3f} | {wall:.1f} | {time.process_time() - c:.1f} |",
                  flush=True)
    print(f"slowest: {worst:.1f} s wall (target <= 30 s); load average after: {os.getloadavg()[0]:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
