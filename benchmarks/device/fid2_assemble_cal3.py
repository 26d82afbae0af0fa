"""Append issue 15's tuning-pass calibration cases (fid2_cases.cal3_kernels: row / whole-tensor sums
and transposes) to benchmarks/data/h200-fidelity2-cal.json (no torch needed).

    python3 fid2_assemble_cal3.py RAW_DIR     # k3_time.json, k3_ncu.csv, k3_order.json from:
    #   python3 fid2_kernels.py time $OUT/k3_time.json cal3
    #   ncu --clock-control none --profile-from-start off --csv --page raw --print-units base \\
    #       --metrics <run_fid2.sh's METRICS> --log-file $OUT/k3_ncu.csv python3 fid2_kernels.py profile $OUT/k3_order.json cal3

Measured 2026-12-03 on the H200 (same driver 580.159.04 / PyTorch / cuDNN as run_fid2.sh's runs). The
cases join the CALIBRATION file with set "cal" and ids F3-Kxx; re-running replaces them.
"""
import json
import os
import sys

import merge_ncu as m
from fid2_assemble import norm

HERE = os.path.dirname(os.path.abspath(__file__))
CAL = os.path.join(HERE, "..", "data", "h200-fidelity2-cal.json")


def merge_raw(raw, stem="k3", set_name="cal"):
    """The cases of STEM_time.json with the Nsight Compute kernels of STEM_ncu.csv / STEM_order.json
    joined in, as calibration cases (set SET_NAME)."""
    t = json.load(open(os.path.join(raw, f"{stem}_time.json")))
    segs = m.segments(m.read_ncu(os.path.join(raw, f"{stem}_ncu.csv")))
    order = json.load(open(os.path.join(raw, f"{stem}_order.json")))
    assert len(segs) == len(order), (len(segs), len(order))
    by_id = {c["id"]: c for c in t["cases"]}
    for cid, ks in zip(order, segs):
        c = by_id[cid]
        c["kernels"] = ks
        c["kernel_ns_sum"] = sum(k["ns"] or 0 for k in ks)
        c["dram_bytes_sum"] = sum((k["dram_read"] or 0) + (k["dram_write"] or 0) for k in ks)
    new = []
    for c in t["cases"]:
        for k in c.get("cupti_kernels", []):
            k["name"] = norm(k["name"])
        c["set"] = set_name
        c.setdefault("kernels", [])
        c["kernel_names"] = list(dict.fromkeys(k["name"] for k in (c["kernels"] or c.get("cupti_kernels", []))))
        c["is_kernel"] = bool(c["kernels"])
        new.append(c)
    return t, new


def main(raw):
    _, new = merge_raw(raw, "k3")
    cal = json.load(open(CAL))
    cal["kernel_cases"] = [c for c in cal["kernel_cases"] if not c["id"].startswith("F3-")] + new
    cal["about_cal3"] = ("F3-Kxx: issue 15 tuning pass, measured 2026-12-03 after the first tuning steps "
                         "(benchmarks/device/fid2_assemble_cal3.py): row and whole-tensor sums, transposes")
    tmp = CAL + ".tmp"
    with open(tmp, "w") as f:
        json.dump(cal, f, indent=1)
    os.replace(tmp, CAL)
    print(f"{len(new)} cases appended to {CAL}")


if __name__ == "__main__":
    main(sys.argv[1])
