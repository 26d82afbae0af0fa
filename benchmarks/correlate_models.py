"""Whole models on the GPU model against the same models measured on a real H200.

    python benchmarks/correlate_models.py [--data benchmarks/data/h200-models.json] [--hw h200]

For each case of the models file (written by benchmarks/device/models.py) the workload spec it
names is simulated on the machine and compared with the measured device time of one step
replayed from a CUDA graph (graph_us: kernels plus the device-side gaps between them), and with
the sum of kernel durations (kernel_ns_sum). Prints per case and in total: errors, MAPE, median,
worst, and the simulator's wall time per case.
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from archsim.config import load_config  # noqa: E402
from archsim.graph import build_workload  # noqa: E402
from archsim.graph.spec import format_spec, parse_spec  # noqa: E402
from archsim.simulate import simulate  # noqa: E402


def spec_as_measured(case: dict) -> str:
    """The case's spec, adjusted to what was measured: the Llama layer ran alone, without the
    embedding, final norm and LM head (its 'includes' field says so), which the llama3-8b
    workload adds by default."""
    name, kwargs = parse_spec(case["workload"])
    if name == "llama3-8b" and "no embeddings, no final norm, no LM head" in case.get("includes", ""):
        kwargs.setdefault("blocks_only", True)
    return format_spec(name, kwargs)


def run_case(case: dict, cfg) -> dict:
    spec = spec_as_measured(case)
    graph = build_workload(spec)
    if case.get("mode") == "training":
        from archsim.graph.training import training_graph
        graph = training_graph(graph)
    t0 = time.perf_counter()
    # a model step measured by graph replay after warm-ups: weights may be L2-resident
    res = simulate(graph, cfg, l2_start="warm", repeat=2)
    wall = time.perf_counter() - t0
    kernel_s = sum(op.time_s for op in res.ops)
    return {"name": case["name"], "spec": spec, "mode": case.get("mode", "inference"),
            "sim_s": res.time_s, "sim_kernel_s": kernel_s, "meas_s": case["graph_us"] * 1e-6,
            "meas_kernel_s": case["kernel_ns_sum"] * 1e-9,
            "sim_dram": res.dram_read_bytes + res.dram_write_bytes,
            "meas_dram": case.get("dram_bytes_sum"), "wall_s": wall}


def err(sim: float, meas: float) -> float:
    return (sim - meas) / meas


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", default=str(REPO / "benchmarks" / "data" / "h200-models.json"))
    ap.add_argument("--hw", default=str(REPO / "hwconfigs" / "h200.yaml"))
    ap.add_argument("--only", help="substring of case names to run")
    ap.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                    help="config override, as archsim run --set")
    args = ap.parse_args(argv)
    cfg = load_config(args.hw, overrides=args.set)
    cases = json.loads(Path(args.data).read_text())["cases"]
    rows = []
    print(f"{'case':<22} {'mode':<9} {'sim us':>9} {'meas us':>9} {'err':>7} "
          f"{'kern err':>8} {'DRAM err':>8} {'wall s':>6}  spec")
    for case in cases:
        if args.only and args.only not in case["name"]:
            continue
        r = run_case(case, cfg)
        r["err"] = err(r["sim_s"], r["meas_s"])
        r["kerr"] = err(r["sim_kernel_s"], r["meas_kernel_s"])
        r["derr"] = err(r["sim_dram"], r["meas_dram"]) if r["meas_dram"] else None
        rows.append(r)
        derr = f"{100 * r['derr']:+7.1f}%" if r["derr"] is not None else "      -"
        print(f"{r['name']:<22} {r['mode']:<9} {r['sim_s'] * 1e6:9.1f} {r['meas_s'] * 1e6:9.1f} "
              f"{100 * r['err']:+6.1f}% {100 * r['kerr']:+7.1f}% {derr} {r['wall_s']:6.2f}  {r['spec']}")
    if not rows:
        return 1
    abs_err = [abs(r["err"]) for r in rows]
    kabs = [abs(r["kerr"]) for r in rows]
    dabs = [abs(r["derr"]) for r in rows if r["derr"] is not None]
    print(f"\ndevice time (graph replay): MAPE {100 * statistics.mean(abs_err):.1f}%  median "
          f"{100 * statistics.median(abs_err):.1f}%  worst {100 * max(abs_err):.1f}%  "
          f"within 20%: {sum(e <= 0.2 for e in abs_err)}/{len(abs_err)}")
    print(f"kernel-time sum:            MAPE {100 * statistics.mean(kabs):.1f}%  median "
          f"{100 * statistics.median(kabs):.1f}%  worst {100 * max(kabs):.1f}%")
    if dabs:
        print(f"DRAM bytes:                 median abs error {100 * statistics.median(dabs):.1f}%")
    print(f"simulator wall time: max {max(r['wall_s'] for r in rows):.2f} s per case")
    return 0


if __name__ == "__main__":
    sys.exit(main())
