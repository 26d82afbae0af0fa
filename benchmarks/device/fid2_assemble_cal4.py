"""Build benchmarks/data/h200-fidelity2-cal4.json from the raw files of issue 15's third-stage run
(fid2_cases.cal4_kernels: large row / whole-tensor sums, fp32 -> bf16 casts, device copies around the
L2 size, RMS norms, mid-size elementwise kernels, fused Adam over many tensors, softmax backward).
No torch needed here.

    python3 fid2_assemble_cal4.py RAW_DIR     # k4_time.json, k4_ncu.csv, k4_order.json from, on the H200:
    #   python3 fid2_kernels.py time $OUT/k4_time.json cal4
    #   ncu --clock-control none --profile-from-start off --csv --page raw --print-units base \\
    #       --metrics <run_fid2.sh's METRICS> --log-file $OUT/k4_ncu.csv python3 fid2_kernels.py profile $OUT/k4_order.json cal4

Measured 2026-12-03 14:58-14:59 UTC on the H200 (driver 580.159.04, same PyTorch / CUDA as run_fid2.sh's
runs), one `run` call. benchmarks/correlate_fidelity2.py reads the file into its CALIBRATION set.
"""
import json
import os
import sys

from fid2_assemble_cal3 import merge_raw

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "..", "data", "h200-fidelity2-cal4.json")


def main(raw):
    t, new = merge_raw(raw, "k4")
    doc = {"about": "Issue 15, third stage (memory and row kernels): calibration cases F4-Kxx, new shapes only "
                    "(fid2_cases.py --check). Measured by benchmarks/device/fid2_kernels.py (time: CUDA events, "
                    "CUDA-graph replay, CUPTI activities) and Nsight Compute (kernel_ns_sum, L2 flushed before each "
                    "kernel); assembled by benchmarks/device/fid2_assemble_cal4.py. Calibration data: tune on it.",
           "set": "cal4", "measured_utc": "2026-12-03T14:58Z", "device": t.get("device"),
           "script": "benchmarks/device/fid2_kernels.py cal4 + fid2_assemble_cal4.py",
           "kernel_cases": new, "model_cases": []}
    tmp = OUT + ".tmp"
    with open(tmp, "w") as f:
        json.dump(doc, f, indent=1)
    os.replace(tmp, OUT)
    print(f"{len(new)} cases written to {OUT}")


if __name__ == "__main__":
    main(sys.argv[1])
