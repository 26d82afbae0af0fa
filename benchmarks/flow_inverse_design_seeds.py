"""The inverse-design table over independent seeds: mean ± std of each method's pixel match
rate, stream IoU and exact-sequence rate (issue 16: no claim from one draw).

    python benchmarks/flow_inverse_design_seeds.py --seeds 5 --jobs 5 --dir DIR \\
        -- --sequences 4000 --cnn-epochs 8 --sae-epochs 6
    python benchmarks/flow_inverse_design_seeds.py --dir DIR --table   # from saved seeds

Each seed runs benchmarks/flow_inverse_design.py --seed S --out DIR/seed_S.json --no-figure in
its own process (the seed draws the training sequences, the network initialisation and the
held-out targets); --jobs runs that many at once, each with cores/jobs BLAS threads. A seed's
JSON is written when it finishes, so a stopped run keeps the seeds it finished; --table prints
the table from whatever DIR holds.
"""
import argparse
import glob
import json
import os
import subprocess
import sys

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
METHODS = (("cnn_sae", "CNN + SAE (peeling, learned intermediates)"),
           ("cnn_inverse", "CNN + exact inverse maps"),
           ("greedy", "greedy forward search"),
           ("random", "random sequence"))


def table(directory: str) -> None:
    runs = [json.load(open(f)) for f in sorted(glob.glob(os.path.join(directory, "seed_*.json")))]
    if not runs:
        sys.exit(f"no seed_*.json in {directory}")
    seeds = [r["args"]["seed"] for r in runs]
    print(f"{len(runs)} seeds {seeds}; args {({k: v for k, v in runs[0]['args'].items() if k not in ('seed', 'out')})}")
    print("| method | pixel match rate | stream IoU | exact sequence |")
    print("|---|---|---|---|")

    def ms(key):
        v = np.array([r[key] for r in runs], float)
        return f"{v.mean():.4f} ± {v.std(ddof=1) if len(v) > 1 else 0.0:.4f}"
    for key, name in METHODS:
        print(f"| {name} | {ms('pmr_' + key)} | {ms('iou_' + key)} | {ms('exact_seq_' + key)} |")
    print(f"| (inlet, no pillars) | {ms('pmr_inlet_unchanged')} | {ms('iou_inlet_unchanged')} | – |")
    print(f"held-out next-pillar accuracy {ms('held_out_pillar_accuracy')} "
          f"(chance {runs[0]['chance_accuracy']:.3f}); SAE intermediate pixel match "
          f"{ms('sae_intermediate_pmr')}")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seeds", type=int, default=5)
    ap.add_argument("--first-seed", type=int, default=0)
    ap.add_argument("--jobs", type=int, default=1)
    ap.add_argument("--dir", required=True)
    ap.add_argument("--table", action="store_true", help="only print the table from --dir")
    ap.add_argument("rest", nargs=argparse.REMAINDER, help="-- then flow_inverse_design.py options")
    a = ap.parse_args()
    if not a.table:
        os.makedirs(a.dir, exist_ok=True)
        rest = [x for x in a.rest if x != "--"]
        env = dict(os.environ)
        threads = str(max(1, (os.cpu_count() or 1) // max(1, a.jobs)))
        for v in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
            env[v] = threads
        todo = [s for s in range(a.first_seed, a.first_seed + a.seeds)
                if not os.path.exists(os.path.join(a.dir, f"seed_{s}.json"))]
        running = []
        while todo or running:
            while todo and len(running) < a.jobs:
                s = todo.pop(0)
                log = open(os.path.join(a.dir, f"seed_{s}.log"), "w")
                running.append(subprocess.Popen(
                    [sys.executable, os.path.join(HERE, "flow_inverse_design.py"), "--seed", str(s),
                     "--out", os.path.join(a.dir, f"seed_{s}.json"), "--no-figure", *rest],
                    stdout=log, stderr=subprocess.STDOUT, env=env))
            running[0].wait()
            running = [p for p in running if p.poll() is None]
    table(a.dir)


if __name__ == "__main__":
    main()
