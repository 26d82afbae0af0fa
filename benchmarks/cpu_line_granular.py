"""Where line-granular caches change the CPU model's answer (against v1's tensor residency).

    python benchmarks/cpu_line_granular.py [--hw hwconfigs/xeon-host.yaml]

v1 (the CPU model before the component rebuild) kept whole tensors in an LRU last-level
cache: a tensor was resident or not. The rule is restated here (`tensor_lru_dram_reads`,
compulsory read + read-for-ownership traffic, as v1 counted it) so both answers come from
the same lowered program. Cases:
- `out = a + b; y = out * 2` with a, b, out of 0.25-0.75x the LLC each: the pair's working
  set is 0.75-2.25x the LLC. v1 keeps `out` whole (it was written last) until the working set
  passes 1.5x; with lines, LRU keeps only the most recent LLC-full of *interleaved* lines of
  a, b and out, and the second loop's reads of `out` evict what it is about to read.
- a reduction over a tensor 1.5x the LLC, timed in a loop (repeat=2): both say every line
  misses with LRU (a cyclic sweep); with random replacement lines say about 1/3 hit.
All numbers are simulated; the model of record is the line-granular one. Hit rates are per
level: a core's re-read of its own chunk hits its L2 and never reaches the LLC (the LLC is
inclusive, so an L2 hit is valid only while the LLC still holds the line).
"""
from __future__ import annotations

import argparse
import sys
from collections import OrderedDict
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from archsim.config import load_config  # noqa: E402
from archsim.graph import build_workload  # noqa: E402
from archsim.lower.cpu import lower_cpu  # noqa: E402
from archsim.simulate import simulate  # noqa: E402
from archsim.trace import trace  # noqa: E402

MiB = 1 << 20


def tensor_lru_dram_reads(program, capacity: int, repeat: int = 1) -> list[int]:
    """v1's tensor-granularity LRU: DRAM bytes read per task (inputs that miss, plus
    read-for-ownership of outputs not resident), last repetition."""
    lines: OrderedDict[str, int] = OrderedDict()
    used = 0

    def insert(name, n):
        nonlocal used
        if n > capacity:
            return
        while used + n > capacity and lines:
            used -= lines.popitem(last=False)[1]
        lines[name] = n
        used += n

    out = []
    for _ in range(repeat):
        out = []
        for t in program.tasks:
            miss = 0
            for name, n in t.reads:
                if name in lines:
                    lines.move_to_end(name)
                else:
                    miss += n
                    insert(name, n)
            for name, n in t.writes:
                if name not in lines and t.kind != "copy":
                    miss += n
                if name in lines:
                    used -= lines.pop(name)
                insert(name, n)
            out.append(miss)
    return out


def add_then_scale(a, b):
    out = a + b
    return out * np.float32(2.0)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--hw", default=str(REPO / "hwconfigs" / "xeon-host.yaml"))
    args = ap.parse_args(argv)
    cfg = load_config(args.hw)
    llc = cfg.l3.size
    print(f"LLC {llc / MiB:.0f} MiB (inclusive, LRU); second loop y = out * 2 of out = a + b:")
    print(f"{'tensor':>8} {'working set':>12} {'v1 DRAM rd':>11} {'lines DRAM rd':>14} "
          f"{'L2 hit':>7} {'LLC hit':>8} {'lines time us':>14}")
    for frac in (0.25, 0.375, 0.5, 0.625, 0.75):
        n = int(llc * frac) // 4
        a = np.ones(n, np.float32)
        g = trace(add_then_scale, a, a.copy())
        prog = lower_cpu(g, cfg)
        v1 = tensor_lru_dram_reads(prog, llc)[1]
        res = simulate(g, cfg, exec_mode="cpu")
        op = res.ops[1]
        print(f"{frac:7.3f}x {3 * frac:11.2f}x {v1 / MiB:9.1f}Mi {op.dram_read_bytes / MiB:12.1f}Mi "
              f"{op.kernels[0]['l2_hit_rate']:7.2f} {op.kernels[0]['llc_hit_rate']:8.2f} "
              f"{op.time_s * 1e6:14.1f}")
    print()
    print("reduce over a tensor 1.5x the LLC, second of two runs (repeat=2):")
    print(f"{'LLC policy':>12} {'v1 DRAM rd':>11} {'lines DRAM rd':>14} {'L2 hit':>7} {'LLC hit':>8} "
          f"{'time us':>9}")
    rows = int(llc * 1.5) // 4 // 4096
    spec = f"reduce(rows={rows}, cols=4096, dtype='fp32')"
    for policy in ("lru", "random"):
        c2 = load_config(args.hw, overrides=[f"l3.replacement={policy}"])
        g = build_workload(spec)
        v1 = tensor_lru_dram_reads(lower_cpu(g, c2), llc, repeat=2)[0]
        res = simulate(g, c2, exec_mode="cpu", repeat=2)
        print(f"{policy:>12} {v1 / MiB:9.1f}Mi {res.dram_read_bytes / MiB:12.1f}Mi "
              f"{res.ops[0].kernels[0]['l2_hit_rate']:7.2f} {res.ops[0].kernels[0]['llc_hit_rate']:8.2f} "
              f"{res.time_s * 1e6:9.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
