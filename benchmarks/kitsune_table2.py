"""Kitsune (arXiv 2502.18403) Table 2: operator coverage and off-chip traffic reduction of
vertical fusion and of Kitsune's dataflow pipelines against bulk-synchronous (BSP) execution,
for DLRM, GraphCast, MeshGraphNets, NeRF and Llama-3-8B, inference and training, beside the
paper's numbers.

    python benchmarks/kitsune_table2.py                 # every app, inference and training
    python benchmarks/kitsune_table2.py --app nerf      # one app
    python benchmarks/kitsune_table2.py --phase infer   # inference rows only
    python benchmarks/kitsune_table2.py --whole         # whole models: absolute op coverage

Columns:
- ops: the graph's ops (views excluded: they launch nothing); the paper's count beside it.
- coverage: ops inside fusion groups (vertical, archsim.lower.fused.fusion_groups) and inside
  pipelines (Kitsune, archsim.lower.dataflow.plan_dataflow).
- compulsory MB: Op.bytes summed over the graph (each op reads its inputs and writes its
  outputs once), the accounting's baseline.
- BSP / fused MB: DRAM bytes (read + write) simulated on hwconfigs/a100.yaml in modes bsp and
  fused (archsim.simulate, cold L2).
- vertical: sim: 1 - fused / BSP, simulated.
- vertical / Kitsune: acct: the cut by plan accounting (archsim.lower.dataflow.traffic:
  compulsory bytes op by op, minus what the groups keep on chip, plus queue spills), both sides
  in compulsory bytes.
- Kitsune: vs sim BSP: 1 - (compulsory bytes the plan leaves) / (simulated BSP bytes). The
  simulated BSP run moves less than its compulsory bytes where the L2 keeps intermediates
  between kernels and more where GEMM operands are re-read from DRAM; the two columns bracket
  what the dataflow machine should show.
- Kitsune uses plan_dataflow(edge_gathers=False): every gather runs BSP, which is what the
  paper's op coverage points to; the "edge gathers in" column keeps graph-edge gathers in the
  pipelines (the pass's default). Kitsune is plan accounting until the dataflow machine runs
  (mode "dataflow"); then the `Kitsune: sim` column is filled from simulating it.
"""
from __future__ import annotations

import argparse
import datetime
import math
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from archsim.config import load_config  # noqa: E402
from archsim.errors import UserError  # noqa: E402
from archsim.graph import Graph, Op, build_workload  # noqa: E402
from archsim.graph.training import training_graph  # noqa: E402
from archsim.hw.registry import machine_kind  # noqa: E402
from archsim.lower.dataflow.select import plan_dataflow  # noqa: E402
from archsim.lower.dataflow.traffic import kept_bytes, plan_traffic  # noqa: E402
from archsim.hw.gpu import run_program  # noqa: E402
from archsim.lower.fused import fusion_groups, lower_fused  # noqa: E402
from archsim.simulate import simulate  # noqa: E402

# The graphs: the paper counts ops per repeated block (a Llama layer) or for a small model; its
# batch sizes are not published ("a meaningful batch size, like 32 or larger").
APPS = {
    "dlrm": ("dlrm(batch=2048)", None, "DLRM"),
    "graphcast": ("graphcast(layers=1)", None, "GraphCast"),
    "meshgraphnets": ("meshgraphnets(layers=3, batch=4)", None, "MeshGraphNets"),
    "nerf": ("nerf(rays=4096, samples=64)", None, "NeRF"),
    "llama-prefill": ("llama3-8b(layers=1, blocks_only=True, batch=1, seq=2048)", None,
                      "Llama prefill"),
    "llama-decode": ("llama3-8b(phase='decode', layers=1, blocks_only=True, batch=32, "
                     "context=2048)", None, "Llama decode"),
}
# whole models (absolute op counts; --whole prints coverage and plan accounting for them)
WHOLE = {
    "dlrm": "dlrm(batch=2048)",
    "graphcast": "graphcast()",
    "meshgraphnets": "meshgraphnets(batch=4)",
    "nerf": "nerf(rays=4096, samples=64)",
    "llama-prefill": "llama3-8b(batch=1, seq=2048)",
    "llama-decode": "llama3-8b(phase='decode', batch=32, context=2048)",
}
# paper Table 2 (papers.md §1): ops, coverage vertical, coverage Kitsune, cut vertical %, cut
# Kitsune % — inference and training (Llama training is one row, under llama-prefill)
PAPER = {
    ("dlrm", "infer"): (21, 17, 17, 22.53, 44.27),
    ("graphcast", "infer"): (35, 21, 29, 23.98, 57.20),
    ("meshgraphnets", "infer"): (51, 36, 41, 56.54, 57.76),
    ("nerf", "infer"): (24, 18, 24, 40.19, 98.58),
    ("llama-prefill", "infer"): (27, 10, 19, 10.04, 49.07),
    ("llama-decode", "infer"): (27, 10, 19, 0.01, 0.07),
    ("dlrm", "train"): (59, 18, 46, 7.86, 25.07),
    ("graphcast", "train"): (101, 20, 76, 9.06, 40.06),
    ("meshgraphnets", "train"): (148, 36, 108, 21.76, 40.26),
    ("nerf", "train"): (69, 18, 56, 14.13, 45.47),
    ("llama-prefill", "train"): (88, 10, 34, 2.85, 45.16),
}


