"""Build benchmarks/data/h200-fidelity2-cal5.json from the F5 calibration run (no torch needed).

    python3 fid2_assemble_cal5.py RAW_DIR    # k5_time.json, k5_ncu.csv, k5_order.json, log.txt of:
    #   OUT=... bash run_cal5.sh   (on the device machine: fid2_kernels.py time + one ncu pass)

Issue 15, third stage (tensor kernels and model time): fid2_cases.cal5_kernels -- 1x1 and 3x3
convolutions, batched GEMMs, causal attention beside the same shape non-causal, batch norm
(training forward, backward, inference). Measured 2026-12-03 14:54-14:56 UTC on the H200 (same
driver 580.159.04 / PyTorch 2.11 / cuDNN 9.19 as run_fid2.sh's runs); raw files kept in
benchmarks/data/raw-fid2-cal5/. A CALIBRATION file (set "cal5", ids F5-Kxx): the correlator reads
it with h200-fidelity2-cal.json; it shares no shape with the frozen held-out set (fid2_cases --check).
"""
import json
import os
import sys

from fid2_assemble_cal3 import merge_raw

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "..", "data", "h200-fidelity2-cal5.json")


def main(raw):
    t, cases = merge_raw(raw, "k5", set_name="cal5")
    doc = {"about": ("Issue 15 third-stage CALIBRATION cases (F5-Kxx): 1x1 / 3x3 convolutions, batched GEMMs, "
                     "causal and non-causal attention, batch norm train / backward / eval; channels_last bf16, "
                     "TF32 off, cudnn.benchmark off. kernel_ns_sum: Nsight Compute, L2 flushed before each kernel. "
                     "Script: benchmarks/device/run_cal5.sh (fid2_kernels.py, fid2_cases.cal5_kernels), assembled "
                     "by benchmarks/device/fid2_assemble_cal5.py."),
           "set": "cal5", "measured_utc": "2026-12-03T14:54:54Z/2026-12-03T14:55:54Z",
           "device": dict(t["device"], clocks_before_kernels=t.get("clocks_before"),
                          clocks_after_kernels=t.get("clocks_after")),
           "kernel_cases": cases, "model_cases": []}
    tmp = OUT + ".tmp"
    with open(tmp, "w") as f:
        json.dump(doc, f, indent=1)
    os.replace(tmp, OUT)
    print(f"{len(cases)} cases written to {OUT}")


if __name__ == "__main__":
    main(sys.argv[1])
