"""Issue 15's energy: each measured model and kernel loop, its energy error split into power and time.

    python benchmarks/energy_fid2.py [--hw hwconfigs/h200.yaml] [--set cal|heldout2|both]

For every NVML measurement of benchmarks/data/h200-fidelity2-cal.json (kernel-class loops and
training steps), benchmarks/data/h200-power.json (kernel loops) and, evaluated only,
benchmarks/data/h200-heldout-2.json (whole models): simulated energy against NVML joules
("E err%"), split into the error of average power ("P err%": simulated joules / simulated time
against NVML watts; this is also the energy error the model would have at the measured time) and
the error of time ("T err%": simulated time against the measured step or call time);
(1 + E) = (1 + P) (1 + T). Then power errors by kernel class (the loops, by the class of the
kernels that carry most of their time). Simulation as correlate_fidelity2.py: graph replay, warm
L2, repeat=2; a kernel loop adds one launch gap at idle power per call.
"""
from __future__ import annotations

import argparse
import json
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, ROOT)
sys.path.insert(0, HERE)

from archsim.config import load_config  # noqa: E402
from archsim.graph import build_workload  # noqa: E402
from archsim.graph.training import training_graph  # noqa: E402
from archsim.simulate import simulate  # noqa: E402
from correlate_fidelity2 import SETS, case_workload, selected_ops  # noqa: E402
from correlate_models import spec_as_measured  # noqa: E402

POWER_FILE = os.path.join(HERE, "data", "h200-power.json")
FID4_FILE = os.path.join(HERE, "data", "h200-fidelity4-energy.json")   # calibration (fourth stage)
# kernel class of a loop: what the kernels carrying most of its time are
CLASS_OF = {"gemm": "tensor GEMM", "conv2d": "tensor conv", "copy": "copy engine (memcpy)",
            "copy_kernel": "streaming SIMT", "add": "streaming SIMT", "cast": "streaming SIMT",
            "adam_fused": "streaming SIMT (many small tensors)", "pool": "row (SIMT)",
            "softmax": "row (SIMT)", "layernorm": "row (SIMT)", "layernorm_backward": "row (SIMT)",
            "gelu": "streaming SIMT", "relu": "streaming SIMT", "batchnorm_eval": "streaming SIMT",
            "attention": "tensor attention"}


def _row(pid, kind, label, e_sim, t_sim, e_meas, t_meas, w_meas):
    p_sim = e_sim / t_sim
    return {"id": pid, "kind": kind, "case": label, "sim_j": e_sim, "meas_j": e_meas,
            "sim_s": t_sim, "meas_s": t_meas, "sim_w": p_sim, "meas_w": w_meas,
            "e_err": 100.0 * (e_sim - e_meas) / e_meas, "p_err": 100.0 * (p_sim - w_meas) / w_meas,
            "t_err": 100.0 * (t_sim - t_meas) / t_meas}


def loops(cfg, entries, pid_of):
    rows = []
    for e in entries:
        if "kernel_op" not in e or not e.get("loop", "CUDA graph").startswith("CUDA graph"):
            continue   # idle rows; the eager (launch-bound) loop is not back to back
        c = {("op" if k == "kernel_op" else k): v for k, v in e.items()}
        c.setdefault("id", "P")
        g, phase, _, _ = case_workload(c)
        res = simulate(g, cfg, l2_start="warm", repeat=2)
        if phase is None:
            t, j = res.time_s, res.energy_j
        else:
            ops = selected_ops(res, g, phase)
            t, j = sum(o.time_s for o in ops), sum(o.energy_j for o in ops)
        t += cfg.launch.overhead
        j += cfg.power.idle * cfg.launch.overhead
        if "joules_per_call" in e:
            e_meas, t_meas = e["joules_per_call"], e["us_per_call"] * 1e-6
        else:
            e_meas, t_meas = e["joules"] / e["iters"], e["us_per_iter"] * 1e-6
        r = _row(pid_of(e), "loop", e["kernel_op"], j, t, e_meas, t_meas, e["avg_w"])
        r["class"] = CLASS_OF.get(e["kernel_op"], e["kernel_op"])
        if e["kernel_op"] == "gemm" and e.get("dtype") == "fp32":
            r["class"] = "SIMT GEMM (fp32 FFMA)"
        if e["kernel_op"] == "conv2d" and e.get("C", 64) < 8:
            r["class"] = "stem conv (padded C, cutlass sm80)"
        rows.append(r)
    return rows


