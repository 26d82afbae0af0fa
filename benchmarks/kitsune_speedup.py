"""Kitsune speedups, utilisation buckets and sensitivity: BSP vs vertical fusion vs dataflow.

    PYTHONPATH=. python3 benchmarks/kitsune_speedup.py [--hw hwconfigs/a100-kitsune.yaml]
        [--phase inference training] [--app nerf ...] [--no-sensitivity] [--jobs 2]
        [--json out.json]

For each application of the paper (the graphs of benchmarks/kitsune_table2.py: the paper counts
ops per Llama layer and for small GraphCast/MeshGraphNets models, activations as their own ops
as eager PyTorch runs them; training = forward + backward, without the optimizer step) and
each phase:
- time in mode bsp (kernel by kernel), fused (vertical fusion, if the build has it) and
  dataflow (Kitsune); speedups over BSP; geomeans over the applications;
- utilisation buckets: a WindowMonitor (1024-cycle windows) on every SM's tensor/SIMT busy
  signals, and the HBM channels' busy time per window by interval accounting on the HBM
  node (HbmBusyWindows: what a monitor on every channel's busy signal gives, without the
  per-channel signal updates); a window counts as "both low" when the SMs'
  mean pipe utilisation (max of the two pipes per SM) and the channels' mean busy are both
  below 33 %; the table gives the fraction of windows, BSP vs dataflow;
- sensitivity: the same with twice the SMs and twice the L2 (and crossbar) bandwidth, DRAM
  unchanged (--set sm.count=2x --set l2.bandwidth=2x --set crossbar.bandwidth=2x): the gain
  of BSP and of dataflow;
- simulator wall and CPU time of the dataflow run (which includes its BSP profiling run).
"""
from __future__ import annotations

import argparse
import json
import math
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from archsim.config import load_config  # noqa: E402
from archsim.engine.signals import WindowMonitor  # noqa: E402
from archsim.graph import build_workload  # noqa: E402
from archsim.graph.training import training_graph  # noqa: E402
from archsim.hw.dataflow.run import run_dataflow  # noqa: E402
from archsim.hw.registry import machine_kind  # noqa: E402
from archsim.simulate import simulate  # noqa: E402
from kitsune_table2 import APPS, eager_activations, without_optimizer  # noqa: E402

PAPER = {"inference": "1.3-2.3x, geomean 1.5x (NeRF 2.3x); vertical fusion geomean 1.14x",
         "training": "1.1-2.4x"}
WINDOW = 1024
LOW = 0.33


def graph_of(app: str, phase: str):
    g = eager_activations(build_workload(APPS[app][0]))
    if phase == "training":
        g = without_optimizer(training_graph(g))
    return g


class HbmBusyWindows:
    """The HBM channels' mean busy fraction per window, by interval accounting: every
    reservation on the machine's `hbm` node busies the channels whose busy-until it moved,
    from max(their previous busy-until, now) to the new one (the node's own queueing, read
    back from its state, not re-derived). The same numbers as a WindowMonitor on every
    `hbm[c].busy` signal, without switching the node's per-channel signals on (those cost
    two Signal.set calls per channel per bundle: 108 of GraphCast training's 160 s)."""

    def __init__(self, window_ticks: int):
        self.W = int(window_ticks)
        self.hist = np.zeros(1024)           # busy channel-ticks per window
        self.full = np.zeros(1024)           # difference array of whole busy windows
        self.channels = 1

    def attach(self, machine):
        hbm = machine.hbm
        self.channels = hbm.channels
        orig = hbm.reserve

        def reserve(t, nbytes, first_channel):
            before = hbm.state["free"].copy()
            end = orig(t, nbytes, first_channel)
            after = hbm.state["free"]
            moved = np.nonzero(after != before)[0]
            if moved.size:
                self._add(np.maximum(before[moved], t), after[moved])
            return end

        hbm.reserve = reserve

    def _add(self, s, e):
        W = self.W
        ws, we = s // W, (e - 1) // W
        top = int(we.max()) + 2
        if top > self.hist.size:
            n = max(top, 2 * self.hist.size)
            self.hist = np.concatenate([self.hist, np.zeros(n - self.hist.size)])
            self.full = np.concatenate([self.full, np.zeros(n - self.full.size)])
        # the first window's part, the last window's part (if another), whole windows between
        np.add.at(self.hist, ws, np.minimum(e, (ws + 1) * W) - s)
        x = we > ws
        if x.any():
            np.add.at(self.hist, we[x], e[x] - we[x] * W)
            np.add.at(self.full, ws[x] + 1, 1.0)
            np.add.at(self.full, we[x], -1.0)

    def mean_busy(self, n_win: int, lengths: np.ndarray) -> np.ndarray:
        busy = self.hist + np.cumsum(self.full) * self.W
        h = np.zeros(n_win)
        k = min(n_win, busy.size)
        h[:k] = busy[:k]
        return h / (self.channels * lengths) if n_win else h


