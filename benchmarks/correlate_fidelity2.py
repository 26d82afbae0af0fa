"""Issue 15's two H200 sets against archsim: kernel time per class, whole models, energy.

    python benchmarks/correlate_fidelity2.py [--hw hwconfigs/h200.yaml] [--set heldout2|cal|both]
                                             [--only SUBSTRING] [--json OUT.json]

Reads benchmarks/data/h200-heldout-2.json (the FROZEN held-out set: report it, never tune on it) and
benchmarks/data/h200-fidelity2-cal.json (the calibration set for the issue's weak classes; the kernel
cases of h200-fidelity2-cal4.json, measured later, join it), runs
every case through archsim.simulate.simulate, and prints for each set separately: per-case error,
kernel-time MAPE / median / worst overall and per class, whole-model errors (graph-replay device
time, kernel sum, DRAM bytes, NVML board energy per step) and, for the calibration set, the energy
of the kernel-class loops. Cases that cannot be mapped onto an archsim workload, or whose simulation
fails, are LISTED at the end of each set with the reason, never dropped silently.

How a case maps (correlate.py's and correlate_models.py's helpers are imported, not copied):
- op with an archsim workload of that name (gemm incl. batch, attention incl. causal/Skv/Hkv,
  conv2d, softmax, layernorm incl. rms, reduce, add, mul, gelu, relu, gather, copy, transpose):
  correlate.case_graph, i.e. the workload spec from the case's fields. Fields the workload does
  not take are printed as "ignored" (e.g. a GEMM's operand layout: the vendor model has none);
- pool: GraphBuilder.pool with the measured padding (the pool workload has no pad keyword);
- embedding -> gather; cast -> GraphBuilder.copy to the other dtype (a cast kernel);
  copy_kernel (a strided slice copied by PyTorch's elementwise copy kernel) -> an elementwise
  'slice_copy' op (the non-vectorized strided copy kernel; a vectorized 'copy' before issue 15's tuning); bias_grad (torch.sum(dy, 0)) -> GraphBuilder.reduce over axis 0;
- layernorm/gelu/softmax/attention/embedding/pool_backward -> archsim.graph.training.training_graph
  of the forward op with its inputs as parameters, timing only the ops of phase "backward";
  conv2d_dgrad / conv2d_wgrad -> the conv2d_dgrad / conv2d_wgrad op of training_graph(conv2d);
  batchnorm_train / _backward -> the forward ops / the batchnorm_bwd op of training_graph of
  workloads/resnet.py's batch_norm (training mode); batchnorm_eval -> that batch_norm's kernels;
- adam_fused -> the optimizer-phase ops of training_graph (BERT-base's parameters, or n_tensors
  parameters of n elements): archsim runs one Adam op per parameter.
Measured time: Nsight Compute's kernel_ns_sum (L2 flushed before each kernel), simulated from a
cold L2 (a case timed inside its training graph: with the L2 flushed before every kernel), its
memset nodes left out of the sum as Nsight Compute leaves them out; a cudaMemcpyAsync copy (no kernel) uses the CUPTI duration of its Memcpy DtoD activity,
recorded on one more eager call after the timed ones, so it is simulated as measured: warm L2, the
second of two back-to-back copies.
Whole models: correlate_models.spec_as_measured, simulated with a warm L2 (repeat=2, as
correlate_models.py; training through training_graph with the optimizer the step ran: Adam for
BERT, SGD for ResNet-50), compared with graph_us; "rep%" is the measured energy's run-to-run
difference (run 3 against run 1), a floor for any energy error. Energy: simulated energy per step (per call for the
kernel loops, plus one launch gap at idle power) against NVML joules.
"""
from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import sys
import time
from collections import defaultdict

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, ROOT)
sys.path.insert(0, HERE)

from archsim.config import load_config  # noqa: E402
from archsim.graph import GraphBuilder, build_workload, get_workload  # noqa: E402
from archsim.graph.training import training_graph  # noqa: E402
from archsim.simulate import simulate  # noqa: E402
from correlate import case_graph, pearson  # noqa: E402
from correlate_models import spec_as_measured  # noqa: E402

SETS = {"heldout2": os.path.join(HERE, "data", "h200-heldout-2.json"),
        "cal": os.path.join(HERE, "data", "h200-fidelity2-cal.json")}
