"""UPCYCLE vs the A100's MLPerf throughput: the comparison table of issue 11.

Runs each application at the shapes the study uses on a `kind: manycore` machine in the
step-synchronous mode — INT8 inference and FP16 training, batch 1 and 16 — and prints samples/s,
the speedup over the A100's MLPerf results (benchmarks/data/mlperf-a100.json, from papers.md),
geomeans, average power and energy per sample, and the wall time of each simulation.

    python benchmarks/upcycle.py                       # all 20 cases, upcycle-2048
    python benchmarks/upcycle.py --apps resnet50 --cases infer_bs16 --jobs 1
    python benchmarks/upcycle.py --hw hwconfigs/upcycle-2048-dot.yaml
    python benchmarks/upcycle.py --json out.json       # also write the rows
    python benchmarks/upcycle.py --a100-model          # also archsim's own A100 GPU model
    python benchmarks/upcycle.py --tables a.json b.json  # the tables from saved runs' rows
    python benchmarks/upcycle.py --from-batch RUN/upcycle_batch.json --json-dir benchmarks/data/upcycle-compare
        # one case_APP_CASE.json per finished case of benchmarks/device/upcycle_batch.py

Shapes (workload specs below): ResNet-50 224², BN folded for INT8 inference (as deployed), eager
BN in training; SSD-ResNet34 1200² inference, 300² training; BERT-Large with the SQuAD head, seq
178 inference, 254 training; 3D-UNet on 32³ patches (issue 11); RNN-T at the workload's default
utterance (500 frames = 15 s, 120 labels). A training sample is one forward + backward + Adam
step of one example (`archsim.graph.training.training_graph`).
"""
from __future__ import annotations

import argparse
import json
import math
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

APPS = {
    "resnet50": ("resnet50(batch={b}, image=224, dtype='int8', bn='folded')",
                 "resnet50(batch={b}, image=224, dtype='fp16')"),
    "bert-large": ("bert-large(batch={b}, seq=178, dtype='int8', include_head=True)",
                   "bert-large(batch={b}, seq=254, dtype='fp16', include_head=True)"),
    "ssd-resnet34": ("ssd-resnet34(batch={b}, image=1200, dtype='int8')",
                     "ssd-resnet34(batch={b}, image=300, dtype='fp16')"),
    "rnnt": ("rnnt(batch={b}, dtype='int8')", "rnnt(batch={b}, dtype='fp16')"),
    "unet3d": ("unet3d(batch={b}, size=32, dtype='int8')", "unet3d(batch={b}, size=32, dtype='fp16')"),
}
CASES = ("infer_bs1", "infer_bs16", "train_bs1", "train_bs16")


def spec_of(app: str, case: str) -> tuple[str, bool, int]:
    train = case.startswith("train")
    b = int(case.split("bs")[1])
    return APPS[app][1 if train else 0].format(b=b), train, b


def run_case(args: tuple) -> dict:
    hw, app, case, overrides, with_a100, *rest = args
    progress = rest[0] if rest else None     # optional callable(fraction of ops done)
    import workloads  # noqa: F401  (registers the models)
    from archsim.config import load_config
    from archsim.graph import build_workload
    from archsim.graph.training import training_graph
    from archsim.simulate import simulate
    spec, train, batch = spec_of(app, case)
    cfg = load_config(hw, overrides=list(overrides))
    g = build_workload(spec)
    if train:
        g = training_graph(g)
    t0, c0 = time.perf_counter(), time.process_time()
    r = simulate(g, cfg, exec_mode="stepsync", progress=progress)
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    gpu = a100_model(app, case) if with_a100 else None   # simulator to simulator
    return {"app": app, "case": case, "a100_model": gpu, "spec": spec, "training": train, "batch": batch,
            "time_s": r.time_s, "samples_per_s": batch / r.time_s, "energy_j": r.energy_j,
            "power_w": r.energy_j / r.time_s, "energy_per_sample_j": r.energy_j / batch,
            "flops": int(g.flops), "wall_s": wall, "cpu_s": cpu, "ops": len(r.ops),
            "bound": {k.split(".")[-1]: v for k, v in r.utilization.items()}}


def geomean(xs):
    xs = [x for x in xs if x and x > 0]
    return math.exp(sum(math.log(x) for x in xs) / len(xs)) if xs else float("nan")


