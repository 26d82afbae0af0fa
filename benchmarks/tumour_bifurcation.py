"""Continuation of the QSS model's equilibria in s, d and p; saddle-node / transcritical
points; regimes; two-parameter regime maps.

Run: python benchmarks/tumour_bifurcation.py
  -> benchmarks/plots/tumour_bifurcation.png, benchmarks/plots/tumour_regime_map.png
"""
import os
import time

import matplotlib
matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.colors import ListedColormap  # noqa: E402
from matplotlib.patches import Patch  # noqa: E402

import solvers.tumour as tm  # noqa: E402
from solvers.tumour.analysis import code_name  # noqa: E402

PLOTS = os.path.join(os.path.dirname(__file__), "plots")
RANGES = {"s": (1e2, 1e5), "d": (1e-3, 0.12), "p": (1e-3, 0.3), "m": (1e-11, 2e-9),
          "g": (1e5, 2e8)}


def main():
    t0 = time.time()
    fig, ax = plt.subplots(1, 3, figsize=(15, 4.5))
    print("| parameter | range | special points (value, type, y = T/T0) | time (s) |")
    print("|---|---|---|---|")
    for a, (prm, (lo, hi)) in zip(ax, list(RANGES.items())[:3]):
        t1 = time.time()
        br = tm.continuation(prm, lo, hi)
        dt = time.time() - t1
        sp = "; ".join(f"{s['value']:.5g} {s['kind']} (y={s['y']:.1f})" for s in br.special)
        print(f"| {prm} | [{lo:g}, {hi:g}] | {sp} | {dt:.2f} |")
        st = br.stable
        a.plot(br.values[st], br.y[st], "k.", ms=2, label="stable")
        a.plot(br.values[~st], br.y[~st], ".", color="0.6", ms=2, label="unstable")
        Pb = tm.PUBLISHED
        v = np.linspace(lo, hi, 400)
        free_stable = np.array([Pb.with_(**{prm: x}).nondim().sigma /
                                Pb.with_(**{prm: x}).nondim().delta >
                                Pb.with_(**{prm: x}).nondim().alpha for x in v])
        a.plot(v[free_stable], 0 * v[free_stable], "k-", lw=2)
        a.plot(v[~free_stable], 0 * v[~free_stable], "--", color="0.6", lw=1)
        for s in br.special:
            a.axvline(s["value"], color="r" if s["kind"] == "saddle-node" else "b", lw=0.8)
        a.axvline(getattr(Pb, prm), color="g", lw=0.8, ls=":")
        a.set_xlabel(f"{prm} (published value dotted green)")
        a.set_ylabel("equilibrium y = T/T0")
        a.set_title(f"continuation in {prm}: red SN, blue TC")
        a.set_ylim(-10, 520)
    ax[0].legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(os.path.join(PLOTS, "tumour_bifurcation.png"), dpi=110)

    scan = tm.bifurcation_scan(n_points=1000, param="s", lo=1e2, hi=1e5)
    runs, start = [], 0
    for i in range(1, len(scan["code"]) + 1):
        if i == len(scan["code"]) or scan["code"][i] != scan["code"][start]:
            runs.append((scan["values"][start], scan["values"][i - 1],
                         code_name(int(scan["code"][start]))))
            start = i
    print("regimes along s (numpy scan, 1000 points):",
          "; ".join(f"[{a:.4g}, {b:.4g}] {n}" for a, b, n in runs))

    cmap = ListedColormap(["white", "tab:green", "tab:blue", "tab:cyan", "tab:red",
                           "tab:orange", "tab:purple", "k"])
    fig, ax = plt.subplots(1, 2, figsize=(13, 5))
    t1 = time.time()
    for a, (py, yv) in zip(ax, (("p", np.linspace(0.01, 0.3, 150)),
                                ("d", np.linspace(0.005, 0.12, 150)))):
        rm = tm.regime_map("s", np.linspace(1e2, 1e5, 200), py, yv)
        a.pcolormesh(rm["x"], rm["y"], rm["code"], cmap=cmap, vmin=-0.5, vmax=7.5,
                     shading="auto")
        a.plot(tm.PUBLISHED.s, getattr(tm.PUBLISHED, py), "k*", ms=10)
        a.set_xlabel("s (cells/day)")
        a.set_ylabel(py)
        present = sorted(set(np.unique(rm["code"]).tolist()))
        a.legend(handles=[Patch(color=cmap.colors[c], label=code_name(c)) for c in present],
                 fontsize=8, loc="upper right")
        a.set_title(f"regimes over (s, {py}); star = published parameters")
    fig.tight_layout()
    fig.savefig(os.path.join(PLOTS, "tumour_regime_map.png"), dpi=110)
    print(f"regime maps 2 x 200 x 150 in {time.time() - t1:.1f} s; total {time.time() - t0:.1f} s")


if __name__ == "__main__":
    main()
