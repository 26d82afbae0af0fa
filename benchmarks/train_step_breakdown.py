"""A measured training step's kernels against the simulated ones, family by family.

    python benchmarks/train_step_breakdown.py [--ids F2-M6,F2-M7] [--hw hwconfigs/h200.yaml]

For each calibration training step of benchmarks/data/h200-fidelity2-cal.json (default: the two
ResNet-50 steps), the measured CUPTI kernel list of one eager iteration (warm L2, `kernels`) and
the simulated kernels of the same step (training_graph with the step's optimizer, warm L2,
repeat=2, as benchmarks/correlate_fidelity2.py runs it) are grouped by kernel family (the
regular expressions in FAMILIES, applied to the kernel name) and printed side by side: time,
count, and the simulated-minus-measured difference. Calibration data only. The measured list is
eager (launch gaps not included), the correlator's step time is CUDA-graph replay: the sums differ
from `graph_us` by the gaps.
"""
from __future__ import annotations

import argparse
import json
import os
import re
import sys
from collections import defaultdict

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, ROOT)
sys.path.insert(0, HERE)

from archsim.config import load_config  # noqa: E402
from archsim.graph import build_workload  # noqa: E402
from archsim.graph.training import training_graph  # noqa: E402
from archsim.simulate import simulate  # noqa: E402
from correlate_models import spec_as_measured  # noqa: E402

# (family, pattern): first match wins; measured and simulated names both
FAMILIES = (
    ("bn_stats", r"batch_norm_collect_statistics"),
    ("bn_bwd_reduce", r"batch_norm_backward_reduce"),
    ("bn_bwd_elemt", r"batch_norm_backward_elemt"),
    ("bn_transform", r"batch_norm_transform_input|<batchnorm>"),
    ("bn_small", r"multi_outputs<3|FunctorOnSelf_add<long>|<bn_prep"),
    ("conv_fprop_xmma", r"xmma_fprop"),
    ("conv_dgrad_xmma", r"xmma_dgrad"),
    ("conv_wgrad_xmma", r"xmma_wgrad"),
    ("xmma_workspace", r"init_device_workspace"),
    ("stem_fprop", r"s16816fprop|nhwcAddPadding"),
    ("stem_wgrad", r"ImplicitGemmConvolution|ReduceSplitK|s16816wgrad"),
    ("gemm_splitk_reduce", r"splitKreduce"),
    ("gemm", r"nvjet|s16816gemm|gemm_bf16"),
    ("maxpool_fwd", r"max_pool_forward"),
    ("maxpool_bwd", r"max_pool_backward|maxpool_bwd"),
    ("add", r"CUDAFunctor_add<c10::BFloat16>|<add>"),
    ("relu", r"launch_clamp_scalar|<relu>"),
    ("relu_bwd", r"BinaryFunctor<c10::BFloat16|<relu_bwd>"),
    ("sgd", r"multi_tensor_apply|<sgd>"),
    ("copy_cast", r"copy"),
    ("fill_memset", r"FillFunctor|<fill>|Memset"),
)


def family(name: str) -> str:
    for fam, pat in FAMILIES:
        if re.search(pat, name):
            return fam
    return "other"


def breakdown(case: dict, cfg) -> dict:
    g = build_workload(spec_as_measured(case))
    g = training_graph(g, optimizer="sgd" if "SGD" in case.get("training", "") else "adam")
    res = simulate(g, cfg, l2_start="warm", repeat=2)
    fam = defaultdict(lambda: [0.0, 0, 0.0, 0])   # meas us, meas n, sim us, sim n
    for k in case["kernels"]:
        f = fam[family(k["name"])]
        f[0] += k["ns"] / 1e3
        f[1] += 1
    for o in res.ops:
        for k in o.kernels:
            f = fam[family(k["name"])]
            f[2] += k["time_s"] * 1e6
            f[3] += 1
    return {"fam": dict(fam), "sim_us": res.time_s * 1e6, "graph_us": case["graph_us"]}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--ids", default="F2-M6,F2-M7")
    ap.add_argument("--hw", default=os.path.join(ROOT, "hwconfigs", "h200.yaml"))
    args = ap.parse_args(argv)
    cfg = load_config(args.hw)
    with open(os.path.join(ROOT, "benchmarks", "data", "h200-fidelity2-cal.json")) as fh:
        cases = {c["id"]: c for c in json.load(fh)["model_cases"]}
    for cid in args.ids.split(","):
        c = cases[cid]
        b = breakdown(c, cfg)
        print(f"\n== {cid} {c['workload']} training: graph replay {b['graph_us']:.1f} us, "
              f"simulated {b['sim_us']:.1f} us ({100 * (b['sim_us'] - b['graph_us']) / b['graph_us']:+.1f} %)")
        print(f"{'family':20s} {'meas us':>9s} {'n':>4s} {'sim us':>9s} {'n':>4s} {'sim-meas':>9s} {'err%':>7s}")
        tm = ts = 0.0
        for name, (mu, mn, su, sn) in sorted(b["fam"].items(), key=lambda kv: -max(kv[1][0], kv[1][2])):
            tm += mu
            ts += su
            err = f"{100 * (su - mu) / mu:+7.1f}" if mu else "      -"
            print(f"{name:20s} {mu:9.1f} {mn:4d} {su:9.1f} {sn:4d} {su - mu:+9.1f} {err}")
        print(f"{'total':20s} {tm:9.1f} {'':4s} {ts:9.1f} {'':4s} {ts - tm:+9.1f} {100 * (ts - tm) / tm:+7.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
