"""CPU seconds per op of an UPCYCLE case's first ops, optionally under cProfile (issue 11).

    python benchmarks/upcycle_profile_ops.py bert-large train_bs16 0 26          # ops 0..25
    python benchmarks/upcycle_profile_ops.py bert-large train_bs16 9 10 --profile   # layer0.qkv

Runs ops 0..END-1 of the case's program on upcycle-2048 in the step-synchronous mode (every op
before START runs too: the caches carry state from op to op) and prints each op from START on
with its steps and CPU seconds (time.process_time: all threads of the process); with
--profile, cProfile's top functions over ops START..END-1 (its times are wall times).
ARCHSIM_MANYCORE_THREADS sets the walk lanes (archsim/hw/manycore/README.md).
"""
import argparse
import cProfile
import pstats
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("app")
    ap.add_argument("case")
    ap.add_argument("start", type=int)
    ap.add_argument("end", type=int)
    ap.add_argument("--profile", action="store_true")
    a = ap.parse_args(argv)
    import upcycle
    import workloads  # noqa: F401  (registers the models)
    from archsim.config import load_config
    from archsim.graph import build_workload
    from archsim.graph.training import training_graph
    from archsim.hw.manycore.stepsync import StepSyncModel
    from archsim.lower.mesh import lower_mesh
    spec, train, _ = upcycle.spec_of(a.app, a.case)
    cfg = load_config(ROOT / "hwconfigs/upcycle-2048.yaml")
    g = build_workload(spec)
    if train:
        g = training_graph(g)
    prog = lower_mesh(g, cfg)
    print(f"{spec}: {len(prog.ops)} ops")
    m = StepSyncModel(cfg)
    m.set_program(prog.ops)
    pr = cProfile.Profile() if a.profile else None
    total = 0.0
    for i, op in enumerate(prog.ops[:a.end]):
        c0 = time.process_time()
        if pr is not None and i >= a.start:
            pr.enable()
        r = m.run_op(op, i)
        if pr is not None:
            pr.disable()
        dt = time.process_time() - c0
        if i >= a.start:
            total += dt
            print(f"{i} {op.name} {op.cls} steps {r.steps} cycles {r.cycles:.1f} cpu {dt:.2f} s")
    print(f"ops {a.start}..{a.end - 1}: {total:.1f} s CPU")
    if pr is not None:
        pstats.Stats(pr).sort_stats("tottime").print_stats(12)
    return 0


if __name__ == "__main__":
    sys.exit(main())
