"""Where a simulated training step differs from the measured one, kernel class by kernel class.

    python benchmarks/training_breakdown.py F2-M0 [F2-M2 ...]

Reads a whole-model training case of benchmarks/data/h200-fidelity2-cal.json (CALIBRATION data;
the held-out file is not read), simulates it as correlate_fidelity2.py does (training_graph with
Adam, warm L2, second of two runs) and prints, per kernel class, the measured kernel count and
CUPTI time (one eager iteration's kernel list) against the simulated kernels' count and time.
Classes come from kernel names (cuBLAS nvjet, cuDNN, PyTorch's kernel templates; memsets are
listed as their own class).
"""
from __future__ import annotations

import json
import os
import sys
from collections import defaultdict

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))
sys.path.insert(0, HERE)

from archsim.config import load_config  # noqa: E402
from archsim.graph import build_workload  # noqa: E402
from archsim.graph.training import training_graph  # noqa: E402
from archsim.simulate import simulate  # noqa: E402
from correlate_models import spec_as_measured  # noqa: E402

CAL = os.path.join(HERE, "data", "h200-fidelity2-cal.json")
# (substring of a kernel name, class): first match wins; measured and simulated names alike
CLASSES = [("FusedOptimizer", "adam"), ("FusedAdam", "adam"), ("TensorListMetadata<1>", "adam-step"),
           ("radix", "embedding-bwd"), ("Radix", "embedding-bwd"), ("grad_weight", "embedding-bwd"),
           ("sum_and_scatter", "embedding-bwd"), ("segment", "embedding-bwd"), ("scan::", "embedding-bwd"),
           ("Scan", "embedding-bwd"), ("unique", "embedding-bwd"), ("Unique", "embedding-bwd"),
           ("arange", "embedding-bwd"), ("embedding_backward", "embedding-bwd"),
           ("Memset", "memset"), ("memset", "memset"), ("Memcpy", "memcpy"), ("FillFunctor", "fill"),
           ("<fill>", "fill"), ("nvjet", "gemm"), ("splitKreduce", "gemm"), ("sdpa", "attention"),
           ("cudnn", "attention"), ("dot_do_o", "attention"), ("convert_dq", "attention"),
           ("GammaBeta", "layernorm-bwd"), ("layer_norm_grad", "layernorm-bwd"),
           ("layer_norm", "layernorm"), ("reduce_kernel", "reduce"), ("GeluBackward", "gelu-bwd"),
           ("gelu_bwd", "gelu-bwd"), ("Gelu", "gelu"), ("<gelu>", "gelu"), ("direct_copy", "copy/cast"),
           ("bfloat16_copy", "copy/cast"), ("copy_kernel", "copy/cast"), ("add", "add"),
           ("gather", "gather")]


def kernel_class(name: str) -> str:
    for pat, cls in CLASSES:
        if pat in name:
            return cls
    return "other"


def breakdown(case: dict, cfg) -> None:
    g = training_graph(build_workload(spec_as_measured(case)), optimizer="adam")
    res = simulate(g, cfg, l2_start="warm", repeat=2)
    meas, sim = defaultdict(lambda: [0, 0.0]), defaultdict(lambda: [0, 0.0])
    for k in case["kernels"]:
        m = meas[kernel_class(k["name"])]
        m[0] += 1
        m[1] += k["ns"] / 1e3
    for o in res.ops:
        for k in o.kernels:
            s = sim[kernel_class(k["name"])]
            s[0] += 1
            s[1] += k["time_s"] * 1e6
    print(f"\n{case['id']} {spec_as_measured(case)}: graph replay measured {case['graph_us']:.1f} us, "
          f"simulated {res.time_s * 1e6:.1f} us ({100 * (res.time_s * 1e6 / case['graph_us'] - 1):+.1f} %)")
    print(f"  {'class':16s} {'meas n':>6s} {'meas us':>9s} {'sim n':>6s} {'sim us':>9s} {'sim-meas':>9s}")
    for cls in sorted(set(meas) | set(sim), key=lambda c: -abs(sim[c][1] - meas[c][1])):
        print(f"  {cls:16s} {meas[cls][0]:6d} {meas[cls][1]:9.1f} {sim[cls][0]:6d} {sim[cls][1]:9.1f} "
              f"{sim[cls][1] - meas[cls][1]:+9.1f}")
    print(f"  {'total':16s} {sum(v[0] for v in meas.values()):6d} {sum(v[1] for v in meas.values()):9.1f} "
          f"{sum(v[0] for v in sim.values()):6d} {sum(v[1] for v in sim.values()):9.1f}")
    if case.get("ncu_kernels"):
        # the same kernels timed by Nsight Compute one by one (L2 flushed) against CUPTI in the
        # eager iteration (memsets and memcpys have no Nsight row): lists in launch order
        cupti = [k for k in case["kernels"] if "Memset" not in k["name"] and "Memcpy" not in k["name"]]
        ncu = case["ncu_kernels"]
        small = [(a["ns"] / 1e3, b["ns"] / 1e3) for a, b in zip(cupti, ncu) if a["ns"] < 2000]
        print(f"  kernels timed by CUPTI in the iteration: {len(cupti)}, sum {case['kernel_ns_sum'] / 1e3:.1f} us "
              f"(memsets excluded); by Nsight Compute: {len(ncu)}, sum {case['ncu_kernel_ns_sum'] / 1e3:.1f} us")
        if small and len(cupti) == len(ncu):
            print(f"  the first ten kernels under 2 us (CUPTI): {min(a for a, _ in small[:10]):.1f}-"
                  f"{max(a for a, _ in small[:10]):.1f} us; the same under Nsight Compute: "
                  f"{min(b for _, b in small[:10]):.1f}-{max(b for _, b in small[:10]):.1f} us")


def main(argv=None) -> int:
    ids = (argv if argv is not None else sys.argv[1:]) or ["F2-M0"]
    with open(CAL) as fh:
        cases = {c["id"]: c for c in json.load(fh)["model_cases"]}
    bad = [i for i in ids if i not in cases or cases[i].get("mode") != "training"]
    if bad:
        print(f"error: not a training case of {CAL}: {', '.join(bad)} "
              f"(have: {', '.join(i for i, c in cases.items() if c.get('mode') == 'training')})",
              file=sys.stderr)
        return 2
    cfg = load_config(os.path.join(os.path.dirname(HERE), "hwconfigs", "h200.yaml"))
    for i in ids:
        breakdown(cases[i], cfg)
    return 0


if __name__ == "__main__":
    sys.exit(main())
