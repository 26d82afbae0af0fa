"""The CPU model against the two host-CPU kernels measured beside the H200.

    python benchmarks/correlate_cpu.py [--hw hwconfigs/xeon-host.yaml]

Cases (../shared/reference/h200-calibration.json, "host_cpu"): a 4096^3 fp32 GEMM on 16 threads
and a 1 GiB fp32 copy. Note what is fitted: the GEMM efficiency in xeon-host.yaml is fitted to
the first case and the DRAM bandwidth to the second, so this checks the model's arithmetic, not
its predictive power. The file benchmarks/data/host-cpu-kernels.json (PyTorch CPU kernels on
the same host, benchmarks/device/cpu_kernels.py) is held out except its 3-12 MB add sweep
(marked add*), which set the per-core L2 streaming bandwidth.
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from archsim.config import load_config  # noqa: E402
from archsim.graph import build_workload, format_spec  # noqa: E402
from archsim.simulate import simulate  # noqa: E402


# the add sweep cases the config was fitted on (hwconfigs/xeon-host.yaml, [sweep])
SWEEP_FITTED = {("add", 262144), ("add", 524288), ("add", 1048576)}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--hw", default=str(REPO / "hwconfigs" / "xeon-host.yaml"))
    ap.add_argument("--held-out", default=str(REPO / "benchmarks" / "data" / "host-cpu-kernels.json"))
    ap.add_argument("--calibration",
                    default=str(REPO.parent / "shared" / "reference" / "h200-calibration.json"))
    args = ap.parse_args(argv)
    cfg = load_config(args.hw)
    cases = json.loads(Path(args.calibration).read_text())["host_cpu"]["cases"]
    print("fitted (calibration file, host_cpu):")
    print(f"{'case':<16} {'spec':<52} {'sim s':>10} {'meas s':>10} {'err':>7}")
    for c in cases:
        if c["op"] == "cpu_gemm_fp32":
            spec = f"gemm(M={c['n']}, N={c['n']}, K={c['n']}, dtype='fp32')"
        elif c["op"] == "cpu_copy_fp32":
            spec = f"copy(n={c['bytes'] // 4}, dtype='fp32')"
        else:
            continue
        report(c["op"], spec, c["s"], cfg)
    held = Path(args.held_out)
    if held.exists():
        print(f"\nheld out ({held.name}, PyTorch CPU kernels on the same host, "
              f"warm caches, parallel loops):")
        errs, fitted = [], []
        for c in json.loads(held.read_text())["cases"]:
            keys = {k: v for k, v in c.items() if k not in ("op", "threads", "s", "reps")}
            spec = format_spec(c["op"], keys)
            tag = "add*" if (c["op"], c.get("n")) in SWEEP_FITTED else c["op"]
            e = report(tag, spec, c["s"], cfg, l2_start="warm")
            (fitted if tag == "add*" else errs).append(e)
        print("   * fitted: the 3-12 MB add sweep set l2.bandwidth (v1: the LLC size, its "
              "bandwidth and fork/join)")
        for label, es in (("sweep (fitted)", fitted), ("held out", errs),
                          ("all of this file", fitted + errs)):
            a = [abs(e) for e in es]
            if a:
                print(f"-- {label}: MAPE {100 * statistics.mean(a):.1f}%  median "
                      f"{100 * statistics.median(a):.1f}%  worst {100 * max(a):.1f}%  ({len(a)} cases)")
    return 0


def report(name: str, spec: str, measured: float, cfg, l2_start: str = "cold") -> float:
    res = simulate(build_workload(spec), cfg, exec_mode="cpu", l2_start=l2_start, repeat=2)
    err = (res.time_s - measured) / measured
    print(f"{name:<16} {spec:<52} {res.time_s:10.5f} {measured:10.5f} {100 * err:+6.1f}%")
    return err


if __name__ == "__main__":
    sys.exit(main())