def print_tables(rows: list, ref: dict, with_model: bool) -> None:
    """The comparison tables and geomeans from finished rows (run_case's dicts)."""
    a100_w = ref["a100"]["power_w"]
    suspect = ref.get("suspect", {})     # references flagged in mlperf-a100.json, with a reason
    print("| app | case | archsim samples/s | A100 MLPerf samples/s | speedup | power W | "
          "power / A100 250 W | energy/sample mJ | A100 energy/sample mJ (250 W) | bound (share "
          "of time) | sim wall s | sim CPU s |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        base = ref["throughput"][r["app"]][r["case"]]
        r["a100_samples_per_s"] = base
        r["speedup"] = r["samples_per_s"] / base
        bound = ", ".join(f"{k} {v:.0%}" for k, v in sorted(r["bound"].items(), key=lambda kv: -kv[1]))
        flag = " (suspect)" if f"{r['app']}.{r['case']}" in suspect else ""
        print(f"| {r['app']} | {r['case']} | {r['samples_per_s']:,.1f} | {base:,}{flag} | "
              f"{r['speedup']:.2f}x | {r['power_w']:.0f} | {r['power_w'] / a100_w:.2f} | "
              f"{r['energy_per_sample_j'] * 1e3:.2f} | {a100_w / base * 1e3:.2f} | {bound} | "
              f"{r['wall_s']:.1f} | {r['cpu_s']:.1f} |")
    if with_model and all(r.get("a100_model") for r in rows):
        print()
        print("| app | case | archsim UPCYCLE samples/s | archsim A100 model samples/s | "
              "speedup (sim/sim) | A100 model power W |")
        print("|---|---|---|---|---|---|")
        for r in rows:
            m = r["a100_model"]
            r["speedup_vs_model"] = r["samples_per_s"] / m["samples_per_s"]
            print(f"| {r['app']} | {r['case']} | {r['samples_per_s']:,.1f} | "
                  f"{m['samples_per_s']:,.1f} | {r['speedup_vs_model']:.2f}x | {m['power_w']:.0f} |")
        for kind in ("infer", "train"):
            sel = [r for r in rows if r["case"].startswith(kind) and r["app"] != "unet3d"]
            if sel:
                print(f"geomean speedup over archsim's A100 model, {kind}, {len(sel)} cases "
                      f"without 3D-UNet: {geomean([r['speedup_vs_model'] for r in sel]):.2f}x")
    print()
    for kind in ("infer", "train"):
        for label, sel in (("all", [r for r in rows if r["case"].startswith(kind)]),
                           ("without 3D-UNet", [r for r in rows if r["case"].startswith(kind)
                                                and r["app"] != "unet3d"])):
            if sel:
                print(f"geomean speedup, {kind}, {label}: {geomean([r['speedup'] for r in sel]):.2f}x "
                      f"over {len(sel)} cases ({', '.join(r['app'] + ' ' + r['case'] for r in sel)}); "
                      f"mean power {sum(r['power_w'] for r in sel) / len(sel):.0f} W (A100 {a100_w} W); "
                      f"paper: {'3.8' if kind == 'infer' else '4.2'}x at about half the power")
    print()
    print("| set | cases | geomean speedup vs MLPerf | geomean speedup vs archsim A100 model | "
          "mean power W (/ 250 W) | geomean energy/sample, A100 (250 W) / UPCYCLE |")
    print("|---|---|---|---|---|---|")
    sets = [(f"{kind} b{b}", [r for r in rows if r["case"] == f"{kind}_bs{b}"])
            for kind in ("infer", "train") for b in (1, 16)]
    sets += [(f"{kind} all", [r for r in rows if r["case"].startswith(kind)])
             for kind in ("infer", "train")]
    sets += [(f"{kind} without 3D-UNet", [r for r in rows if r["case"].startswith(kind)
                                           and r["app"] != "unet3d"]) for kind in ("infer", "train")]
    sets += [("all", list(rows)), ("all without 3D-UNet", [r for r in rows if r["app"] != "unet3d"])]
    if any(f"{r['app']}.{r['case']}" in suspect for r in rows):
        sets += [(f"{kind} without 3D-UNet and suspect references",
                  [r for r in rows if r["case"].startswith(kind) and r["app"] != "unet3d"
                   and f"{r['app']}.{r['case']}" not in suspect]) for kind in ("infer", "train")]
    for label, sel in sets:
        if not sel:
            continue
        vs_model = (f"{geomean([r['speedup_vs_model'] for r in sel]):.2f}x"
                    if all("speedup_vs_model" in r for r in sel) else "-")
        pw = sum(r["power_w"] for r in sel) / len(sel)
        e_ratio = geomean([a100_w / r["a100_samples_per_s"] / r["energy_per_sample_j"] for r in sel])
        print(f"| {label} | {len(sel)} | {geomean([r['speedup'] for r in sel]):.2f}x | {vs_model} | "
              f"{pw:.0f} ({pw / a100_w:.2f}) | {e_ratio:.1f}x |")
    for key, why in sorted(suspect.items()):
        print(f"suspect A100 reference {key}: {why}")
    have = {(r["app"], r["case"]) for r in rows}
    missing = [f"{app} {case}" for app in APPS for case in CASES if (app, case) not in have]
    print(f"\n{len(rows)} of {len(APPS) * len(CASES)} cases; not in these rows: "
          f"{', '.join(missing) or 'none'}")


def a100_model(app: str, case: str) -> dict:
    """archsim's A100 model (hwconfigs/a100.yaml, mode bsp) on the case's graph."""
    import workloads  # noqa: F401
    from archsim.config import load_config
    from archsim.graph import build_workload
    from archsim.graph.training import training_graph
    from archsim.simulate import simulate
    spec, train, batch = spec_of(app, case)
    g = build_workload(spec)
    if train:
        g = training_graph(g)
    r = simulate(g, load_config(ROOT / "hwconfigs/a100.yaml"))
    return {"samples_per_s": batch / r.time_s, "power_w": r.energy_j / r.time_s}


def rows_from_batch(path: Path, out_dir: Path) -> int:
    """case_APP_CASE.json rows from an upcycle_batch.py result file (cases and A100-model runs
    are separate tasks there; a case's row gets its A100-model result when that finished)."""
    doc = json.loads(path.read_text())
    gpu = {(r["app"], r["case"]): r["a100_model"] for r in doc["results"]
           if r.get("task", [None])[0] == "a100" and "a100_model" in r}
    where = (f"{doc['cpu_model']}, {doc['cores']} cores, {doc['jobs']} simulations at a time, "
             f"started {doc['started_utc']} (benchmarks/device/upcycle_batch.py)")
    n = 0
    out_dir.mkdir(parents=True, exist_ok=True)
    for r in doc["results"]:
        if r.get("task", [None])[0] != "case" or "samples_per_s" not in r:
            continue
        row = {k: v for k, v in r.items() if k not in ("task", "task_cpu_s", "task_wall_s")}
        row["a100_model"] = gpu.get((r["app"], r["case"]))
        row["ran_on"] = where
        f = out_dir / f"case_{r['app']}_{r['case']}.json"
        f.write_text(json.dumps([row], indent=1) + "\n")
        print(f"wrote {f}")
        n += 1
    return 0 if n else 1


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--hw", default=str(ROOT / "hwconfigs/upcycle-2048.yaml"))
    ap.add_argument("--set", action="append", default=[], metavar="KEY=VALUE")
    ap.add_argument("--apps", nargs="*", default=list(APPS))
    ap.add_argument("--cases", nargs="*", default=list(CASES))
    ap.add_argument("--jobs", type=int, default=1)
    ap.add_argument("--json")
    ap.add_argument("--tables", nargs="*", metavar="JSON",
                    help="print the tables from rows saved by earlier runs' --json, run nothing")
    ap.add_argument("--a100-model", action="store_true",
                    help="also run archsim's A100 GPU model (hwconfigs/a100.yaml) on each graph")
    ap.add_argument("--from-batch", metavar="JSON",
                    help="write the cases finished by benchmarks/device/upcycle_batch.py (with "
                         "its A100-model results) as rows under --json-dir, run nothing")
    ap.add_argument("--json-dir", default=str(ROOT / "benchmarks/data/upcycle-compare"))
    ap.add_argument("--refresh-a100", nargs="*", metavar="JSON",
                    help="re-run archsim's A100 model for the rows of these files (the GPU model "
                         "changes under other issues) and rewrite them; UPCYCLE rows are kept")
    a = ap.parse_args(argv)
    if a.from_batch:
        return rows_from_batch(Path(a.from_batch), Path(a.json_dir))
    if a.refresh_a100:
        for f in a.refresh_a100:
            rows = json.loads(Path(f).read_text())
            for r in rows:
                r["a100_model"] = a100_model(r["app"], r["case"])
                print(f"{f}: {r['app']} {r['case']}: A100 model "
                      f"{r['a100_model']['samples_per_s']:,.1f} samples/s", flush=True)
            Path(f).write_text(json.dumps(rows, indent=1) + "\n")
        return 0
    ref = json.loads((ROOT / "benchmarks/data/mlperf-a100.json").read_text())
    if a.tables:
        rows = [r for f in a.tables for r in json.loads(Path(f).read_text())]
        order = {(app, case): i for i, (app, case) in
                 enumerate((p, c) for p in APPS for c in CASES)}
        rows.sort(key=lambda r: order[(r["app"], r["case"])])
        print_tables(rows, ref, any(r.get("a100_model") for r in rows))
        return 0
    todo = [(a.hw, app, case, tuple(a.set), a.a100_model) for app in a.apps for case in a.cases]
    print(f"machine: {a.hw} {' '.join(a.set)}", flush=True)
    rows = []
    ex = ProcessPoolExecutor(a.jobs) if a.jobs > 1 else None
    results = ex.map(run_case, todo) if ex else map(run_case, todo)
    for r in results:   # saved as each case finishes (in order)
        rows.append(r)
        print(f"  done {r['app']} {r['case']}: {r['samples_per_s']:,.1f} samples/s "
              f"({r['wall_s']:.0f} s wall, {r['cpu_s']:.0f} s CPU)", flush=True)
        if a.json:
            Path(a.json).write_text(json.dumps(rows, indent=1) + "\n")
    if ex:
        ex.shutdown()
    print_tables(rows, ref, a.a100_model)
    return 0


if __name__ == "__main__":
    sys.exit(main())