class Buckets:
    """A monitor: fraction of windows with SM and DRAM utilisation both below LOW."""

    def __init__(self):
        self.mon = self.dram = None

    def __call__(self, bus, clock_hz):
        sigs = bus.match_prefix("sm[", ".simt_busy") + bus.match_prefix("sm[", ".tensor_busy")
        self.mon = WindowMonitor(bus, sigs, window_cycles=WINDOW, clock_hz=clock_hz)
        self.dram = HbmBusyWindows(self.mon.window_ticks)

    def attach(self, machine):
        self.dram.attach(machine)

    def low_fraction(self, end_ticks: int, n_sm: int) -> float:
        out = self.mon.finish(end_ticks)
        simt = np.stack([out[f"sm[{i}].simt_busy"] for i in range(n_sm)])
        tens = np.stack([out[f"sm[{i}].tensor_busy"] for i in range(n_sm)])
        sm = np.maximum(simt, tens).mean(axis=0)
        if sm.size == 0:
            return 0.0
        W = self.mon.window_ticks
        lengths = np.full(sm.size, float(W))
        lengths[-1] = float(end_ticks - (sm.size - 1) * W)
        dram = self.dram.mean_busy(sm.size, lengths)
        return float(((sm < LOW) & (dram < LOW)).mean())


def case(args) -> dict:
    app, phase, hw, overrides, full, check_bsp = args
    cfg = load_config(hw, overrides=overrides)
    g = graph_of(app, phase)
    out = {"app": app, "phase": phase, "hw": str(hw), "overrides": list(overrides)}
    b_mon, d_mon = Buckets(), Buckets()
    w0, c0 = time.perf_counter(), time.process_time()
    # the dataflow mode's own BSP profiling run is the BSP baseline (the same Program, cold
    # L2, FIFO scheduler: simulate(..., exec_mode="bsp") gives the same time; checked below
    # with --check-bsp); its monitor gives the BSP utilisation buckets
    df = run_dataflow(g, cfg, **({"monitors": [d_mon], "bsp_monitors": [b_mon],
                                  "keep_bsp": True} if full else {}))
    out["dataflow_wall_s"] = time.perf_counter() - w0
    out["dataflow_cpu_s"] = time.process_time() - c0
    x = df.extra["dataflow"]
    out["dataflow_s"] = df.time_s
    out["bsp_s"] = x["bsp_time_s"]
    out["dataflow_dram"] = df.dram_read_bytes + df.dram_write_bytes
    out["bsp_dram"] = x["bsp_dram_bytes"]
    out["pipelines"] = len(x["pipelines"])
    out["fallback"] = len(x["fallback_to_bsp"])
    out["dataflow_energy_j"] = df.energy_j
    print(f"  {app} {phase} {' '.join(overrides) or 'base'}: dataflow {df.time_s * 1e3:.3f} ms, "
          f"bsp {out['bsp_s'] * 1e3:.3f} ms", file=sys.stderr, flush=True)
    if full:
        bsp = x["bsp_result"]
        if check_bsp:
            alone = simulate(g, cfg, exec_mode="bsp")
            assert alone.time_s == bsp.time_s, "bsp differs"
            assert alone.energy_j == bsp.energy_j, "bsp differs"
        out["bsp_energy_j"] = bsp.energy_j
        out["bsp_low"] = b_mon.low_fraction(int(round(bsp.time_s * 1e12)), cfg.sm.count)
        out["dataflow_low"] = d_mon.low_fraction(int(round(df.time_s * 1e12)), cfg.sm.count)
        if "fused" in machine_kind("gpu").modes:
            fu = simulate(g, cfg, exec_mode="fused")
            out["fused_s"] = fu.time_s
            out["fused_dram"] = fu.dram_read_bytes + fu.dram_write_bytes
    return out