# further calibration kernel cases measured later, read into the "cal" set (issue 15, third stage:
# memory and row kernels F4-Kxx, benchmarks/device/fid2_assemble_cal4.py; tensor kernels and batch
# norm F5-Kxx, benchmarks/device/fid2_assemble_cal5.py)
CAL_EXTRA = [os.path.join(HERE, "data", "h200-fidelity2-cal4.json"),
             os.path.join(HERE, "data", "h200-fidelity2-cal5.json"),
             # issue 15, fourth stage: 3x3 conv sweep and ResNet-50 conv gradients (F6-Kxx,
             # benchmarks/device/fid2_assemble_cal6.py)
             os.path.join(HERE, "data", "h200-fidelity2-cal6.json")]
# fields of a kernel case that describe the measurement, not the workload
NOT_SHAPE = {"id", "set", "op", "note", "flops", "min_bytes", "median_us", "min_us", "reps", "graph_us",
             "graph_reps", "tflops", "gbps_min_bytes", "cupti_kernels", "cupti_ns_sum", "kernels",
             "kernel_ns_sum", "dram_bytes_sum", "kernel_names", "is_kernel", "graph_error", "n_params",
             "n_tensors_actual", "error", "run", "median_us_rep", "graph_us_rep", "cupti_ns_sum_rep"}


class Unmapped(Exception):
    """The case has no archsim counterpart (yet); the message says why."""


def kernel_class(c: dict) -> str:
    op = c["op"]
    if op == "gemm":
        if c.get("batch", 1) > 1:
            return "gemm-batched"
        if c["dtype"] == "fp32":
            return "gemm-fp32"
        if c.get("role") in ("dgrad", "wgrad"):
            return f"gemm-{c['role']}"
        return "gemm-skinny" if min(c["M"], c["N"]) <= 64 else "gemm"
    if op == "attention":
        return "attention-decode" if c["S"] == 1 else "attention-prefill"
    if op == "conv2d":
        if c["C"] == 3:
            return "conv2d-stem"
        return "conv2d-3x3-small" if c["R"] == 3 and c["H"] <= 14 else "conv2d"
    if op in ("softmax", "layernorm"):
        return f"{op}-~1M" if 5e5 <= c["rows"] * c["cols"] <= 2.5e6 else op
    return {"copy": "memcpy-d2d", "add": "elementwise", "mul": "elementwise", "gelu": "elementwise",
            "relu": "elementwise", "embedding": "gather"}.get(op, op)


def _params_graph(name: str, dtype: str, build):
    b = GraphBuilder(name, dtype)
    build(b)
    return b.build()


