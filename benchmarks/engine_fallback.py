"""What the pure-Python fallback costs: the same GPU runs with `--engine cython` and
`--engine python` (the compiled engine and L2 vs their pure-Python twins), wall time of
`simulate` in a fresh process each, best of --repeat.

    PYTHONPATH=. python benchmarks/engine_fallback.py

The fallback samples the L2 more heavily (archsim.hw.gpu) so its answers differ slightly; the
simulated times are printed beside the wall times so the comparison is visible.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys

CASES = ["add(n=2**22)", "gemm(M=2048, N=2048, K=2048)", "bert-base(batch=1, seq=128, layers=2)",
         "gemm(M=8192, N=8192, K=8192)", "bert-base(batch=8, seq=128, layers=12)"]

CHILD = r"""
import json, sys, time, warnings
warnings.simplefilter("ignore")
from archsim import engine
from archsim.config import load_config
from archsim.graph import build_workload
from archsim.simulate import simulate
cfg = load_config("hwconfigs/h200.yaml")
g = build_workload(sys.argv[1])
t0 = time.perf_counter()
r = simulate(g, cfg)
print(json.dumps({"backend": engine.BACKEND, "wall": time.perf_counter() - t0, "sim_us": r.time_s * 1e6}))
"""


def run(spec: str, backend: str) -> dict:
    env = dict(os.environ, ARCHSIM_ENGINE=backend)
    out = subprocess.run([sys.executable, "-c", CHILD, spec], env=env, capture_output=True,
                         text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeat", type=int, default=2)
    args = ap.parse_args()
    print("| workload | cython wall s | python wall s | slowdown | cython sim us | python sim us |")
    print("|---|---|---|---|---|---|")
    for spec in CASES:
        c = min((run(spec, "cython") for _ in range(args.repeat)), key=lambda r: r["wall"])
        p = min((run(spec, "python") for _ in range(args.repeat)), key=lambda r: r["wall"])
        assert c["backend"] == "cython" and p["backend"] == "python"
        print(f"| {spec} | {c['wall']:.3f} | {p['wall']:.3f} | {p['wall'] / c['wall']:.1f}x | "
              f"{c['sim_us']:.1f} | {p['sim_us']:.1f} |")


if __name__ == "__main__":
    main()
