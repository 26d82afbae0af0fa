"""Tumour–immune QSS model at the published parameters: equilibria, nullclines, separatrix
(stable manifold of the saddle) and trajectories either side of it.

Run: python benchmarks/tumour_phase_plane.py   -> benchmarks/plots/tumour_phase_plane.png
"""
import os
import time

import matplotlib
matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

import solvers.tumour as tm  # noqa: E402

PLOTS = os.path.join(os.path.dirname(__file__), "plots")


def main():
    P = tm.PUBLISHED
    Q = P.nondim()
    t0 = time.time()
    eqs = tm.equilibria(P)
    print("nondimensional:", {k: round(v, 5) for k, v in Q.as_dict().items()})
    print("| equilibrium | x = E/E0 | y = T/T0 | E (cells) | T (cells) | eigenvalues | type |")
    print("|---|---|---|---|---|---|---|")
    for e in eqs:
        ev = ", ".join(f"{z.real:.4f}{z.imag:+.4f}i" for z in e.eigenvalues)
        print(f"| | {e.x:.4f} | {e.y:.4f} | {e.x * P.E0:.4g} | {e.y * P.T0:.4g} | {ev} "
              f"| {e.kind} |")
    print("regime:", tm.regime(P))
    branches = tm.separatrix(P, tau_back=80.0)
    nc = tm.nullclines(P, np.linspace(0, 560, 4000))
    fig, ax = plt.subplots(1, 2, figsize=(12, 5))
    for a, ylog in zip(ax, (False, True)):
        a.plot(nc["x_nullcline"], nc["y"], "b-", lw=1, label="dx/dτ = 0")
        a.plot(nc["y_nullcline"], nc["y"], "r-", lw=1, label="dy/dτ = 0")
        for i, br in enumerate(branches):
            a.plot(br[:, 0], br[:, 1], "k--", lw=1.5, label="separatrix" if i == 0 else None)
        f = lambda u: tm.qss_rhs_nd(u, Q)      # noqa: E731
        J = lambda u: tm.qss_jac_nd(u, Q)      # noqa: E731
        for br in branches:
            pt = br[len(br) // 2]
            for sgn, col in ((-1, "tab:green"), (1, "tab:purple")):
                r = tm.rodas4(f, J, pt * np.array([1, 1 + sgn * 2e-3]), [0, 300], rtol=1e-9,
                              atol=1e-11)
                a.plot(r.y[:, 0], r.y[:, 1], color=col, lw=0.8)
        for e in eqs:
            a.plot(e.x, max(e.y, 1e-2 if ylog else 0), "o", ms=7,
                   mfc="k" if e.stable else "w", mec="k")
        a.set_xlim(0, 3.5)
        a.set_xlabel("x = E/E0 (effectors)")
        a.set_ylabel("y = T/T0 (tumour)")
        if ylog:
            a.set_yscale("log")
            a.set_ylim(1e-1, 700)
        else:
            a.set_ylim(0, 560)
    ax[0].legend(fontsize=8)
    fig.suptitle("Kuznetsov QSS model, published parameters (s = 1.3e4): filled = stable; "
                 "green/purple: start just below/above the separatrix")
    fig.tight_layout()
    fig.savefig(os.path.join(PLOTS, "tumour_phase_plane.png"), dpi=110)
    print(f"time {time.time() - t0:.2f} s -> plots/tumour_phase_plane.png")


if __name__ == "__main__":
    main()
