"""UPCYCLE design sweep and sensitivity (issue 11): throughput against power and area.

    python benchmarks/upcycle_dse.py sweep --png benchmarks/data/upcycle-dse.png
    python benchmarks/upcycle_dse.py sensitivity
    python benchmarks/upcycle_dse.py sweep --workload "bert-large(batch=1, seq=178, dtype='int8')"
    python benchmarks/upcycle_dse.py pareto --db sweeps/upcycle-dse.db --json benchmarks/data/upcycle-dse-sweep.json --png benchmarks/data/upcycle-dse-sweep.png
    python benchmarks/upcycle_dse.py pareto --from-json benchmarks/data/upcycle-dse-sweep.json --png benchmarks/data/upcycle-dse-sweep.png
    python benchmarks/upcycle_dse.py import RUN/upcycle_batch.json --db sweeps/upcycle-dse.db

`pareto`: the same table and plot, per workload, from the store of `archsim sweep
sweeps/upcycle-dse.yaml` (the sweep machinery's file: ResNet-50 and BERT-Large at batch 1, 48
points), or from the JSON it wrote. `import`: adds points that benchmarks/device/upcycle_batch.py
ran elsewhere (the sweep machinery's own `run_job` outcomes) to the store, under the content key
the host computes for the same point (a point whose key differs is refused), so `archsim sweep`
then runs only the rest.

`sweep`: tiles 1024 (32 x 32) / 2048 (32 x 64) / 4096 (64 x 64) x SIMD 256 / 512 bits x clock
1.0 / 1.6 / 2.4 / 2.9 GHz on hwconfigs/upcycle-2048.yaml (everything else as there: the L2 per
4 x 8 group, 32 MiB of LLC in total, 2 HBM stacks), step-synchronous mode. Prints one row per
point (samples/s, average power, chip area, whether the point is on the Pareto front of
throughput vs power and of throughput vs area) and, with --png, plots both fronts.

`sensitivity`: upcycle-2048 with compute, mesh and memory bandwidth each scaled 0.5x, 2x and
made ideal, one at a time. Compute: 0.5x = 256-bit SIMD, 2x = 2 MACs per lane, ideal = 10^6
vector instructions and L1 line reads per cycle. Mesh: link (and local port) width 16 / 64 B
per cycle, ideal = 10^6 B per cycle with 1-cycle hops. Memory: HBM 450 / 1800 GiB/s, ideal =
10^9 GiB/s with no latency.

The default workload is ResNet-50 batch 1 INT8 inference (224², BN folded): the cheapest of the
issue's applications to simulate; a sweep of 24 points takes minutes of CPU.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

DEFAULT = "resnet50(batch=1, image=224, dtype='int8', bn='folded')"
MESHES = {1024: (32, 32), 2048: (32, 64), 4096: (64, 64)}
SIMD = (256, 512)
CLOCKS = (1.0, 1.6, 2.4, 2.9)
SENSITIVITY = {
    "base": [],
    "compute 0.5x": ["tiles.vector_bits=256"],
    "compute 2x": ["tiles.macs_per_lane=2"],
    "compute ideal": ["tiles.vector_issue=1000000", "l1.read_ports=1000000"],
    "mesh 0.5x": ["noc.link_bytes_per_cycle=16"],
    "mesh 2x": ["noc.link_bytes_per_cycle=64"],
    "mesh ideal": ["noc.link_bytes_per_cycle=1000000", "noc.hop_latency=1"],
    "memory 0.5x": ["hbm.bandwidth=450 GiB/s"],
    "memory 2x": ["hbm.bandwidth=1800 GiB/s"],
    "memory ideal": ["hbm.bandwidth=1000000000 GiB/s", "hbm.latency=0 ns"],
}


def run_point(args):
    spec, overrides, batch = args
    import workloads  # noqa: F401
    from archsim.config import load_config
    from archsim.graph import build_workload
    from archsim.simulate import simulate
    cfg = load_config(ROOT / "hwconfigs/upcycle-2048.yaml", overrides=list(overrides))
    t0 = time.process_time()
    r = simulate(build_workload(spec), cfg, exec_mode="stepsync")
    mc = r.extra["manycore"]
    return {"overrides": list(overrides), "samples_per_s": batch / r.time_s,
            "power_w": r.energy_j / r.time_s, "area_mm2": mc["area_mm2"]["chip"],
            "static_w": sum(mc["static_power_w"].values()),
            "bound": {k.split(".")[-1]: round(v, 3) for k, v in r.utilization.items()},
            "cpu_s": time.process_time() - t0}


def pareto(points, cost):
    """Indices of points no other point beats on both throughput (higher) and cost (lower)."""
    front = []
    for i, p in enumerate(points):
        if not any(q["samples_per_s"] >= p["samples_per_s"] and q[cost] <= p[cost] and
                   (q["samples_per_s"] > p["samples_per_s"] or q[cost] < p[cost])
                   for q in points):
            front.append(i)
    return front


SWEEP_FILE = ROOT / "sweeps/upcycle-dse.yaml"


def import_points(files: list, db: str | None) -> int:
    """Add the sweep points of upcycle_batch.py result files to the sweep's store."""
    from archsim.sweep.runner import _config_dict, plan
    from archsim.sweep.spec import load_sweep
    from archsim.sweep.store import Store
    spec = load_sweep(str(SWEEP_FILE))
    added = 0
    with Store(db or spec.db) as store:
        jobs = {j.key: j for j in plan(spec, store).jobs}
        have = store.finished()
        for f in files:
            for r in json.loads(Path(f).read_text())["results"]:
                if r.get("task", [None])[0] != "sweep" or r.get("status") != "ok":
                    continue
                job = jobs.get(r["key"])
                if job is None:
                    print(f"{f}: point {r['index']} has key {r['key']}, not a point of "
                          f"{SWEEP_FILE.name} here: not imported", file=sys.stderr)
                    return 1
                if r["key"] in have:
                    continue
                store.add(key=job.key, sweep=spec.name, point=job.point, exec_mode=job.exec_mode,
                          config=_config_dict(job), outcome=r, version=job.version)
                have.add(r["key"])
                added += 1
    print(f"imported {added} points into {db or spec.db}")
    return 0


