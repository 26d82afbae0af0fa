"""The CPU model against the two host-CPU kernels measured beside the H200.

    python benchmarks/correlate_cpu.py [--hw hwconfigs/xeon-host.yaml]

Cases (../shared/reference/h200-calibration.json, "host_cpu"): a 4096^3 fp32 GEMM on 16 threads
and a 1 GiB fp32 copy. Note what is fitted: the GEMM efficiency in xeon-host.yaml is fitted to
the first case and the DRAM bandwidth to the second, so this checks the model's arithmetic, not
its predictive power; held-out CPU measurements are still missing.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from archsim.config import load_config  # noqa: E402
from archsim.graph import build_workload  # noqa: E402
from archsim.simulate import simulate  # noqa: E402


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--hw", default=str(REPO / "hwconfigs" / "xeon-host.yaml"))
    ap.add_argument("--calibration",
                    default=str(REPO.parent / "shared" / "reference" / "h200-calibration.json"))
    args = ap.parse_args(argv)
    cfg = load_config(args.hw)
    cases = json.loads(Path(args.calibration).read_text())["host_cpu"]["cases"]
    print(f"{'case':<16} {'spec':<44} {'sim s':>10} {'meas s':>10} {'err':>7}")
    for c in cases:
        if c["op"] == "cpu_gemm_fp32":
            spec = f"gemm(M={c['n']}, N={c['n']}, K={c['n']}, dtype='fp32')"
        elif c["op"] == "cpu_copy_fp32":
            spec = f"copy(n={c['bytes'] // 4}, dtype='fp32')"
        else:
            continue
        res = simulate(build_workload(spec), cfg, exec_mode="cpu")
        err = (res.time_s - c["s"]) / c["s"]
        print(f"{c['op']:<16} {spec:<44} {res.time_s:10.5f} {c['s']:10.5f} {100 * err:+6.1f}%")
    return 0


if __name__ == "__main__":
    sys.exit(main())