def case_workload(c: dict):
    """(graph, phase filter or None, description, ignored fields) for a kernel case."""
    op, dt = c["op"], c["dtype"]
    shape = {k: v for k, v in c.items() if k not in NOT_SHAPE and v is not None}
    try:
        params = set(get_workload(op).params)
    except Exception:  # noqa: BLE001 - not a registered workload name
        params = None
    if op == "pool":
        g = _params_graph("pool", dt, lambda b: b.pool(b.input("x", (c["N"], c["H"], c["W"], c["C"])),
                                                      c["window"], c["stride"], pad=c["pad"], name="pool"))
        return g, None, f"pool(N={c['N']}, C={c['C']}, H={c['H']}, W={c['W']}, window={c['window']}, " \
                        f"stride={c['stride']}, pad={c['pad']})", []
    if params is not None:
        g, spec = case_graph(c)
        return g, None, spec, sorted(k for k in shape if k not in params)
    if op == "embedding":
        g = build_workload(f"gather(table_rows={c['table_rows']}, dim={c['dim']}, n={c['n']}, dtype='{dt}')")
        return g, None, "gather (embedding)", []
    if op == "cast":
        g = _params_graph("cast", dt, lambda b: b.copy(b.input("x", (c["n"],)), dtype=c["to"], name="cast"))
        return g, None, f"copy {dt}->{c['to']} (cast kernel)", []
    if op == "copy_kernel":   # a strided slice -> PyTorch's non-vectorized direct_copy kernel
        g = _params_graph("copy_kernel", dt, lambda b: b.elementwise("slice_copy", b.input("x", (c["n"],)),
                                                                     name="copy"))
        return g, None, "elementwise 'slice_copy' (non-vectorized strided copy kernel)", []
    if op == "bias_grad":
        g = _params_graph("bias_grad", dt, lambda b: b.reduce(b.input("dy", (c["rows"], c["cols"])), axes=0,
                                                              name="bias_grad"))
        return g, None, "reduce over axis 0", []
    if op.startswith("batchnorm"):
        # workloads/resnet.py's eager batch norm of an (N, H, W, C) activation; training and
        # backward through training_graph (training mode: batch statistics, its own backward)
        from workloads.resnet import batch_norm
        train = op != "batchnorm_eval"
        g = _params_graph("bn", dt, lambda b: batch_norm(
            b, (b.param if train else b.input)("x", (c["N"], c["H"], c["W"], c["C"])), "bn"))
        if not train:
            return g, None, "eager batch norm (inference kernels)", []
        g = training_graph(g, precision="pure")
        if op == "batchnorm_train":
            return g, "forward", "forward ops of training_graph(batch norm): statistics + transform", []
        return g, "kind:batchnorm_bwd", "batchnorm_bwd op of training_graph(batch norm)", []
    if op in ("conv2d_dgrad", "conv2d_wgrad"):
        g = training_graph(_params_graph("conv", dt, lambda b: b.conv2d(
            b.param("x", (c["N"], c["H"], c["W"], c["C"])), c["K"], c["R"], stride=c["stride"], pad=c["R"] // 2,
            name="conv")), precision="pure")
        return g, f"kind:{op}", f"{op} op of training_graph(conv2d)", []
    if op.endswith("_backward"):
        fwd = op[: -len("_backward")]

        def build(b):
            if fwd == "layernorm":
                b.layernorm(b.param("x", (c["rows"], c["cols"])), name="ln")
            elif fwd == "softmax":
                b.softmax(b.param("x", (c["rows"], c["cols"])), name="softmax")
            elif fwd == "gelu":
                b.gelu(b.param("x", (c["n"],)), name="gelu")
            elif fwd == "attention":
                q, k, v = (b.param(n, (c["B"], c["H"], c["S"], c["D"])) for n in "qkv")
                b.attention(q, k, v, name="attention")
            elif fwd == "pool":
                b.pool(b.param("x", (c["N"], c["H"], c["W"], c["C"])), c["window"], c["stride"], pad=c["pad"],
                       name="pool")
            elif fwd == "embedding":
                b.gather(b.param("table", (c["table_rows"], c["dim"]), dtype=dt), b.index("idx", (c["n"],)),
                         name="embedding")
            else:
                raise Unmapped(f"no forward op for {op}")
        # precision "pure": the measured backward ran on bf16 tensors without autocast (the
        # inputs are parameters here only so that they get gradients)
        g = training_graph(_params_graph(fwd, dt, build), sparse_embeddings=False, precision="pure")
        return g, "backward", f"backward ops of training_graph({fwd})", []
    if op == "adam_fused":
        if c.get("model") == "bert-base":
            g = training_graph(build_workload("bert-base(batch=1, seq=8, layers=12)"))
            return g, "optimizer", "optimizer ops of training_graph(bert-base)", []

        def build(b):
            for i in range(c["n_tensors"]):
                b.relu(b.param(f"p{i}", (c["n"],)), name=f"use{i}")
        g = training_graph(_params_graph("adam", dt, build))
        return g, "optimizer", f"optimizer ops of {c['n_tensors']} parameters", []
    raise Unmapped(f"no archsim workload or mapping for op {op!r}")


def selected_ops(res, graph, phase):
    """The result rows of the ops a case measures: all, one phase ("backward"), or one kind ("kind:K")."""
    if phase is None:
        return list(res.ops)
    if phase.startswith("kind:"):
        names = {op.name for op in graph.ops if op.kind == phase[5:]}
    else:
        names = {op.name for op in graph.ops if op.attrs.get("phase") == phase}
    return [o for o in res.ops if o.name in names]


def phase_time(res, graph, phase, kernels_only=False):
    """Device time and DRAM bytes of the ops a case measures; kernels_only: without the
    cudaMemsetAsync nodes the lowering emits (Nsight Compute's kernel sum has no memsets)."""
    ops = list(res.ops) if phase is None else selected_ops(res, graph, phase)
    if kernels_only:
        t = sum(k["time_s"] for o in ops for k in o.kernels if k["name"] != "memset")
    else:
        t = sum(o.time_s for o in ops)
    if phase is None:
        return t, res.dram_read_bytes + res.dram_write_bytes
    return t, sum(o.dram_read_bytes + o.dram_write_bytes for o in ops)


