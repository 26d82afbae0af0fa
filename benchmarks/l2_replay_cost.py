"""Cost of the GPU L2 functional pass alone: replay a workload's first N kernels through the L2.

    python benchmarks/l2_replay_cost.py                          # ResNet-50 b256, every kernel
    python benchmarks/l2_replay_cost.py --repo /path/to/other/checkout --kernels 30
    valgrind --tool=callgrind python benchmarks/l2_replay_cost.py --kernels 30   # instructions

Prints the replay's CPU time (process time, not wall: the machine may be shared). Under
callgrind, run it with --kernels 0 and --kernels N: the difference of the two instruction
totals is the replay's, independent of machine load (how RESULTS.md compares two versions of
the L2 while other jobs share the cores).
"""
from __future__ import annotations

import argparse
import os
import sys
import time

ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
ap.add_argument("--repo", default=os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
ap.add_argument("--workload", default="resnet50(batch=256)")
ap.add_argument("--kernels", type=int, default=-1, help="first N kernels (default: all)")
args = ap.parse_args()
sys.path.insert(0, os.path.abspath(args.repo))

from archsim.config import load_config  # noqa: E402
from archsim.graph import build_workload  # noqa: E402
from archsim.hw.gpu.model import make_model  # noqa: E402
from archsim.lower import lower  # noqa: E402

cfg = load_config(os.path.join(args.repo, "hwconfigs", "h200.yaml"))
program = lower(build_workload(args.workload), cfg)
model = make_model(program, cfg)
model.prepare(program, "cold")
kernels = program.kernels if args.kernels < 0 else program.kernels[:args.kernels]
t0 = time.process_time()
for k in kernels:
    model.replay(k, program)
print(f"{args.workload}: {len(kernels)} kernels replayed in {time.process_time() - t0:.3f} s "
      f"CPU (L2 sample 1/{model.l2.sample}); load average {os.getloadavg()[0]:.1f}")