def eager_activations(g: Graph) -> Graph:
    """The graph as eager PyTorch runs nn.Linear + activation (the paper's BSP baseline and the
    FX graphs its compiler sees): the activation a workload folded into a GEMM's epilogue
    (relu, silu, sigmoid, gelu) becomes its own elementwise op; the bias stays in the GEMM
    (cuBLASLt's addmm epilogue)."""
    out = Graph(g.name, dict(g.attrs))
    for op in g.topo_ops():
        epi = op.attrs.get("epilogue")
        if op.kind != "gemm" or epi in (None, "identity", "bias_add"):
            out.add_op(op)
            continue
        y = op.outputs[0]
        pre = y.with_(name=f"{op.name}:pre_act")
        attrs = {k: v for k, v in op.attrs.items() if k != "epilogue"}
        if len(op.inputs) > 2:
            attrs["epilogue"] = "bias_add"
        out.add_op(Op(op.name, "gemm", op.inputs, (pre,), attrs))
        out.add_op(Op(f"{op.name}.{epi}", "elementwise", (pre,), (y,), {"fn": epi}))
    return out


def without_optimizer(g: Graph) -> Graph:
    """Forward and backward only: the graphs a Dynamo backend compiles (AOTAutograd); the
    optimizer step runs outside them."""
    out = Graph(g.name, dict(g.attrs))
    for op in g.topo_ops():
        if op.attrs.get("phase") != "optimizer":
            out.add_op(op)
    return out


def _dram(r) -> int:
    return r.dram_read_bytes + r.dram_write_bytes


def prepared(spec: str, phase: str, graphs: str):
    """The graph of `spec` for `phase` as Table 2 counts it, and its op names (views excluded):
    graphs='paper' makes activations their own ops and drops the optimizer step."""
    g = build_workload(spec)
    if graphs == "paper":
        g = eager_activations(g)
    if phase == "train":
        g = training_graph(g)
        if graphs == "paper":
            g = without_optimizer(g)
    return g, {o.name for o in g.ops if o.kind != "view"}


def row(app: str, phase: str, cfg, graphs: str = "paper", gemm_chains: bool = True) -> dict:
    spec = APPS[app][0]
    g, real = prepared(spec, phase, graphs)
    t0 = time.perf_counter()
    groups = fusion_groups(g, cfg, gemm_chains)
    plan = plan_dataflow(g, cfg, edge_gathers=False)
    plan_s = time.perf_counter() - t0
    with_gathers = plan_traffic(g, plan_dataflow(g, cfg), cfg)
    cov_v = sum(1 for grp in groups for n in grp if n in real)
    cov_k = sum(1 for p in plan.pipelines for s in p.stages if not s.reduce for n in s.ops
                if n in real)
    kt = plan_traffic(g, plan, cfg)
    kept_v = kept_bytes(g, [set(grp) for grp in groups], lambda op, i: True)
    out = {"app": app, "phase": phase, "spec": spec, "ops": len(real), "cov_v": cov_v,
           "cov_k": cov_k, "acct_v": kept_v / kt.baseline, "acct_k": kt.cut,
           "acct_kg": with_gathers.cut, "left_k": kt.with_groups, "compulsory": kt.baseline,
           "plan_s": plan_s}
    t0 = time.perf_counter()
    df = None
    if "dataflow" in machine_kind("gpu").modes:
        # mode dataflow runs the graph kernel by kernel first (its BSP profile, the same
        # simulation as mode bsp): that run is the BSP column
        from archsim.hw.dataflow.run import run_dataflow
        df = run_dataflow(g, cfg, keep_bsp=True)
        bsp = df.extra["dataflow"]["bsp_result"]
    else:
        bsp = simulate(g, cfg, exec_mode="bsp")
    fused = (simulate(g, cfg, exec_mode="fused") if gemm_chains else
             run_program(lower_fused(g, cfg, gemm_chains=False), cfg))
    out.update(bsp=_dram(bsp), fused=_dram(fused), sim_v=1 - _dram(fused) / _dram(bsp),
               est_k=1 - kt.with_groups / _dram(bsp),
               t_bsp=bsp.time_s, t_fused=fused.time_s)
    if df is not None:
        out.update(dataflow=_dram(df), sim_k=1 - _dram(df) / _dram(bsp), t_df=df.time_s)
    out["sim_s"] = time.perf_counter() - t0
    return out