def simulate_flushed(graph, cfg):
    """`graph` on the GPU model with the L2 written back and invalidated before every kernel, as
    Nsight Compute measures kernels one by one (--cache-control all)."""
    from archsim.hw.gpu import _run_gpu
    return _run_gpu(graph, cfg, "bsp", l2_start="cold", flush_l2_per_kernel=True)


def measured_us(c: dict):
    if c.get("kernel_ns_sum"):
        return c["kernel_ns_sum"] / 1e3, "ncu"
    if c["op"] == "copy" and c.get("cupti_ns_sum"):
        return c["cupti_ns_sum"] / 1e3, "cupti memcpy"
    return None, None


def stats(errs):
    a = [abs(e) for e in errs]
    return {"n": len(a), "mape": sum(a) / len(a), "median": statistics.median(a), "worst": max(a)} if a else {}


def run_kernels(name, cases, cfg, rows, unmapped):
    print(f"\n== {name}: kernel cases ({len(cases)}) ==")
    print(f"{'id':7s} {'class':18s} {'case':52s} {'sim us':>9s} {'meas us':>9s} {'err%':>7s} {'wall s':>6s}")
    by_class, errs, pts = defaultdict(list), [], []
    for c in cases:
        meas, src = measured_us(c)
        lab = f"{c['op']}(" + ",".join(f"{k}={v}" for k, v in c.items()
                                       if k not in NOT_SHAPE and k != "dtype" and v is not None) + f")/{c['dtype']}"
        if meas is None:
            unmapped.append((c["id"], lab, "no measured kernel time"))
            continue
        try:
            g, phase, desc, ignored = case_workload(c)
            t0 = time.perf_counter()
            if src == "ncu" and phase is not None:
                # a kernel of a training graph (backward, optimizer): Nsight Compute flushed the
                # L2 before each of its kernels, so every kernel starts cold, not only the first
                res = simulate_flushed(g, cfg)
            elif src == "ncu":   # Nsight Compute flushed the caches before the kernel
                res = simulate(g, cfg, l2_start="cold")
            else:   # a CUPTI memcpy of an eager call after warm-up calls: back to back, warm L2
                res = simulate(g, cfg, l2_start="warm", repeat=2)
            wall = time.perf_counter() - t0
            t_s, dram = phase_time(res, g, phase, kernels_only=src == "ncu")
        except Unmapped as exc:
            unmapped.append((c["id"], lab, f"unmapped: {exc}"))
            continue
        except Exception as exc:  # noqa: BLE001 - a simulation failure is reported, not hidden
            unmapped.append((c["id"], lab, f"simulation failed: {type(exc).__name__}: {exc}"))
            continue
        sim = t_s * 1e6
        err = 100.0 * (sim - meas) / meas
        cls = kernel_class(c)
        by_class[cls].append(err)
        errs.append(err)
        pts.append((meas, sim))
        rows.append({"set": name, "id": c["id"], "class": cls, "case": lab, "maps_to": desc, "ignored": ignored,
                     "sim_us": sim, "meas_us": meas, "meas_source": src, "err_pct": err,
                     "sim_dram_bytes": dram, "meas_dram_bytes": c.get("dram_bytes_sum"), "wall_s": wall})
        note = f"  [ignored: {','.join(ignored)}]" if ignored else ""
        note += "  [meas: CUPTI memcpy]" if src != "ncu" else ""
        print(f"{c['id']:7s} {cls:18s} {lab[:52]:52s} {sim:9.2f} {meas:9.2f} {err:+7.1f} {wall:6.2f}{note}")
    st = stats(errs)
    if st:
        st["pearson_log"] = pearson([math.log(a) for a, _ in pts], [math.log(b) for _, b in pts])
        print(f"-- {name} kernels: MAPE {st['mape']:.1f}%  median {st['median']:.1f}%  worst {st['worst']:.1f}%  "
              f"within 25%: {sum(abs(e) <= 25 for e in errs)}/{len(errs)}  Pearson r (log) {st['pearson_log']:.4f}"
              f"  ({st['n']} cases simulated)")
        print(f"   {'class':18s} {'n':>3s} {'MAPE%':>7s} {'worst%':>7s} {'mean signed%':>12s}")
        for cls in sorted(by_class):
            e = by_class[cls]
            print(f"   {cls:18s} {len(e):3d} {sum(abs(x) for x in e) / len(e):7.1f} {max(abs(x) for x in e):7.1f} "
                  f"{sum(e) / len(e):+12.1f}")
    st["classes"] = {k: stats(v) for k, v in by_class.items()}
    return st


