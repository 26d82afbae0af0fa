"""The H200 power limiter's fast limit (`power.peak`) against Nsight Compute's single-kernel clocks.

    python benchmarks/fit_power_peak.py [--hw hwconfigs/h200.yaml] [--peaks 770,780,785,790]

Nsight Compute measured each calibration kernel alone (kernel replay, several passes, clock
control off: `sm_hz` = SM cycles / duration). For every bf16 GEMM case of the CALIBRATION file
(../shared/reference/h200-calibration.json; no held-out file is read) whose kernel runs at least
20 us (shorter ones hold the tensor boost clock whatever the limit), this simulates the case as
correlate.py does (cold L2, flushed per kernel: one launch on a rested board) for each peak value
and prints the simulated clock of its main kernel against the measured one, and their MAPE.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, ROOT)

from archsim.config import load_config  # noqa: E402
from archsim.errors import UserError  # noqa: E402
from archsim.graph import build_workload  # noqa: E402
from archsim.hw.gpu import run_program  # noqa: E402
from archsim.lower import lower  # noqa: E402

CAL = os.path.join(os.path.dirname(ROOT), "shared", "reference", "h200-calibration.json")
if not os.path.exists(CAL):
    CAL = "/work/shared/reference/h200-calibration.json"


def cases():
    out = []
    for c in json.load(open(CAL))["cases"]:
        if c.get("op") != "gemm" or c.get("dtype", "bf16") != "bf16":
            continue
        k = max(c.get("kernels") or [], key=lambda k: k.get("ns", 0), default=None)
        if k and k.get("sm_hz") and k["ns"] >= 20e3:
            out.append((f"gemm(M={c['M']}, N={c['N']}, K={c['K']}, dtype='bf16')", k["sm_hz"]))
    return out


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--hw", default=os.path.join(ROOT, "hwconfigs", "h200.yaml"))
    ap.add_argument("--peaks", default="770,780,785,790")
    a = ap.parse_args(argv)
    try:
        cfg0 = load_config(a.hw)
    except UserError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    try:
        peaks = [float(p) for p in a.peaks.split(",")]
    except ValueError:
        print(f"error: --peaks takes comma-separated watts, found {a.peaks!r}", file=sys.stderr)
        return 2
    cs = cases()
    for peak in peaks:
        cfg = dataclasses.replace(cfg0, power=dataclasses.replace(cfg0.power, peak=peak))
        errs = []
        for spec, hz in cs:
            r = run_program(lower(build_workload(spec), cfg), cfg, l2_start="cold",
                            flush_l2_per_kernel=True)
            ks = [k for o in r.ops for k in o.kernels]
            f = max(ks, key=lambda k: k["time_s"])["clock_hz"]
            errs.append(100.0 * (f - hz) / hz)
            print(f"peak {peak:5.0f} W  {spec:44s} sim {f / 1e6:6.0f} MHz  meas {hz / 1e6:6.0f} MHz"
                  f"  {errs[-1]:+6.1f}%")
        print(f"-- peak {peak:.0f} W: clock MAPE {sum(map(abs, errs)) / len(errs):.1f}% over "
              f"{len(errs)} calibration GEMMs (window {cfg.power.window * 1e3:g} ms)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
