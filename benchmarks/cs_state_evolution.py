"""NMSE per iteration vs state evolution: AMP (iid Gaussian) and VAMP (Haar, kappa 1 and 100).

Empirical curves average ||x_hat - x||^2 / (N rho) over trials (SE predicts the expected MSE).
--seeds S repeats the whole measurement on S independent sets of trials (set g draws its problems
from seeds 1000 g + ...; set 0 is the original single-set run) and prints each column as
mean ± sample std over the sets; the plot shows set 0.
"""
from __future__ import annotations

import argparse

import matplotlib.pyplot as plt
import numpy as np

from cs_common import md_table, savefig, seed_rows
from solvers.cs import (
    BernoulliGaussMMSE,
    SoftThreshold,
    amp,
    amp_se,
    bernoulli_gauss,
    gaussian_operator,
    measure,
    noise_var_for_snr,
    orthogonally_invariant_operator,
    vamp,
    vamp_se,
)
from solvers.cs.operators import ConditionedDCT


def mean_db(curves):
    return 10 * np.log10(np.mean(curves, axis=0))


def median_db(curves):
    return np.median(10 * np.log10(np.asarray(curves)), axis=0)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=1024)
    ap.add_argument("--trials", type=int, default=8)
    ap.add_argument("--iters", type=int, default=15)
    ap.add_argument("--rho", type=float, default=0.1)
    ap.add_argument("--snr", type=float, default=40.0)
    ap.add_argument("--fast", action="store_true",
                    help="VAMP on the fast ConditionedDCT stand-in (allows N = 16384); AMP skipped")
    ap.add_argument("--seeds", type=int, default=5, help="independent sets of trials")
    args = ap.parse_args()
    n = args.n
    fig, axes = plt.subplots(1, 3, figsize=(15, 4))
    per_seed = [one_set(args, 1000 * g, axes if g == 0 else None) for g in range(args.seeds)]
    rows = seed_rows(per_seed, 3)
    for ax in axes:
        if not ax.lines:
            ax.set_visible(False)
            continue
        ax.set_xlabel("iteration")
        ax.set_ylabel("NMSE (dB)")
        ax.legend()
        ax.grid(alpha=0.3)
    path = savefig(fig, f"cs_state_evolution_n{n}{'_fast' if args.fast else ''}.png")
    print(f"N={n}, M={n // 2}, rho={args.rho}, SNR={args.snr} dB, trials={args.trials}, "
          f"mean ± std over {args.seeds} sets of trials")
    print(md_table(["solver", "operator", "denoiser", "max over t of abs(mean MSE - SE) (dB)",
                    "max over t of abs(median - SE) (dB)", "final emp (dB)",
                    "final SE (dB)"], rows))
    print(f"plot: {path}")


def one_set(args, base: int, axes) -> list:
    """The table's rows for one set of trials (problem seeds offset by `base`); plots if axes."""
    n, m, rho, it = args.n, args.n // 2, args.rho, args.iters
    rows = []
    # AMP, iid Gaussian, soft threshold tau = 1.3
    den = SoftThreshold(1.3)
    curves, nv = [], None
    for s in range(0 if args.fast else args.trials):
        rng = np.random.default_rng(base + s)
        op = gaussian_operator(m, n, rng)
        x = bernoulli_gauss(n, rho, rng)
        nv = noise_var_for_snr(op, rho, args.snr)
        p = measure(op, x, nv, rng)
        h = amp(p.y, op, den, 2 * it, x_true=x, keep_x=True).history
        curves.append([np.mean((xh - x) ** 2) / rho for xh in h.x])
    if curves:
        emp, se = mean_db(curves), amp_se(den, rho, 1.0, m / n, nv, 2 * it)
        if axes is not None:
            axes[0].plot(emp, "o-", label="AMP empirical")
            axes[0].plot(se, "k--", label="SE")
            axes[0].set_title(f"AMP, iid Gaussian, soft tau=1.3, N={n}")
        rows.append(["AMP", "iid", "soft 1.3", float(np.max(np.abs(emp - se))),
                     float(np.max(np.abs(median_db(curves) - se))), float(emp[-1]), float(se[-1])])
    for ax, kappa in zip(axes[1:] if axes is not None else (None, None), (1.0, 100.0)):
        ops = []
        for s in range(args.trials):
            rng = np.random.default_rng(base + 100 + s)
            if args.fast:
                op = ConditionedDCT.random(m, n, kappa, rng)
            else:
                op = orthogonally_invariant_operator(m, n, kappa, rng)
            x = bernoulli_gauss(n, rho, rng)
            ops.append(measure(op, x, noise_var_for_snr(op, rho, args.snr), rng))
        for den, style in ((BernoulliGaussMMSE(rho), "o"), (SoftThreshold(1.3), "s")):
            curves = []
            for p in ops:
                h = vamp(p.y, p.op, den, it, noise_var=p.noise_var, x_true=p.x, keep_x=True).history
                curves.append([np.mean((xh - p.x) ** 2) / rho for xh in h.x])
            emp = mean_db(curves)
            se = vamp_se(den, rho, 1.0, ops[0].op.singular_values, n, ops[0].noise_var, it)
            if ax is not None:
                ax.plot(emp, style + "-", label=f"VAMP {den.name}")
                ax.plot(se, "k--", lw=1)
            rows.append(["VAMP", f"{'cond-DCT' if args.fast else 'Haar'} kappa={kappa:g}", den.name, float(np.max(np.abs(emp - se))),
                         float(np.max(np.abs(median_db(curves) - se))), float(emp[-1]), float(se[-1])])
        if ax is not None:
            ax.set_title(f"VAMP, {'cond-DCT' if args.fast else 'Haar'}, kappa={kappa:g}, N={n} (dashed: SE)")
    return rows


if __name__ == "__main__":
    main()