def whole(apps, phases, cfg, graphs: str) -> None:
    """Coverage in absolute ops and plan-accounting cuts of the whole models (no simulation)."""
    print("| mode | app | whole model | ops | cov. vertical | cov. Kitsune | Kitsune: acct % | "
          "Kitsune, edge gathers in: acct % | plan s |")
    print("|---|---|---|---:|---:|---:|---:|---:|---:|")
    for phase in phases:
        for app in apps:
            if (app, phase) not in PAPER:
                continue
            g, real = prepared(WHOLE[app], phase, graphs)
            t0 = time.perf_counter()
            plan = plan_dataflow(g, cfg, edge_gathers=False)
            dt = time.perf_counter() - t0
            cov_v = sum(1 for grp in fusion_groups(g, cfg) for n in grp if n in real)
            cov_k = sum(1 for p in plan.pipelines for st in p.stages if not st.reduce
                        for n in st.ops if n in real)
            cut = plan_traffic(g, plan, cfg).cut
            cut_g = plan_traffic(g, plan_dataflow(g, cfg), cfg).cut
            name = APPS[app][2] if not (app == "llama-prefill" and phase == "train") else "Llama"
            print(f"| {phase} | {name} | `{WHOLE[app]}` | {len(real)} | {cov_v} | "
                  f"{cov_k} | {100 * cut:.1f} | {100 * cut_g:.1f} | {dt:.2f} |", flush=True)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--app", choices=sorted(APPS), action="append",
                    help="one app (repeatable); default all")
    ap.add_argument("--phase", choices=("infer", "train", "both"), default="both")
    ap.add_argument("--hw", default=str(REPO / "hwconfigs" / "a100.yaml"))
    ap.add_argument("--graphs", choices=("paper", "archsim"), default="paper",
                    help="paper: activations as their own ops (eager PyTorch) and training "
                         "without the optimizer step, as the paper's graphs; archsim: the "
                         "workloads as registered (activations in GEMM epilogues, optimizer "
                         "included)")
    ap.add_argument("--epilogues-only", action="store_true",
                    help="vertical fusion without back-to-back GEMMs (TensorRT-style; "
                         "lower_fused(gemm_chains=False))")
    ap.add_argument("--whole", action="store_true",
                    help="instead: coverage in absolute ops and plan accounting of the whole "
                         "models (all layers), without simulating")
    args = ap.parse_args(argv)
    try:
        cfg = load_config(args.hw)
    except UserError as e:
        print(f"kitsune_table2: {e}", file=sys.stderr)
        return 2
    apps = args.app or list(APPS)
    phases = ("infer", "train") if args.phase == "both" else (args.phase,)
    print(f"# Kitsune Table 2 on {cfg.name}, {args.graphs} graphs"
          f"{', vertical fusion of epilogues only' if args.epilogues_only else ''} — "
          f"{datetime.date.today().isoformat()}\n")
    if args.whole:
        print("Whole models: coverage in absolute ops, plan accounting (no simulation)\n")
        whole(apps, phases, cfg, args.graphs)
        return 0
    for app in apps:
        print(f"- {app}: `{APPS[app][0]}`")
    print()
    print("| mode | app | ops (paper) | cov. vertical (paper) | cov. Kitsune (paper) | "
          "compulsory MB | BSP MB | fused MB | vertical: sim % | vertical: acct % | paper vertical % | Kitsune: acct % | "
          "Kitsune: vs sim BSP % | paper Kitsune % | Kitsune, edge gathers in: acct % | "
          "Kitsune: sim % | BSP ms | fused ms | sim s |")
    print("|---|---|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    speedups: dict[str, list[float]] = {}
    for phase in phases:
        for app in apps:
            if (app, phase) not in PAPER:
                continue
            r = row(app, phase, cfg, args.graphs, not args.epilogues_only)
            speedups.setdefault(phase, []).append(r["t_bsp"] / r["t_fused"])
            p_ops, p_cv, p_ck, p_v, p_k = PAPER[(app, phase)]
            sim_k = f"{100 * r['sim_k']:.1f}" if "sim_k" in r else "—"
            name = APPS[app][2] if not (app == "llama-prefill" and phase == "train") else "Llama"
            print(f"| {phase} | {name} | {r['ops']} ({p_ops}) | {r['cov_v']} ({p_cv}) | "
                  f"{r['cov_k']} ({p_ck}) | {r['compulsory'] / 1e6:.1f} | {r['bsp'] / 1e6:.1f} | "
                  f"{r['fused'] / 1e6:.1f} | "
                  f"{100 * r['sim_v']:.1f} | {100 * r['acct_v']:.1f} | {p_v:.2f} | "
                  f"{100 * r['acct_k']:.1f} | {100 * r['est_k']:.1f} | {p_k:.2f} | "
                  f"{100 * r['acct_kg']:.1f} | {sim_k} | {r['t_bsp'] * 1e3:.3f} | "
                  f"{r['t_fused'] * 1e3:.3f} | {r['sim_s']:.1f} |", flush=True)
    print()
    for phase, xs in speedups.items():
        geo = math.exp(sum(math.log(x) for x in xs) / len(xs))
        print(f"vertical fusion speedup (BSP ms / fused ms), {phase}: geomean {geo:.2f}x, "
              f"range {min(xs):.2f}-{max(xs):.2f}x over {len(xs)} apps")
    return 0


if __name__ == "__main__":
    sys.exit(main())
