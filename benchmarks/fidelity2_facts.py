"""What issue 15's H200 data sets say without any simulation: kernels cuDNN/cuBLAS/PyTorch chose,
copy-engine vs copy-kernel times, and the run-to-run spread of the measurements themselves.

    python benchmarks/fidelity2_facts.py

Reads benchmarks/data/h200-heldout-2.json and h200-fidelity2-cal.json (no archsim, no torch) and
prints the numbers benchmarks/device/README.md and RESULTS.md quote about the measurements.
"""
from __future__ import annotations

import json
import os
import statistics

HERE = os.path.dirname(os.path.abspath(__file__))


def load(name):
    with open(os.path.join(HERE, "data", name)) as fh:
        return json.load(fh)


def short(name, n=70):
    return name.replace("void ", "")[:n]


def main() -> int:
    held, cal = load("h200-heldout-2.json"), load("h200-fidelity2-cal.json")
    kcs = held["kernel_cases"] + cal["kernel_cases"]
    print("== kernels chosen (Nsight Compute names; CUPTI's where no kernel ran) ==")
    for c in kcs:
        if c["op"] in ("conv2d", "conv2d_dgrad", "conv2d_wgrad", "pool", "copy", "copy_kernel", "adam_fused") or \
                (c["op"] in ("softmax", "layernorm") and c["rows"] * c["cols"] == 2 ** 20):
            shape = ",".join(f"{k}={c[k]}" for k in ("N", "C", "K", "H", "R", "stride", "n", "rows", "cols", "model")
                             if c.get(k) is not None)
            print(f"{c['id']:8s} {c['op']:13s} {shape:38s} {c['kernel_ns_sum'] / 1e3:9.2f} us  "
                  f"{' + '.join(short(n, 60) for n in c['kernel_names'][:3])}")
    print("\n== device copies: cudaMemcpyAsync D2D (copy engine) vs PyTorch's strided copy kernel ==")
    print(f"{'n fp32':>10s} {'memcpy eager us':>16s} {'memcpy graph us':>16s} {'copy kernel us':>15s}  (kernel: ncu; memcpy: CUPTI)")
    mem = {c["n"]: c for c in kcs if c["op"] == "copy" and c["dtype"] == "fp32"}
    ker = {c["n"]: c for c in kcs if c["op"] == "copy_kernel"}
    for n in sorted(set(mem) & set(ker)):
        print(f"{n:10d} {mem[n]['cupti_ns_sum'] / 1e3:16.2f} {mem[n]['graph_us']:16.2f} {ker[n]['kernel_ns_sum'] / 1e3:15.2f}")
    print("\n== run-to-run spread (run 3 on a second machine vs run 1), |difference| ==")
    for label, key, rep in (("kernel CUPTI time", "cupti_ns_sum", "cupti_ns_sum_rep"),
                            ("kernel graph replay", "graph_us", "graph_us_rep")):
        d = [abs(c[rep] - c[key]) / c[key] * 100 for c in kcs if c.get(rep) and c.get(key)]
        print(f"{label:22s} median {statistics.median(d):5.1f}%  90th pct {sorted(d)[int(0.9 * len(d))]:5.1f}%  "
              f"max {max(d):5.1f}%  ({len(d)} cases)")
    mcs = held["model_cases"] + cal["model_cases"]
    for label, f in (("model graph replay", lambda c: (c["graph_us"], c.get("graph_us_rep"))),
                     ("model NVML energy", lambda c: (c["energy"]["joules_per_step"],
                                                      (c.get("energy_rep") or {}).get("joules_per_step")))):
        d = [(b - a) / a * 100 for a, b in map(f, mcs) if b]
        print(f"{label:22s} mean {statistics.mean(d):+5.1f}%  range {min(d):+5.1f} .. {max(d):+5.1f}%  ({len(d)} models)")
    print("\n== kernel-class energy loops (calibration set) ==")
    for e in cal["kernel_energy"]:
        if "kernel_op" in e:
            print(f"{e['id']:7s} {e['kernel_op']:20s} {e['us_per_call']:9.2f} us/call {e['joules_per_call'] * 1e3:9.3f} mJ/call "
                  f"{e['avg_w']:6.1f} W  SM {e['sm_clock_mhz']:5.0f} MHz  {e['loop'][:40]}")
        else:
            print(f"{e['case']:28s} {e['avg_w']:6.1f} W (no work, CUDA context open)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
