"""Build benchmarks/data/h200-fidelity2-cal6.json from the F6 calibration run (no torch needed).

    python3 fid2_assemble_cal6.py RAW_DIR    # k6fwd_ncu.csv, k6fwd_order.json, k6bwd_*, log.txt of:
    #   OUT=... bash run_cal6.sh   (on the device machine: two Nsight Compute passes, no event timing)

Issue 15, fourth stage (convolutions and ResNet training): fid2_cases.cal6_kernels -- a sweep of 3x3
forward convolutions, and ResNet-50's convolution data / weight gradients at batch 64 and 128.
Measured 2026-12-03 17:46:32-17:47:27 UTC on the H200 (driver 580.159.04, PyTorch 2.11.0+cu130,
cuDNN 9.19 as the earlier sets); raw files kept in benchmarks/data/raw-fid2-cal6/. Each kernel keeps
ncu's grid, block and thread-block cluster (`cluster`: launch__cluster_dim_x/y, `cluster_size`).
A CALIBRATION file (set "cal6", ids F6-Kxx); it shares no shape with the frozen held-out set
(fid2_cases --check). Measured time = kernel_ns_sum (L2 flushed before each kernel), as the
correlator reads every set.
"""
import csv
import io
import json
import os
import sys

import merge_ncu as m
from fid2_cases import cal6_kernels

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "..", "data", "h200-fidelity2-cal6.json")


def read_rows(path):
    lines = open(path, errors="replace").read().splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith('"ID"'))
    return [r for r in csv.DictReader(io.StringIO("\n".join(lines[start:]))) if (r.get("ID") or "").strip().isdigit()]


def main(raw):
    cases = {c["id"]: dict(c, set="cal6") for c in cal6_kernels()}
    for part in ("fwd", "bwd"):
        rows = read_rows(os.path.join(raw, f"k6{part}_ncu.csv"))
        ks = m.read_ncu(os.path.join(raw, f"k6{part}_ncu.csv"))
        for k, r in zip(ks, rows):   # the same rows, in order: add the launch's cluster
            cx, cy = (int(m.num(r.get(f"launch__cluster_dim_{a}")) or 0) for a in "xy")
            k["cluster"] = [cx, cy]
            k["cluster_size"] = int(m.num(r.get("launch__cluster_size")) or 0)
            k["grid_ctas"] = int(m.num(r.get("launch__grid_size")) or 0)
        segs = m.segments(ks)
        order = json.load(open(os.path.join(raw, f"k6{part}_order.json")))
        assert len(segs) == len(order), (part, len(segs), len(order))
        for cid, seg in zip(order, segs):
            c = cases[cid]
            c["kernels"] = seg
            c["kernel_ns_sum"] = sum(k["ns"] or 0 for k in seg)
            c["dram_bytes_sum"] = sum((k["dram_read"] or 0) + (k["dram_write"] or 0) for k in seg)
            c["kernel_names"] = list(dict.fromkeys(k["name"] for k in seg))
            c["is_kernel"] = bool(seg)
    log = open(os.path.join(raw, "log.txt")).read()
    doc = {"about": ("Issue 15 fourth-stage CALIBRATION cases (F6-Kxx): 3x3 forward convolutions over batch and "
                     "channels, ResNet-50's convolution data / weight gradients at batch 64 and 128; channels_last "
                     "bf16, TF32 off, cudnn.benchmark off. kernel_ns_sum: Nsight Compute, L2 flushed before each "
                     "kernel; each kernel's thread-block cluster from ncu's launch__cluster_* columns. No CUDA-event "
                     "timing pass. Script: benchmarks/device/run_cal6.sh (fid2_kernels.py profile, "
                     "fid2_cases.cal6_kernels), assembled by benchmarks/device/fid2_assemble_cal6.py."),
           "set": "cal6", "measured_utc": "2026-12-03T17:46:32Z/2026-12-03T17:47:27Z",
           "device": {"name": "NVIDIA H200", "driver": "580.159.04", "torch_cuda_cudnn": log.splitlines()[3].strip()},
           "kernel_cases": [cases[k] for k in sorted(cases)], "model_cases": []}
    tmp = OUT + ".tmp"
    with open(tmp, "w") as f:
        json.dump(doc, f, indent=1)
    os.replace(tmp, OUT)
    print(f"{len(doc['kernel_cases'])} cases written to {OUT}")


if __name__ == "__main__":
    main(sys.argv[1])
