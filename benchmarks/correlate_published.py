"""archsim's A100 and H100 configs against published measurements (benchmarks/data/published-a100-h100.json).

    python benchmarks/correlate_published.py [--data benchmarks/data/published-a100-h100.json]

No A100 or H100 is available to this project, so these configs are checked only against numbers
others published (each entry cites its source and says how closely its setting matches). Every
entry's workload is simulated with archsim.simulate.simulate on hwconfigs/<config>.yaml: kernel
entries from a warm L2 with the kernel run twice back to back (the sources time repeated calls),
model entries as correlate_models.py does (warm, repeat=2; training steps through
training_graph with the entry's optimizer and precision). The measured value is turned into a
time by the entry's own formula ('derive'), and the error is (simulated - measured) / measured.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
from collections import defaultdict

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, ROOT)

from archsim.config import load_config  # noqa: E402
from archsim.graph import build_workload  # noqa: E402
from archsim.graph.spec import parse_spec  # noqa: E402
from archsim.graph.training import training_graph  # noqa: E402
from archsim.simulate import simulate  # noqa: E402

ESIZE = {"fp32": 4, "bf16": 2, "fp16": 2}


def measured_time_s(e: dict) -> float:
    """The entry's value as seconds for one call or one step, by its 'derive' convention."""
    _, kw = parse_spec(e["workload"])
    m = e["metric"]
    if m == "tflops":
        b = kw.get("batch", 1)
        return 2 * b * kw["M"] * kw["N"] * kw["K"] / (e["value"] * 1e12)
    if m == "gbps_read_plus_write":
        return 2 * kw["n"] * ESIZE[kw.get("dtype", "fp32")] / (e["value"] * 1e9)
    if m == "images_per_s":
        return e["batch"] / e["value"]
    raise ValueError(f"{e['id']}: unknown metric {m!r}")


def simulate_entry(e: dict, cfgs: dict):
    cfg = cfgs.setdefault(e["config"], load_config(os.path.join(ROOT, "hwconfigs", f"{e['config']}.yaml")))
    g = build_workload(e["workload"])
    if e.get("mode") == "training":
        g = training_graph(g, optimizer=e.get("optimizer", "adam"), precision=e.get("precision", "amp"))
    res = simulate(g, cfg, l2_start="warm", repeat=2)
    return res.time_s, cfg.name


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", default=os.path.join(HERE, "data", "published-a100-h100.json"))
    ap.add_argument("--json", default="", help="write per-entry rows here")
    args = ap.parse_args(argv)
    with open(args.data) as fh:
        entries = json.load(fh)["entries"]
    cfgs: dict = {}
    rows, by_cfg = [], defaultdict(list)
    print(f"{'id':24s} {'config':6s} {'match':7s} {'sim':>11s} {'published':>11s} {'err%':>7s}  workload")
    for e in entries:
        meas = measured_time_s(e)
        try:
            sim, name = simulate_entry(e, cfgs)
        except Exception as exc:  # noqa: BLE001 - reported, not dropped
            print(f"{e['id']:24s} {e['config']:6s} FAILED: {type(exc).__name__}: {exc}")
            rows.append({"id": e["id"], "config": e["config"], "error": str(exc)})
            continue
        err = 100.0 * (sim - meas) / meas
        unit = "s" if e["kind"] == "model" else "us"
        k = 1.0 if unit == "s" else 1e6
        by_cfg[e["config"]].append(err)
        rows.append({"id": e["id"], "config": e["config"], "machine": name, "setting_match": e["setting_match"],
                     "sim_s": sim, "meas_s": meas, "err_pct": err, "source": e["source"]})
        print(f"{e['id']:24s} {e['config']:6s} {e['setting_match']:7s} {sim * k:9.3f}{unit:>2s} {meas * k:9.3f}{unit:>2s} "
              f"{err:+7.1f}  {e['workload']}{' training' if e.get('mode') == 'training' else ''}")
    for c, errs in sorted(by_cfg.items()):
        a = [abs(x) for x in errs]
        print(f"-- {c}: {len(a)} published points, mean |err| {sum(a) / len(a):.1f}%, worst {max(a):.1f}%")
    if args.json:
        tmp = args.json + ".tmp"
        with open(tmp, "w") as fh:
            json.dump(rows, fh, indent=1)
        os.replace(tmp, args.json)
    return 0


if __name__ == "__main__":
    sys.exit(main())
