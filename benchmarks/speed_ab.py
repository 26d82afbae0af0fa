"""Interleaved A/B of simulator CPU time: two checkouts run alternately on the speed.py cases.

    python benchmarks/speed_ab.py --base /path/to/main --reps 3            # every case
    python benchmarks/speed_ab.py --base /path/to/main --only Llama --reps 5

Each repetition runs every selected case once on the base checkout, then once on this one
(fresh processes, `archsim run -q`, speed.py's run_once), so both see the same phases of a
shared host. Printed per case: each run's child CPU time (user + sys), the median of each
side, the ratio branch / base of the medians, and the load average around the case. On a
loaded machine CPU time still swings (other processes evict the host's caches), which is why
the two sides alternate and a ratio, not an absolute time, is the result.
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from speed import CASES, ROOT, run_once  # noqa: E402


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--base", required=True, help="the checkout to compare against (A)")
    ap.add_argument("--repo", default=str(ROOT), help="the checkout under test (B; default: this)")
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--only", default="", help="substring filter on case names")
    args = ap.parse_args(argv)
    base, repo = Path(args.base).resolve(), Path(args.repo).resolve()
    cases = [(n, s) for n, s in CASES if s is not None and (not args.only or args.only in n)]
    runs = {n: ([], []) for n, _ in cases}
    loads = {n: [] for n, _ in cases}
    print(f"A = {base}, B = {repo}; {args.reps} interleaved repetitions; "
          f"load average {os.getloadavg()[0]:.1f}", flush=True)
    for r in range(args.reps):
        for name, spec in cases:
            loads[name].append(os.getloadavg()[0])
            a = run_once(base, spec)[1]
            b = run_once(repo, spec)[1]
            runs[name][0].append(a)
            runs[name][1].append(b)
            print(f"rep {r + 1} {name}: A {a:.2f} s, B {b:.2f} s", flush=True)
    print(f"| case | A cpu s (median) | B cpu s (median) | B / A | A runs | B runs | load |")
    print("|---|--:|--:|--:|---|---|---|")
    for name, _ in cases:
        a, b = runs[name]
        ma, mb = statistics.median(a), statistics.median(b)
        ld = loads[name]
        print(f"| {name} | {ma:.2f} | {mb:.2f} | {mb / ma:.3f} | "
              f"{', '.join(f'{x:.2f}' for x in a)} | {', '.join(f'{x:.2f}' for x in b)} | "
              f"{min(ld):.1f}-{max(ld):.1f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
