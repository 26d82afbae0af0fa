"""Dump what the L2 decides, per kernel, for the issue-9 speed workloads (a before/after check).

    python benchmarks/l2_identity.py > after.txt     # then diff against a dump of the old code
    python benchmarks/l2_identity.py --l2-impl python # the pure-Python L2 twin (slow)

One line per kernel: workload, op, kernel, time_s, DRAM read/write bytes, L2 requested/hit
bytes (repr floats: a change in the last bit shows), then each workload's total time and DRAM
bytes. Used to show that a speed change of the L2 functional pass leaves reports bit-identical
(benchmarks/RESULTS.md, issue 9 second stage).
"""
from __future__ import annotations

import argparse
import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from archsim.config import load_config  # noqa: E402
from archsim.graph import build_workload  # noqa: E402
from archsim.hw.gpu import run_program  # noqa: E402
from archsim.lower import lower  # noqa: E402

WORKLOADS = ["bert-base(batch=8,seq=128)", "bert-base(batch=8,seq=512)",
             "llama3-8b(phase='prefill',seq=2048)", "resnet50(batch=256)",
             "gemm(M=8192,N=8192,K=8192)"]


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--only", default="", help="substring filter on workload specs")
    ap.add_argument("--l2-impl", choices=("default", "python"), default="default")
    args = ap.parse_args(argv)
    cfg = load_config(os.path.join(ROOT, "hwconfigs", "h200.yaml"))
    kw = {}
    if args.l2_impl == "python":
        from archsim.hw.cache import PyCache
        kw["l2_impl"] = PyCache
    for spec in WORKLOADS:
        if args.only not in spec:
            continue
        r = run_program(lower(build_workload(spec), cfg), cfg, **kw)
        for o in r.ops:
            for k in o.kernels:
                print(spec, o.name, k["name"], repr(k["time_s"]), k["dram_read_bytes"],
                      k["dram_write_bytes"], k["l2_requested_bytes"], k["l2_hit_bytes"])
        print(spec, "TOTAL", repr(r.time_s), r.dram_read_bytes, r.dram_write_bytes,
              r.counters.get("l2_resident_bytes_at_end"), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