def store_points(db: str | None) -> list:
    """The sweep's finished points as rows (workload, tiles, bits, ghz, samples/s, W, mm²)."""
    from archsim.sweep.spec import load_sweep
    from archsim.sweep.store import Store
    spec = load_sweep(str(SWEEP_FILE))
    rows = []
    with Store(db or spec.db, create=False) as store:
        for rec in store.records():
            if rec["status"] != "ok":
                continue
            rep = rec["report"]
            ov = dict(rec["overrides"])
            mc = rep["extra"]["manycore"]
            batch = 1
            rows.append({"workload": rep["workload"], "key": rec["key"],
                         "tiles": int(ov["tiles.rows"]) * int(ov["tiles.cols"]),
                         "bits": int(ov["tiles.vector_bits"]),
                         "ghz": float(str(ov["tiles.clock"]).split()[0]),
                         "samples_per_s": batch / rep["time_s"], "power_w": rep["avg_power_w"],
                         "area_mm2": mc["area_mm2"]["chip"], "wall_s": rec["wall_s"]})
    rows.sort(key=lambda p: (p["workload"], p["tiles"], p["bits"], p["ghz"]))
    return rows


def print_points(points: list, title: str, header: bool = True) -> tuple[set, set]:
    """The sweep table (one row per point, Pareto membership); returns both fronts."""
    if header:
        print(f"workload: {title}, stepsync")
        print("| tiles | SIMD bits | GHz | samples/s | power W | area mm² | samples/s per W | "
              "Pareto (power) | Pareto (area) | sim s |")
        print("|---|---|---|---|---|---|---|---|---|---|")
    fp, fa = set(pareto(points, "power_w")), set(pareto(points, "area_mm2"))
    for i, r in enumerate(points):
        print(f"| {r['tiles']} | {r['bits']} | {r['ghz']} | {r['samples_per_s']:,.0f} | "
              f"{r['power_w']:.1f} | {r['area_mm2']:.0f} | {r['samples_per_s'] / r['power_w']:,.0f} | "
              f"{'yes' if i in fp else ''} | {'yes' if i in fa else ''} | "
              f"{r.get('cpu_s', r.get('wall_s', 0)):.1f} |")
    return fp, fa


def plot_fronts(axes, points: list, fp: set, fa: set, title: str) -> None:
    markers = {1024: "o", 2048: "s", 4096: "^"}
    for ax, cost, label, front in ((axes[0], "power_w", "average power (W)", fp),
                                   (axes[1], "area_mm2", "chip area (mm²)", fa)):
        for tiles in MESHES:
            for bits, color in ((256, "tab:blue"), (512, "tab:red")):
                sel = [p for p in points if p["tiles"] == tiles and p["bits"] == bits]
                ax.scatter([p[cost] for p in sel], [p["samples_per_s"] for p in sel],
                           marker=markers[tiles], color=color,
                           label=f"{tiles} tiles, {bits}-bit")
        fr = sorted((points[i] for i in front), key=lambda p: p[cost])
        ax.plot([p[cost] for p in fr], [p["samples_per_s"] for p in fr], "k--", lw=1,
                label="Pareto front")
        ax.set_xlabel(label)
        ax.set_ylabel("samples/s")
        ax.set_title(title, fontsize=8)
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=7)


