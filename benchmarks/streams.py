"""Two streams sharing the GPU: a GEMM and a memory-bound elementwise kernel.

    python benchmarks/streams.py [--gemm "gemm(M=2048,N=2048,K=8192)"] [--add "add(n=33554432)"]

Runs the pair one after the other on one stream, then on two streams (the add launched beside
the GEMM), on the component GPU with the FIFO grid arbiter, and explains the difference from
the SM and bandwidth shares: while the GEMM runs, the add can only use the SMs the GEMM's CTAs
leave free (a cuBLAS GEMM CTA holds a whole SM's registers), at the per-SM load-path rate of
the calibrated model; once the GEMM ends, the add spreads over every SM at HBM bandwidth.
"""
from __future__ import annotations

import argparse
import dataclasses
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from archsim.config import load_config  # noqa: E402
from archsim.graph import build_workload  # noqa: E402
from archsim.hw.gpu.machine import run_machine  # noqa: E402
from archsim.hw.gpu.model import make_model  # noqa: E402
from archsim.lower import lower  # noqa: E402
from archsim.lower.program import Program  # noqa: E402


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--hw", default=str(ROOT / "hwconfigs" / "h200.yaml"))
    ap.add_argument("--gemm", default="gemm(M=2048,N=2048,K=8192)",
                    help="a GEMM that lowers to one kernel (no split-K reduce)")
    ap.add_argument("--add", default="add(n=33554432)")
    args = ap.parse_args(argv)
    cfg = load_config(args.hw)
    g, a = lower(build_workload(args.gemm), cfg), lower(build_workload(args.add), cfg)
    bufs = {**g.buffers, **{k: dataclasses.replace(b, addr=b.addr + (1 << 40))
                            for k, b in a.buffers.items()}}
    p = Program("pair", cfg.name, "bsp", g.ops + a.ops, bufs)
    kg = [(0, k) for k in g.ops[0].kernels]
    ka = [(len(g.ops), k) for k in a.ops[0].kernels]

    def run(streams):
        r = run_machine(make_model(p, cfg), p, streams=streams)
        ks = {k["name"]: k for o in r.ops for k in o.kernels}
        return r, ks

    serial, ks_s = run([kg + ka])
    both, ks_b = run([kg, ka])
    gk, ak = kg[0][1], ka[0][1]
    tg = ks_s[gk.name]["time_s"]
    ta = ks_s[ak.name]["time_s"]
    gsms = sum(b - a_ + 1 for a_, b in ks_b[gk.name]["sms"])
    free = cfg.sm.count - gsms
    f = cfg.clocks.boost
    # the add's per-SM load path (calibrated): requested bytes at lsu_bytes_per_cycle, DRAM
    # reads at miss_bytes_per_cycle x read streams; its total requested bytes from the model
    req = ks_s[ak.name]["l2_requested_bytes"]
    rd = ks_s[ak.name]["dram_read_bytes"]
    streams_rd = max(1, min(4, sum(1 for x in ak.accesses if not x.write)))
    per_sm_s_per_byte = max(1 / (cfg.sm.lsu_bytes_per_cycle * f),
                            (rd / req) / (cfg.sm.miss_bytes_per_cycle * streams_rd * f))
    rate_free = free / per_sm_s_per_byte                      # bytes/s on the free SMs
    tg_both = ks_b[gk.name]["time_s"]
    done = min(1.0, rate_free * tg_both / req)                # share of the add done meanwhile
    predicted = max(tg_both, tg_both + (1 - done) * ta)
    print(f"{cfg.name}; GEMM {args.gemm} -> {gk.name} ({gk.ctas} CTAs), add {args.add} -> "
          f"{ak.name} ({ak.ctas} CTAs)")
    print("| run | time us |")
    print("|---|---:|")
    print(f"| one stream (GEMM, launch gap, add) | {serial.time_s * 1e6:.2f} |")
    print(f"| two streams (add beside the GEMM) | {both.time_s * 1e6:.2f} |")
    print(f"| saved | {(serial.time_s - both.time_s) * 1e6:.2f} "
          f"({100 * (serial.time_s - both.time_s) / serial.time_s:.1f} %) |")
    print()
    print(f"explanation: the GEMM's CTAs hold {gsms} SMs ({gk.block} threads x "
          f"{gk.regs_per_thread} regs, {gk.smem // 1024} KiB smem each: no room for another CTA),"
          f" leaving {free} SMs to the add while it runs ({tg_both * 1e6:.2f} us; alone "
          f"{tg * 1e6:.2f} us: the GEMM's HBM share is small, so sharing costs it "
          f"{(tg_both - tg) * 1e6:+.2f} us).")
    print(f"  on {free} SMs the add's load path moves {rate_free / 1e9:.0f} GB/s of its "
          f"{req / 1e6:.1f} MB (alone on {cfg.sm.count} SMs: {req / ta / 1e9:.0f} GB/s), so "
          f"{100 * done:.1f} % of it is done when the GEMM ends;")
    print(f"  predicted two-stream time = GEMM + (1 - {done:.3f}) x add alone = "
          f"{predicted * 1e6:.2f} us; simulated {both.time_s * 1e6:.2f} us "
          f"(the one-stream run also pays the {cfg.launch.overhead * 1e6:.2f} us launch gap)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
