"""Simulator speed on the issue-9 cases: `archsim run` end to end, as a user runs it.

    python benchmarks/speed.py                  # this checkout
    python benchmarks/speed.py --repo /work/main  # the same cases on another checkout

Each case runs `python -m archsim run -w SPEC -q` in a fresh process (`--repeat` times, best
kept) and reports wall time and the child's CPU time (user + sys). On a shared machine wall
time counts the time other processes held the cores; CPU time does not, so both are shown.
The import case times `import archsim` plus listing the workload registry's names (building a
workload then imports only the module that defines it).
"""
from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

CASES = [
    ("import archsim + workload registry (names)", None),
    ("archsim run (default: BERT-base b8 s128)", ""),
    ("BERT-base 12 layers, batch 8, seq 512", "bert-base(batch=8,seq=512)"),
    ("Llama-3-8B prefill 2048 tokens, 32 layers", "llama3-8b(phase='prefill',seq=2048)"),
    ("ResNet-50 batch 256", "resnet50(batch=256)"),
]
IMPORT = ("import archsim; from archsim.graph.registry import workload_names; "
          "workload_names()")


def run_once(repo: Path, spec) -> tuple[float, float]:
    env = dict(os.environ, PYTHONPATH=str(repo))
    if spec is None:
        cmd = [sys.executable, "-c", IMPORT]
    else:
        cmd = [sys.executable, "-m", "archsim", "run", "-q"] + (["-w", spec] if spec else [])
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    subprocess.run(cmd, env=env, cwd="/tmp", check=True, stdout=subprocess.DEVNULL)
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--repo", default=str(ROOT), help="checkout to measure (default: this one)")
    ap.add_argument("--repeat", type=int, default=2)
    ap.add_argument("--only", default="", help="substring filter on case names")
    args = ap.parse_args(argv)
    repo = Path(args.repo).resolve()
    print(f"checkout {repo}; {os.cpu_count()} CPUs; load average {os.getloadavg()[0]:.2f}; "
          f"best of {args.repeat}")
    print(f"| {'case':<44} | {'wall s':>7} | {'cpu s':>7} |")
    print(f"|{'-' * 46}|{'-' * 8}:|{'-' * 8}:|")
    for name, spec in CASES:
        if args.only and args.only not in name:
            continue
        best = min((run_once(repo, spec) for _ in range(args.repeat)), key=lambda x: x[1])
        print(f"| {name:<44} | {best[0]:>7.2f} | {best[1]:>7.2f} |", flush=True)
    print(f"load average after: {os.getloadavg()[0]:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