def pareto_command(a) -> int:
    points = json.loads(Path(a.from_json).read_text()) if a.from_json else store_points(a.db)
    if not points:
        print("no finished points", file=sys.stderr)
        return 1
    if a.json and not a.from_json:
        Path(a.json).write_text(json.dumps(points, indent=1) + "\n")
    workloads = sorted({p["workload"] for p in points})
    fig = None
    if a.png:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        fig, axes = plt.subplots(len(workloads), 2, figsize=(11, 4.5 * len(workloads)),
                                 squeeze=False)
    for w, wl in enumerate(workloads):
        sel = [p for p in points if p["workload"] == wl]
        fp, fa = print_points(sel, f"{wl} ({len(sel)} of 24 points)")
        print()
        if fig is not None:
            plot_fronts(axes[w], sel, fp, fa, wl)
    if fig is not None:
        fig.suptitle("UPCYCLE design sweep (sweeps/upcycle-dse.yaml; clock 1.0-2.9 GHz along "
                     "each series)", fontsize=9)
        fig.tight_layout()
        fig.savefig(a.png, dpi=110)
        print(f"wrote {a.png}")
    return 0


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("what", choices=("sweep", "sensitivity", "pareto", "import"))
    ap.add_argument("files", nargs="*", help="import, sensitivity: upcycle_batch.py result files "
                    "(sensitivity takes the points of --workload found there instead of running them)")
    ap.add_argument("--db", help="pareto/import: the sweep's store (default: the sweep file's)")
    ap.add_argument("--from-json", help="pareto: rows written by an earlier pareto --json")
    ap.add_argument("--workload", default=DEFAULT)
    ap.add_argument("--batch", type=int, default=1)
    ap.add_argument("--png")
    ap.add_argument("--clocks", nargs="*", type=float, default=list(CLOCKS))
    ap.add_argument("--budget-s", type=float, default=None,
                    help="start no new point after this many seconds of wall time (the table "
                         "and plot then cover the points that finished)")
    ap.add_argument("--json")
    a = ap.parse_args(argv)
    if a.what == "import":
        return import_points(a.files, a.db)
    if a.what == "pareto":
        return pareto_command(a)
    if a.what == "sensitivity":
        done = {}
        for f in a.files:   # rows finished by benchmarks/device/upcycle_batch.py: not re-run
            for r in json.loads(Path(f).read_text())["results"]:
                if r.get("task", [None])[0] == "sens" and r.get("workload") == a.workload:
                    done[r["name"]] = r
        print(f"workload: {a.workload} on upcycle-2048, stepsync")
        print("| change | overrides | samples/s | vs base | power W | bound (share of time) | CPU s |")
        print("|---|---|---|---|---|---|---|")
        base = None
        rows = []
        for name, over in SENSITIVITY.items():
            r = done.get(name) or run_point((a.workload, tuple(over), a.batch))
            base = base or r["samples_per_s"]
            r["name"] = name
            rows.append(r)
            bound = ", ".join(f"{k} {v:.0%}" for k, v in sorted(r["bound"].items(),
                                                                  key=lambda kv: -kv[1]))
            print(f"| {name} | {' '.join(over) or '-'} | {r['samples_per_s']:,.0f} | "
                  f"{r['samples_per_s'] / base:.2f}x | {r['power_w']:.0f} | {bound} | "
                  f"{r['cpu_s']:.1f} |", flush=True)
        if a.json:
            Path(a.json).write_text(json.dumps(rows, indent=1) + "\n")
        return 0
    print(f"workload: {a.workload}, stepsync")
    print("| tiles | SIMD bits | GHz | samples/s | power W | area mm² | samples/s per W | "
          "Pareto (power) | Pareto (area) | CPU s |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    points = []
    t_start = time.perf_counter()
    grid = [(tiles, bits, ghz) for ghz in a.clocks for tiles in MESHES for bits in SIMD]
    for tiles, bits, ghz in grid:
        if a.budget_s is not None and time.perf_counter() - t_start > a.budget_s:
            print(f"  budget spent: {len(points)} of {len(grid)} points run", file=sys.stderr)
            break
        rows_, cols = MESHES[tiles]
        over = (f"tiles.rows={rows_}", f"tiles.cols={cols}", f"tiles.vector_bits={bits}",
                f"tiles.clock={ghz} GHz")
        r = run_point((a.workload, over, a.batch))
        r.update(tiles=tiles, bits=bits, ghz=ghz)
        points.append(r)
        print(f"  done {tiles} {bits} {ghz}: {r['samples_per_s']:,.0f}/s "
              f"{r['power_w']:.0f} W ({r['cpu_s']:.0f} s CPU)", file=sys.stderr, flush=True)
        if a.json:
            Path(a.json).write_text(json.dumps(points, indent=1) + "\n")
    points.sort(key=lambda p: (p["tiles"], p["bits"], p["ghz"]))
    fp, fa = print_points(points, a.workload, header=False)
    if a.json:
        Path(a.json).write_text(json.dumps(points, indent=1) + "\n")
    if a.png:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        fig, axes = plt.subplots(1, 2, figsize=(11, 4.5))
        plot_fronts(axes, points, fp, fa, "")
        fig.suptitle(f"UPCYCLE design sweep, {a.workload} (clock 1.0-2.9 GHz along each series)",
                     fontsize=9)
        fig.tight_layout()
        fig.savefig(a.png, dpi=110)
        print(f"wrote {a.png}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
