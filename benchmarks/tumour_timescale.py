"""Stiffness and timescale separation: our RODAS4 against solve_ivp on the five-compartment
model; reduced long-timescale models against the full model as the fast rates grow;
excitability of the dormant state.

Run: python benchmarks/tumour_timescale.py
  -> benchmarks/plots/tumour_timescale.png, benchmarks/plots/tumour_excitability.png
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
    R = tm.EXAMPLE_RATES
    print(f"EXAMPLE rates: k1={R.k1:.4g} km1={R.km1:.4g} k2={R.k2:.4g} k3={R.k3:.4g} "
          f"f={R.f:.4g} K={R.K:.4g} /cell, fast rate {R.conjugate_rate:.4g}/day, "
          f"epsilon = a/kappa = {R.a / R.conjugate_rate:.3g}")
    u0 = tm.slow_manifold_state(3.0e5, 2.0e7, R)
    t_eval = np.linspace(0, 60.0, 13)
    _, ref = tm.integrate_five(R, u0, 60.0, t_eval, method="Radau", rtol=1e-13, atol=1e-8)
    print("| integrator | rtol | max rel. error vs Radau(1e-13) | wall (s) |")
    print("|---|---|---|---|")
    for method in ("rodas4", "Radau", "BDF"):
        for rtol in (1e-6, 1e-8, 1e-10):
            t0 = time.time()
            _, y = tm.integrate_five(R, u0, 60.0, t_eval, method=method, rtol=rtol, atol=1e-6)
            dt = time.time() - t0
            err = np.max(np.abs(y[1:] - ref[1:]) / np.maximum(np.abs(ref[1:]), 1.0))
            print(f"| {method} | {rtol:g} | {err:.2e} | {dt:.2f} |")
    for sep in (1.0, 100.0):
        t0 = time.time()
        r = tm.run_stiff(t_end=60.0, seed=0, separation=sep)
        print(f"run_stiff(separation={sep:g}): stiffness ratio {r['stiffness_ratio']:.3g}, "
              f"{r['n_steps']} steps ({r['n_rejected']} rejected), {time.time() - t0:.2f} s")

    fig, ax = plt.subplots(1, 2, figsize=(12, 4.5))
    factors = (1.0, 3.0, 10.0, 30.0, 100.0, 300.0)
    for a, scaling in zip(ax, ("fast", "fixed_K")):
        t0 = time.time()
        r = tm.reduction_error(factors=factors, t_end=20.0, scaling=scaling)
        print(f"\nscaling={scaling} ({time.time() - t0:.1f} s); fitted slopes vs epsilon: "
              f"QSS {r['slope_qss_T']:.3f}, total-QSSA {r['slope_tqssa_T']:.3f}")
        print("| factor | epsilon | K T_max | QSS rel. err T | QSS rel. err E | total-QSSA err T |"
              " total-QSSA err E |")
        print("|---|---|---|---|---|---|---|")
        for i, f in enumerate(factors):
            print(f"| {f:g} | {r['epsilon'][i]:.3g} | {r['K_T'][i]:.3g} | {r['qss_T'][i]:.3g} | "
                  f"{r['qss_E'][i]:.3g} | {r['tqssa_T'][i]:.3g} | {r['tqssa_E'][i]:.3g} |")
        a.loglog(r["epsilon"], r["qss_T"], "o-", label="published QSS model (tumour)")
        a.loglog(r["epsilon"], r["tqssa_T"], "s-", label="total-QSSA reduced model (tumour)")
        a.loglog(r["epsilon"], r["epsilon"] * r["tqssa_T"][0] / r["epsilon"][0], "k:",
                 label="slope 1")
        a.set_xlabel("epsilon = a / (km1 + k2 + k3)")
        a.set_ylabel("max relative error over 20 days")
        a.set_title({"fast": "km1, k2, k3, f x lambda (K falls)",
                     "fixed_K": "conjugate rate x lambda at fixed K"}[scaling])
        a.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(os.path.join(PLOTS, "tumour_timescale.png"), dpi=110)

    ex = tm.excitability()
    d = ex["dormant"]
    print(f"\nexcitability at s = {ex['params'].s:g}: dormant state x={d.x:.4f}, y={d.y:.4f}")
    print("| effector fraction left | tumour kick | peak tumour / dormant | ends at dormant |")
    print("|---|---|---|---|")
    fig, ax = plt.subplots(1, 2, figsize=(12, 4.5))
    for run in ex["runs"]:
        back = np.allclose(run["final"], [d.x, d.y], rtol=1e-4)
        print(f"| {run['depletion']:g} | x2 | {run['peak_ratio']:.2f} | {back} |")
        ax[0].plot(run["traj"][:, 0], run["traj"][:, 1], lw=1, label=f"E x {run['depletion']}")
        ax[1].semilogy(run["t"] * ex["params"].time_scale_days, run["traj"][:, 1] * 1e6, lw=1)
    ax[0].plot(d.x, d.y, "ko")
    ax[0].set_yscale("log")
    ax[0].set_xlabel("x = E/E0")
    ax[0].set_ylabel("y = T/T0")
    ax[0].legend(fontsize=8)
    ax[1].set_xlabel("days")
    ax[1].set_ylabel("tumour cells")
    fig.suptitle("Excitability of the dormant state (s = 2.2e4, just past the saddle-node)")
    fig.tight_layout()
    fig.savefig(os.path.join(PLOTS, "tumour_excitability.png"), dpi=110)


if __name__ == "__main__":
    main()