def run_models(name, cases, cfg, rows, unmapped):
    print(f"\n== {name}: whole models ({len(cases)}), graph-replay device time and NVML energy per step ==")
    print(f"{'id':6s} {'mode':9s} {'sim us':>9s} {'meas us':>9s} {'err%':>7s} {'kern%':>7s} {'DRAM%':>7s} "
          f"{'sim mJ':>9s} {'meas mJ':>9s} {'E err%':>7s} {'rep%':>6s} {'wall s':>6s}  spec")
    terr, eerr = [], []
    for c in cases:
        try:
            spec = spec_as_measured(c)
            g = build_workload(spec)
            if c.get("mode") == "training":  # the optimizer the measured step ran
                g = training_graph(g, optimizer="sgd" if "SGD" in c.get("training", "") else "adam")
            t0 = time.perf_counter()
            res = simulate(g, cfg, l2_start="warm", repeat=2)
            wall = time.perf_counter() - t0
        except Exception as exc:  # noqa: BLE001
            unmapped.append((c["id"], c["workload"], f"simulation failed: {type(exc).__name__}: {exc}"))
            continue
        meas = c["graph_us"]
        sim = res.time_s * 1e6
        err = 100.0 * (sim - meas) / meas
        ksim = sum(o.time_s for o in res.ops) * 1e6
        kerr = 100.0 * (ksim - c["kernel_ns_sum"] / 1e3) / (c["kernel_ns_sum"] / 1e3)
        dsim = res.dram_read_bytes + res.dram_write_bytes
        derr = 100.0 * (dsim - c["dram_bytes_sum"]) / c["dram_bytes_sum"] if c.get("dram_bytes_sum") else None
        e_meas = c.get("energy", {}).get("joules_per_step")
        e_rep = (c.get("energy_rep") or {}).get("joules_per_step")
        spread = 100.0 * (e_rep - e_meas) / e_meas if e_meas and e_rep else None
        e_sim = res.energy_j
        ee = 100.0 * (e_sim - e_meas) / e_meas if e_meas else None
        terr.append(err)
        if ee is not None:
            eerr.append(ee)
        rows.append({"set": name, "id": c["id"], "spec": spec, "mode": c["mode"], "sim_us": sim, "meas_us": meas,
                     "err_pct": err, "kernel_err_pct": kerr, "dram_err_pct": derr, "sim_j": e_sim, "meas_j": e_meas,
                     "energy_err_pct": ee, "energy_rep_pct": spread, "sim_w": e_sim / res.time_s,
                     "meas_w": c.get("energy", {}).get("avg_w"), "wall_s": wall})
        fmt = lambda v: f"{v:+7.1f}" if v is not None else "      -"  # noqa: E731
        print(f"{c['id']:6s} {c['mode']:9s} {sim:9.1f} {meas:9.1f} {err:+7.1f} {kerr:+7.1f} {fmt(derr)} "
              f"{e_sim * 1e3:9.1f} {(e_meas or 0) * 1e3:9.1f} {fmt(ee)} {fmt(spread)[1:]} {wall:6.2f}  {spec}")
    st = {"time": stats(terr), "energy": stats(eerr)}
    if terr:
        print(f"-- {name} models: time MAPE {st['time']['mape']:.1f}%  worst {st['time']['worst']:.1f}%  |  "
              f"energy MAPE {st['energy'].get('mape', float('nan')):.1f}%  worst "
              f"{st['energy'].get('worst', float('nan')):.1f}%  ({len(terr)} models)")
    return st


