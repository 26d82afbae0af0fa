"""How far an unfinished UPCYCLE case got: ops done and the share of the cache line walks done.

    python benchmarks/upcycle_progress.py benchmarks/data/upcycle-device/progress_*.txt
    python benchmarks/upcycle_progress.py --walks bert-large:infer_bs16 bert-large:train_bs16

Reads the progress files `benchmarks/device/upcycle_batch.py` writes (UPCYCLE_PROGRESS_DIR;
`progress_APP_CASE.txt`: the fraction of ops done, CPU and wall seconds), lowers the case's
graph for upcycle-2048 (no simulation) and prints the ops done and the share of the case's
L1 line look-ups they hold. The look-ups of an op are counted from its lowering: steps x
active tiles x (A block + B block lines), the work that dominates a step-synchronous run
(benchmarks/RESULTS.md, "UPCYCLE, fourth stage"); the projection wall / share is an estimate.
"""
from __future__ import annotations

import math
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))


def line_walks(op, tiles: int, line: int) -> int:
    """L1 line look-ups of one op (one repetition): steps x active tiles x block lines."""
    waves = op.waves(tiles)
    steps = waves * op.k_steps + (waves if op.splitk > 1 else 0)
    active = min(tiles, op.G * op.i_blocks * op.j_blocks * op.splitk)
    return steps * active * (math.ceil(op.a_bytes / line) + math.ceil(op.b_bytes / line))


def main(argv=None) -> int:
    files = sys.argv[1:] if argv is None else argv
    if not files:
        print("usage: upcycle_progress.py progress_APP_CASE.txt ... | --walks APP:CASE ...",
              file=sys.stderr)
        return 2
    import upcycle
    import workloads  # noqa: F401  (registers the models)
    from archsim.config import load_config
    from archsim.graph import build_workload
    from archsim.graph.training import training_graph
    from archsim.lower.mesh import lower_mesh
    cfg = load_config(ROOT / "hwconfigs/upcycle-2048.yaml")
    if files[0] == "--walks":       # a whole case's L1 line look-ups (lowering only)
        for spec_case in files[1:]:
            app, case = spec_case.split(":")
            spec, train, _ = upcycle.spec_of(app, case)
            g = build_workload(spec)
            if train:
                g = training_graph(g)
            ops = lower_mesh(g, cfg).ops
            total = sum(line_walks(op, cfg.tiles.tiles, cfg.line) for op in ops)
            print(f"{app} {case}: {len(ops)} ops, {total / 1e9:.2f} G L1 line look-ups")
        return 0
    print("| case | ops done | of ops | share of L1 line look-ups done | wall s | CPU s | "
          "projected wall s (wall / share) |")
    print("|---|---|---|---|---|---|---|")
    for f in files:
        m = re.match(r"progress_(.+)_((?:infer|train)_bs\d+)\.txt$", Path(f).name)
        text = Path(f).read_text()
        p = re.match(r"([\d.]+) ops done, ([\d.]+) s CPU, ([\d.]+) s wall", text)
        if not m or not p:
            print(f"{f}: not a progress file of upcycle_batch.py", file=sys.stderr)
            return 2
        app, case = m.groups()
        frac, cpu, wall = (float(x) for x in p.groups())
        spec, train, _ = upcycle.spec_of(app, case)
        g = build_workload(spec)
        if train:
            g = training_graph(g)
        ops = lower_mesh(g, cfg).ops
        work = [line_walks(op, cfg.tiles.tiles, cfg.line) for op in ops]
        done = int(round(frac * len(ops)))
        share = sum(work[:done]) / sum(work)
        print(f"| {app} {case} | {done} | {len(ops)} | {share:.3f} | {wall:.0f} | {cpu:.0f} | "
              f"{wall / share:.0f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