def models(cfg, cases):
    rows = []
    for c in cases:
        en = c.get("energy") or {}
        if not en.get("joules_per_step"):
            continue
        g = build_workload(spec_as_measured(c))
        if c.get("mode") == "training":
            g = training_graph(g, optimizer="sgd" if "SGD" in c.get("training", "") else "adam")
        res = simulate(g, cfg, l2_start="warm", repeat=2)
        rows.append(_row(c["id"], c["mode"], c["workload"], res.energy_j, res.time_s,
                         en["joules_per_step"], c["graph_us"] * 1e-6, en["avg_w"]))
    return rows


def show(title, rows):
    print(f"\n== {title} ==")
    print(f"{'id':28s} {'sim mJ':>9s} {'meas mJ':>9s} {'E err%':>7s} {'sim W':>6s} {'meas W':>6s} "
          f"{'P err%':>7s} {'T err%':>7s}  case")
    for r in rows:
        print(f"{r['id'][:28]:28s} {r['sim_j'] * 1e3:9.2f} {r['meas_j'] * 1e3:9.2f} {r['e_err']:+7.1f} "
              f"{r['sim_w']:6.1f} {r['meas_w']:6.1f} {r['p_err']:+7.1f} {r['t_err']:+7.1f}  {r['case'][:60]}")
    if rows:
        e = [abs(r["e_err"]) for r in rows]
        p = [abs(r["p_err"]) for r in rows]
        t = [abs(r["t_err"]) for r in rows]
        print(f"-- {title}: energy MAPE {sum(e) / len(e):.1f}%  worst {max(e):.1f}%  within 10%: "
              f"{sum(x <= 10 for x in e)}/{len(e)}  |  power MAPE {sum(p) / len(p):.1f}%  worst "
              f"{max(p):.1f}%  within 10%: {sum(x <= 10 for x in p)}/{len(p)}  |  time MAPE "
              f"{sum(t) / len(t):.1f}%  worst {max(t):.1f}%")


def by_class(rows):
    print("\n== power error by kernel class (calibration loops) ==")
    classes: dict[str, list] = {}
    for r in rows:
        classes.setdefault(r["class"], []).append(r)
    print(f"{'class':38s} {'n':>2s} {'mean P err%':>11s} {'worst P err%':>12s}  points")
    for cl in sorted(classes):
        rs = classes[cl]
        worst = max(rs, key=lambda r: abs(r["p_err"]))["p_err"]
        print(f"{cl:38s} {len(rs):2d} {sum(r['p_err'] for r in rs) / len(rs):+11.1f} {worst:+12.1f}  "
              + " ".join(r["id"] for r in rs))


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--hw", default=os.path.join(ROOT, "hwconfigs", "h200.yaml"))
    ap.add_argument("--set", choices=("cal", "heldout2", "both"), default="both")
    ap.add_argument("--json", default="", help="write the rows here")
    args = ap.parse_args(argv)
    cfg = load_config(args.hw)
    out = {}
    if args.set in ("cal", "both"):
        with open(SETS["cal"]) as fh:
            cal = json.load(fh)
        with open(POWER_FILE) as fh:
            power = json.load(fh)
        lp = loops(cfg, cal["kernel_energy"], lambda e: e["id"]) + \
            loops(cfg, power["energy"], lambda e: "P-" + e["case"])
        show("CALIBRATION kernel loops (h200-fidelity2-cal.json F2-E*, h200-power.json P-*)", lp)
        with open(FID4_FILE) as fh:
            fid4 = json.load(fh)
        lp4 = loops(cfg, fid4["kernel_energy"], lambda e: e["id"])
        show("CALIBRATION kernel loops, fourth stage (h200-fidelity4-energy.json F4-E*)", lp4)
        by_class(lp + lp4)
        cm = models(cfg, cal["model_cases"])
        show("CALIBRATION training steps (h200-fidelity2-cal.json)", cm)
        cm4 = models(cfg, fid4["model_cases"])
        show("CALIBRATION whole models, fourth stage (h200-fidelity4-energy.json F4-M*)", cm4)
        show("CALIBRATION all models (F2-M*, F4-M*)", cm + cm4)
        out["cal_loops"], out["cal_models"] = lp + lp4, cm + cm4
    if args.set in ("heldout2", "both"):
        with open(SETS["heldout2"]) as fh:
            held = json.load(fh)
        hm = models(cfg, held["model_cases"])
        show("HELD-OUT models (h200-heldout-2.json; evaluated, never fitted)", hm)
        out["heldout_models"] = hm
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(out, fh, indent=1, sort_keys=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