def run_kernel_energy(name, entries, cases, cfg, rows, unmapped):
    print(f"\n== {name}: kernel-class energy (NVML loops of CUDA graphs) ==")
    print(f"{'id':7s} {'op':20s} {'sim mJ':>9s} {'meas mJ':>9s} {'E err%':>7s} {'sim W':>7s} {'meas W':>7s} "
          f"{'sim us':>8s} {'meas us':>8s}")
    errs = []
    for e in entries:
        if "kernel_op" not in e:
            continue  # idle rows
        c = {("op" if k == "kernel_op" else k): v for k, v in e.items()}
        try:
            g, phase, _, _ = case_workload(c)
            res = simulate(g, cfg, l2_start="warm", repeat=2)
        except Exception as exc:  # noqa: BLE001
            unmapped.append((e["id"], e["kernel_op"], f"energy not simulated: {type(exc).__name__}: {exc}"))
            continue
        if phase is None:
            t_call, e_call = res.time_s, res.energy_j
        else:
            ops = selected_ops(res, g, phase)
            t_call, e_call = sum(o.time_s for o in ops), sum(o.energy_j for o in ops)
        t_call += cfg.launch.overhead  # one device gap between back-to-back calls, at idle power
        e_call += cfg.power.idle * cfg.launch.overhead
        err = 100.0 * (e_call - e["joules_per_call"]) / e["joules_per_call"]
        errs.append(err)
        rows.append({"set": name, "id": e["id"], "energy_case": e["kernel_op"], "sim_j": e_call,
                     "meas_j": e["joules_per_call"], "energy_err_pct": err, "sim_w": e_call / t_call,
                     "meas_w": e["avg_w"], "sim_us": t_call * 1e6, "meas_us": e["us_per_call"]})
        eager = "  [eager loop: launch-bound, not back to back]" if not e.get("loop", "").startswith("CUDA graph") else ""
        print(f"{e['id']:7s} {e['kernel_op']:20s} {e_call * 1e3:9.3f} {e['joules_per_call'] * 1e3:9.3f} {err:+7.1f} "
              f"{e_call / t_call:7.1f} {e['avg_w']:7.1f} {t_call * 1e6:8.1f} {e['us_per_call']:8.1f}{eager}")
    st = stats(errs)
    if st:
        print(f"-- {name} kernel energy: MAPE {st['mape']:.1f}%  worst {st['worst']:.1f}%  "
              f"within 10%: {sum(abs(x) <= 10 for x in errs)}/{len(errs)}")
    return st


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--hw", default=os.path.join(ROOT, "hwconfigs", "h200.yaml"))
    ap.add_argument("--set", choices=("heldout2", "cal", "both"), default="both")
    ap.add_argument("--only", default="", help="substring of case ids or ops to run")
    ap.add_argument("--no-models", action="store_true", help="skip whole models (the slow part)")
    ap.add_argument("--json", default="", help="write per-case rows and the summary here")
    args = ap.parse_args(argv)
    cfg = load_config(args.hw)
    summary, rows = {}, []
    for s in (("heldout2", "cal") if args.set == "both" else (args.set,)):
        with open(SETS[s]) as fh:
            data = json.load(fh)
        if s == "cal":
            for extra in CAL_EXTRA:
                with open(extra) as fh:
                    data["kernel_cases"] += json.load(fh)["kernel_cases"]
        label = {"heldout2": "HELD-OUT h200-heldout-2.json",
                 "cal": "CALIBRATION h200-fidelity2-cal.json + cal4 + cal5 + cal6"}[s]
        sel = lambda c: not args.only or args.only in c["id"] or args.only in c.get("op", c.get("workload", ""))  # noqa: E731
        unmapped: list = []
        summary[s] = {"kernels": run_kernels(label, [c for c in data["kernel_cases"] if sel(c)], cfg, rows, unmapped)}
        if not args.no_models:
            summary[s]["models"] = run_models(label, [c for c in data["model_cases"] if sel(c)], cfg, rows, unmapped)
        if data.get("kernel_energy"):
            summary[s]["kernel_energy"] = run_kernel_energy(
                label, [e for e in data["kernel_energy"] if "id" not in e or sel(e)], data["kernel_cases"], cfg,
                rows, unmapped)
        print(f"\n-- {label}: {len(unmapped)} case(s) not compared:")
        for u in unmapped:
            print(f"   {u[0]:7s} {u[1][:60]:60s} {u[2]}")
        summary[s]["not_compared"] = unmapped
    if args.json:
        tmp = args.json + ".tmp"
        with open(tmp, "w") as fh:
            json.dump({"summary": summary, "rows": rows}, fh, indent=1)
        os.replace(tmp, args.json)
    return 0


if __name__ == "__main__":
    sys.exit(main())
