"""SM-utilisation profiles of GEMMs from signals: a WindowMonitor on every SM's pipes.

    python benchmarks/sm_profile.py [--window 256]

For each GEMM shape, `simulate(..., monitors=[...])` attaches a WindowMonitor to
`sm[i].simt_busy` and `sm[i].tensor_busy` of all SMs (windows of 256 cycles of the boost
clock). Every (SM, window) pair is one sample; the table gives the fraction of samples with
SIMT busy > 25 %, tensor busy > 25 %, both, and neither. Kernels of one bsp program run one
after another, so an SM's two pipes are rarely busy in the same window: that idle pairing is
what a dataflow GPU (Kitsune) would fill.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from archsim.config import load_config  # noqa: E402
from archsim.engine.signals import WindowMonitor  # noqa: E402
from archsim.graph import build_workload  # noqa: E402
from archsim.simulate import simulate  # noqa: E402

SHAPES = [
    "gemm(M=8192,N=8192,K=8192)", "gemm(M=4096,N=4096,K=4096)", "gemm(M=2048,N=2048,K=2048)",
    "gemm(M=1024,N=1024,K=1024)", "gemm(M=512,N=512,K=8192)", "gemm(M=128,N=4096,K=4096)",
    "gemm(M=4096,N=14336,K=4096)", "gemm(M=2048,N=768,K=3072)", "gemm(M=64,N=64,K=4096)",
    "gemm(M=4096,N=1024,K=256)", "gemm(M=1024,N=1024,K=1024,dtype='fp32')",
    "gemm(M=2048,N=2048,K=512,dtype='fp32')",
]


def profile(spec: str, cfg, window: int):
    box = {}

    def attach(bus, clock_hz):
        sigs = bus.match_prefix("sm[", ".simt_busy") + bus.match_prefix("sm[", ".tensor_busy")
        box["mon"] = WindowMonitor(bus, sigs, window_cycles=window, clock_hz=clock_hz)

    res = simulate(build_workload(spec), cfg, monitors=[attach])
    out = box["mon"].finish(int(round(res.time_s * 1e12)))
    n = cfg.sm.count
    simt = np.stack([out[f"sm[{i}].simt_busy"] for i in range(n)])
    tens = np.stack([out[f"sm[{i}].tensor_busy"] for i in range(n)])
    s, t = simt > 0.25, tens > 0.25
    return res, simt.shape[1], s.mean(), t.mean(), (s & t).mean(), (~s & ~t).mean()


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--hw", default=str(ROOT / "hwconfigs" / "h200.yaml"))
    ap.add_argument("--window", type=int, default=256)
    args = ap.parse_args(argv)
    cfg = load_config(args.hw)
    print(f"{cfg.name}: {cfg.sm.count} SMs, windows of {args.window} cycles at "
          f"{cfg.clocks.boost / 1e9:.2f} GHz; samples = SMs x windows")
    print("| GEMM | time us | windows | SIMT>25% | tensor>25% | both | neither |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for spec in SHAPES:
        res, w, s, t, both, neither = profile(spec, cfg, args.window)
        print(f"| {spec} | {res.time_s * 1e6:.1f} | {w} | {100 * s:.1f}% | {100 * t:.1f}% | "
              f"{100 * both:.1f}% | {100 * neither:.1f}% |", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