def gmean(xs):
    xs = [x for x in xs if x and x > 0]
    return math.exp(sum(math.log(x) for x in xs) / len(xs)) if xs else float("nan")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--hw", default=str(ROOT / "hwconfigs" / "a100-kitsune.yaml"))
    ap.add_argument("--phase", nargs="+", default=["inference", "training"],
                    choices=["inference", "training"])
    ap.add_argument("--app", action="append", choices=sorted(APPS))
    ap.add_argument("--no-sensitivity", action="store_true")
    ap.add_argument("--jobs", type=int, default=1)
    ap.add_argument("--json")
    ap.add_argument("--check-bsp", action="store_true",
                    help="also run mode bsp on its own and check it equals the dataflow "
                         "mode's BSP profiling run")
    args = ap.parse_args(argv)
    cfg = load_config(args.hw)
    apps = args.app or list(APPS)
    two_x = (f"sm.count={2 * cfg.sm.count}", f"l2.bandwidth={2 * cfg.l2.bandwidth:.6g}B/s",
             f"crossbar.bandwidth={2 * cfg.crossbar.bandwidth:.6g}B/s")
    jobs = []
    for phase in args.phase:
        for app in apps:
            if phase == "training" and app == "llama-decode":
                continue
            jobs.append((app, phase, args.hw, (), True, args.check_bsp))
            if not args.no_sensitivity:
                jobs.append((app, phase, args.hw, two_x, False, False))
    if args.jobs > 1:
        with ProcessPoolExecutor(args.jobs) as ex:
            rows = list(ex.map(case, jobs))
    else:
        rows = [case(j) for j in jobs]
    print(f"machine: {cfg.name} ({args.hw}); 2x what-if: --set {' --set '.join(two_x)}\n")
    has_fused = any("fused_s" in r for r in rows)
    for phase in args.phase:
        base = [r for r in rows if r["phase"] == phase and not r["overrides"]]
        if not base:
            continue
        print(f"### {phase} (paper: {PAPER[phase]})\n")
        print("| app | BSP ms | fused ms | dataflow ms | fused speedup | dataflow speedup | "
              "DRAM cut (dataflow) | pipelines run / fell back | both-low BSP | both-low dataflow |"
              " dataflow sim wall s (cpu s) |")
        print("|---|---|---|---|---|---|---|---|---|---|---|")
        for r in base:
            fs = r.get("fused_s")
            print(f"| {r['app']} | {r['bsp_s'] * 1e3:.3f} | "
                  f"{fs * 1e3:.3f} | " if fs else f"| {r['app']} | {r['bsp_s'] * 1e3:.3f} | - | ",
                  end="")
            print(f"{r['dataflow_s'] * 1e3:.3f} | "
                  f"{(r['bsp_s'] / fs if fs else float('nan')):.2f}x | "
                  f"{r['bsp_s'] / r['dataflow_s']:.2f}x | "
                  f"{100 * (1 - r['dataflow_dram'] / r['bsp_dram']):.1f} % | "
                  f"{r['pipelines']} / {r['fallback']} | {100 * r['bsp_low']:.0f} % | "
                  f"{100 * r['dataflow_low']:.0f} % | {r['dataflow_wall_s']:.1f} "
                  f"({r['dataflow_cpu_s']:.1f}) |")
        g_df = gmean([r["bsp_s"] / r["dataflow_s"] for r in base])
        g_fu = gmean([r["bsp_s"] / r["fused_s"] for r in base if r.get("fused_s")])
        print(f"\ngeomean speedup: dataflow {g_df:.2f}x" +
              (f", vertical fusion {g_fu:.2f}x" if has_fused else
               " (vertical fusion: mode 'fused' absent from this build)"))
        print(f"mean both-low time: BSP {100 * np.mean([r['bsp_low'] for r in base]):.0f} %, "
              f"dataflow {100 * np.mean([r['dataflow_low'] for r in base]):.0f} %\n")
        sens = [r for r in rows if r["phase"] == phase and r["overrides"]]
        if sens:
            print(f"sensitivity, {phase}: 2x SMs and 2x L2 bandwidth, DRAM unchanged (paper: "
                  f"dataflow +47 % inference / +27 % training, BSP +18-26 %)\n")
            print("| app | BSP gain | dataflow gain | dataflow speedup over BSP at 2x |")
            print("|---|---|---|---|")
            gb, gd = [], []
            for r in sens:
                b0 = next(x for x in base if x["app"] == r["app"])
                bg, dg = b0["bsp_s"] / r["bsp_s"], b0["dataflow_s"] / r["dataflow_s"]
                gb.append(bg)
                gd.append(dg)
                print(f"| {r['app']} | {100 * (bg - 1):+.0f} % | {100 * (dg - 1):+.0f} % | "
                      f"{r['bsp_s'] / r['dataflow_s']:.2f}x |")
            print(f"\ngeomean gain: BSP {100 * (gmean(gb) - 1):+.0f} %, dataflow "
                  f"{100 * (gmean(gd) - 1):+.0f} %\n")
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
