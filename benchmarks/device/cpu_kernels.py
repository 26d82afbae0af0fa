"""Host-CPU kernel timings (held-out data for the CPU model), with PyTorch's CPU kernels.

Run on the device machine's host CPU:  python3 benchmarks/device/cpu_kernels.py OUT.json
PyTorch's CPU ops run parallel loops over all threads (as the CPU model assumes), unlike
numpy's single-threaded ufuncs. Each case: median wall time of repeated calls after warm-up,
on torch.get_num_threads() threads. Specs use archsim's workload keyword names.
"""
import json
import os
import platform
import statistics
import sys
import time

import torch

CASES = [
    *[("add", dict(n=1 << k, dtype="fp32")) for k in range(18, 28)],
    ("relu", dict(n=1 << 26, dtype="fp32")),
    ("copy", dict(n=1 << 26, dtype="fp32")),
    ("gemm", dict(M=1024, N=1024, K=1024, dtype="fp32")),
    ("gemm", dict(M=2048, N=2048, K=2048, dtype="fp32")),
    ("gemm", dict(M=8192, N=1024, K=1024, dtype="fp32")),
    ("gemm", dict(M=4096, N=4096, K=4096, dtype="bf16")),
    ("gemm", dict(M=2048, N=2048, K=2048, dtype="fp64")),
    ("softmax", dict(rows=4096, cols=4096, dtype="fp32")),
    ("reduce", dict(rows=8192, cols=8192, dtype="fp32")),
]
DT = {"fp32": torch.float32, "bf16": torch.bfloat16, "fp64": torch.float64}


def build(op, p):
    dt = DT[p["dtype"]]
    if op in ("add", "relu", "copy"):
        a, b = torch.rand(p["n"], dtype=dt), torch.rand(p["n"], dtype=dt)
        out = torch.empty_like(a)
        # every kernel writes into a preallocated output: a fresh output tensor would time the
        # kernel plus first-touch page faults of new memory (glibc mmaps large allocations)
        return {"add": lambda: torch.add(a, b, out=out),
                "relu": lambda: torch.clamp(a, min=0, out=out),
                "copy": lambda: out.copy_(a)}[op]
    if op == "gemm":
        a, b = torch.rand(p["M"], p["K"], dtype=dt), torch.rand(p["K"], p["N"], dtype=dt)
        return lambda: torch.mm(a, b)
    x = torch.rand(p["rows"], p["cols"], dtype=dt)
    if op == "softmax":
        y = torch.empty_like(x)
        return lambda: torch.ops.aten._softmax.out(x, -1, False, out=y)
    r = torch.empty(p["rows"], dtype=dt)
    return lambda: torch.sum(x, -1, out=r)


def main(out):
    cases = []
    for op, p in CASES:
        fn = build(op, p)
        for _ in range(3):
            fn()
        t = []
        end = time.perf_counter() + 1.0
        while len(t) < 5 or (time.perf_counter() < end and len(t) < 200):
            t0 = time.perf_counter()
            fn()
            t.append(time.perf_counter() - t0)
        cases.append({"op": op, **p, "threads": torch.get_num_threads(),
                      "s": statistics.median(t), "reps": len(t)})
        print(cases[-1], flush=True)
    doc = {"about": __doc__, "torch": torch.__version__, "cpu": platform.processor(),
           "nproc": os.cpu_count(), "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
           "cases": cases}
    with open(out, "w") as f:
        json.dump(doc, f, indent=1)


if __name__ == "__main__":
    main(sys.argv[1])
