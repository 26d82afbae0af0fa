"""Per-layer results of a many-core run: cycles, L1/L2/LLC accesses, mesh loads, off-chip bytes.

    python benchmarks/upcycle_layers.py resnet50 --out benchmarks/data/upcycle-layers-resnet50.md
    python benchmarks/upcycle_layers.py bert-large --out benchmarks/data/upcycle-layers-bert-large.md
    python benchmarks/upcycle_layers.py "gemm(M=512, N=512, K=512, dtype='int8')"
    python benchmarks/upcycle_layers.py "ssd-resnet34(batch=16, image=1200, dtype='int8')" --ops 0:5

`resnet50` and `bert-large` are the issue's shapes (INT8 inference: ResNet-50 batch 16 224² with
BN folded; BERT-Large batch 1 seq 178 with the SQuAD head); any other argument is a workload
spec. Columns (per op, all repetitions): blocks mb x nb x kb (split-K), steps, cycles (the op's
time), compute and fetch (sums over steps), L1/L2/LLC line accesses, mesh byte-hops, the mean
over steps of the most-loaded link's bytes, HBM bytes, and what bound the op. The method is
written down in archsim/hw/manycore/README.md.

`--ops A:B` runs only the mesh ops A..B-1 of the program (step-synchronous, in order, from a cold
chip) and prints, per op, its cycles and bound beside the bytes its tensors hold and the bytes
it moved to and from HBM: where a layer's HBM traffic exceeds its tensors, something is read
or written more than once.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

SHAPES = {"resnet50": "resnet50(batch=16, image=224, dtype='int8', bn='folded')",
          "bert-large": "bert-large(batch=1, seq=178, dtype='int8', include_head=True)"}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("workload")
    ap.add_argument("--hw", default=str(ROOT / "hwconfigs/upcycle-2048.yaml"))
    ap.add_argument("--set", action="append", default=[])
    ap.add_argument("--mode", default="stepsync")
    ap.add_argument("--out")
    ap.add_argument("--ops", help="A:B: only mesh ops A..B-1, with tensor and HBM bytes")
    a = ap.parse_args(argv)
    import workloads  # noqa: F401
    from archsim.config import load_config
    from archsim.graph import build_workload
    from archsim.simulate import simulate
    spec = SHAPES.get(a.workload, a.workload)
    cfg = load_config(a.hw, overrides=a.set)
    if a.ops:
        return op_range(spec, cfg, a.ops, build_workload)
    t0, c0 = time.perf_counter(), time.process_time()
    r = simulate(build_workload(spec), cfg, exec_mode=a.mode)
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    lines = [f"{spec} on {cfg.name} ({a.mode}): {r.time_s * 1e6:.1f} us, {r.cycles:,} cycles, "
             f"{r.energy_j * 1e3:.2f} mJ, HBM {r.dram_read_bytes / 1e6:.1f} MB read "
             f"{r.dram_write_bytes / 1e6:.1f} MB written; simulated in {wall:.1f} s wall, "
             f"{cpu:.1f} s CPU", "",
             "| op | kind | blocks | steps | cycles | compute | fetch | L1 acc | L2 acc | LLC acc | "
             "byte-hops | max link B/step | HBM B | bound |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for op in r.ops:
        k = op.kernels[0]
        b = k["blocks"]
        blk = f"{b['mb']}x{b['nb']}x{b['kb']}" + (f" /{b['splitk']}" if b["splitk"] > 1 else "")
        lines.append(
            f"| {op.name} | {op.kind} | {blk} | {k['steps']} | {k['cycles']:,.0f} | "
            f"{k['compute_cycles']:,.0f} | {k['fetch_cycles']:,.0f} | {k['l1_accesses']:,} | "
            f"{k['l2_accesses']:,} | {k['llc_accesses']:,} | {k['mesh_byte_hops']:,.0f} | "
            f"{k['mesh_max_link_bytes_per_step']:,.0f} | {k['offchip_bytes']:,} | {k['bound']} |")
    text = "\n".join(lines) + "\n"
    if a.out:
        Path(a.out).write_text(text)
        print(lines[0])
        print(f"wrote {a.out} ({len(r.ops)} ops)")
    else:
        print(text)
    return 0


def op_range(spec, cfg, ops, build_workload) -> int:
    from archsim.hw.manycore.stepsync import StepSyncModel
    from archsim.lower.mesh import lower_mesh
    prog = lower_mesh(build_workload(spec), cfg)
    lo, hi = (int(x) if x else d for x, d in zip(ops.split(":"), (0, len(prog.ops))))
    m = StepSyncModel(cfg)
    m.set_program(prog.ops)
    print(f"{spec} on {cfg.name}, mesh ops {lo}..{hi - 1} of {len(prog.ops)} (stepsync)\n")
    print("| # | op | kind | fused | steps | cycles | bound | tensors read MB | tensors written "
          "MB | HBM read MB | HBM written MB |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    tot = 0.0
    c0 = time.process_time()
    for i, op in enumerate(prog.ops):
        if i >= hi:
            break
        r = m.run_op(op, i)
        if i < lo:
            continue
        tot += r.cycles
        print(f"| {i} | {op.name} | {op.kind} | {'+'.join(op.fused) or '-'} | {r.steps} | "
              f"{r.cycles:,.0f} | {r.bound} | {sum(x[1] for x in op.reads) / 1e6:.1f} | "
              f"{sum(x[1] for x in op.writes) / 1e6:.1f} | "
              f"{r.counters['hbm_read_bytes'] / 1e6:.1f} | "
              f"{r.counters['hbm_write_bytes'] / 1e6:.1f} |", flush=True)
    print(f"\nsum of cycles {tot:,.0f} = {tot / cfg.tiles.clock * 1e6:.1f} us; "
          f"{time.process_time() - c0:.1f} s CPU")
    return 0


if __name__ == "__main__":
    sys.exit(main())
