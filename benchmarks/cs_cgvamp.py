"""CG-VAMP approaching VAMP as k grows (three CG-divergence treatments), and warm vs cold starts.

Operator: fast ConditionedDCT (A = U diag(s) V^T with randomised-DCT U, V), kappa = 100.
Every number is a mean ± sample std over --seeds independently drawn problems (operator,
signal, noise); the plot shows seed 0.
"""
from __future__ import annotations

import argparse
import time

import matplotlib.pyplot as plt
import numpy as np

from cs_common import md_table, savefig
from solvers.cs import BernoulliGaussMMSE, bernoulli_gauss, cg_vamp, measure, noise_var_for_snr, vamp
from solvers.cs.operators import ConditionedDCT


def _one_seed(args, seed):
    """Every number of tables (a)-(c) for one seeded problem, plus the curves of seed 0."""
    n, m, rho, it = args.n, args.n // 2, 0.1, args.iters
    rng = np.random.default_rng(seed)
    op = ConditionedDCT.random(m, n, args.kappa, rng)
    x = bernoulli_gauss(n, rho, rng)
    p = measure(op, x, noise_var_for_snr(op, rho, 40.0), rng)
    den = BernoulliGaussMMSE(rho)
    out, curves = {}, {}
    ref = vamp(p.y, op, den, it, noise_var=p.noise_var, x_true=x).history.nmse_db
    out["exact"] = ref[-1]
    curves["exact"] = ref
    for k in KS:
        for d in DIVS:
            kk = m if k == "M" else k
            h = cg_vamp(p.y, op, den, it, noise_var=p.noise_var, k=kk, warm_start=False,
                        cg_divergence=d, x_true=x, rng=np.random.default_rng(seed + 1)).history
            out[("a", k, d)] = h.nmse_db[-1]
            curves[(k, d)] = h.nmse_db
    for k in (2, 5, 10, 20):
        hc = cg_vamp(p.y, op, den, it, noise_var=p.noise_var, k=k, warm_start=False, x_true=x).history
        hw = cg_vamp(p.y, op, den, it, noise_var=p.noise_var, k=k, warm_start=True, x_true=x).history
        out[("b", k)] = (hc.nmse_db[-1], hw.nmse_db[-1], sum(hc.cg_iters), sum(hw.cg_iters))
        curves[(k, "warm")] = hw.nmse_db
    for tol in TOLS:
        hc = cg_vamp(p.y, op, den, it, noise_var=p.noise_var, k=500, tol=tol, warm_start=False, x_true=x).history
        hw = cg_vamp(p.y, op, den, it, noise_var=p.noise_var, k=500, tol=tol, warm_start=True, x_true=x).history
        out[("c", tol)] = (hc.nmse_db[-1], hw.nmse_db[-1], sum(hc.cg_iters), sum(hw.cg_iters))
        curves[(tol, "adaptive-cold")], curves[(tol, "adaptive-warm")] = hc.cg_iters, hw.cg_iters
    return out, curves


KS = (1, 2, 5, 10, 20, 50, 100, 200, "M")
DIVS = ("spectral", "hutchinson", "lmmse")
TOLS = (1e-1, 3e-2, 1e-2, 1e-3)


def _ms(values, fmt="{:.2f}"):
    v = np.asarray(values, dtype=float)
    if not np.all(np.isfinite(v)) or (fmt == "{:.2f}" and np.any(v > 100)):  # dB columns only
        return f"diverged in {int(np.sum(~np.isfinite(v) | (v > 100)))}/{len(v)}"
    return (fmt + " ± " + fmt).format(v.mean(), v.std(ddof=1) if len(v) > 1 else 0.0)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=4096)
    ap.add_argument("--kappa", type=float, default=100.0)
    ap.add_argument("--iters", type=int, default=15)
    ap.add_argument("--seeds", type=int, default=5, help="problems drawn (seeds 0..S-1)")
    args = ap.parse_args()
    t0 = time.time()
    runs = [_one_seed(args, s) for s in range(args.seeds)]
    res = [r for r, _ in runs]
    curves = runs[0][1]
    print(f"N={args.n}, M={args.n // 2}, kappa={args.kappa:g}, rho=0.1, SNR=40 dB, {args.iters} "
          f"iterations; mean ± std (sample) over seeds 0..{args.seeds - 1}")
    print(f"exact (SVD) VAMP final NMSE: {_ms([r['exact'] for r in res])} dB\n")

    rows = []
    for k in KS:
        row = [k] + [_ms([r[("a", k, d)] for r in res]) for d in DIVS]
        row.append(_ms([r[("a", k, "spectral")] - r["exact"] for r in res]))
        rows.append(row)
    print("(a) cold start, fixed k (k = M: CG to the end, default settings): final NMSE (dB)")
    print(md_table(["k"] + [f"CG-VAMP {d}" for d in DIVS] + ["spectral - exact VAMP (dB)"], rows))

    rows_b = [[k] + [_ms([r[("b", k)][j] for r in res], "{:.2f}" if j < 2 else "{:.0f}")
                     for j in range(4)] for k in (2, 5, 10, 20)]
    print("\n(b) fixed k: cold vs warm start")
    print(md_table(["k", "cold final NMSE (dB)", "warm final NMSE (dB)", "cold CG its", "warm CG its"], rows_b))

    rows_c = [[f"{tol:g}"] + [_ms([r[("c", tol)][j] for r in res], "{:.2f}" if j < 2 else "{:.0f}")
                              for j in range(4)] for tol in TOLS]
    print("\n(c) adaptive k (tol on ||W mu - b||/||b||, cap 500): cold vs warm")
    print(md_table(["tol", "cold NMSE (dB)", "warm NMSE (dB)", "cold CG its", "warm CG its"], rows_c))
    print(f"\n({time.time() - t0:.0f} s wall)")

    ref = curves["exact"]
    fig, axes = plt.subplots(1, 3, figsize=(16, 4))
    axes[0].plot(ref, "k-", lw=2, label="exact VAMP")
    for k in (2, 5, 10, 20, 50):
        axes[0].plot(curves[(k, "spectral")], "-", label=f"k={k} spectral")
        axes[0].plot(curves[(k, "lmmse")], ":", color=axes[0].lines[-1].get_color())
    axes[0].set_title("cold CG-VAMP (solid: spectral div., dotted: exact-LMMSE div.)")
    axes[1].plot(ref, "k-", lw=2, label="exact VAMP")
    for k in (2, 5, 10):
        axes[1].plot(curves[(k, "spectral")], "--", label=f"k={k} cold")
        axes[1].plot(curves[(k, "warm")], "-", color=axes[1].lines[-1].get_color(), label=f"k={k} warm")
    axes[1].set_title("warm (solid) vs cold (dashed) start")
    for ax in axes[:2]:
        ax.set_xlabel("iteration")
        ax.set_ylabel("NMSE (dB)")
        ax.set_ylim(-50, 5)
        ax.legend(fontsize=7)
        ax.grid(alpha=0.3)
    axes[2].plot(curves[(1e-3, "adaptive-cold")], "o--", label="cold, tol 1e-3")
    axes[2].plot(curves[(1e-3, "adaptive-warm")], "o-", label="warm, tol 1e-3")
    axes[2].set_xlabel("iteration")
    axes[2].set_ylabel("CG iterations used")
    axes[2].legend()
    axes[2].grid(alpha=0.3)
    print(f"\nplot: {savefig(fig, 'cs_cgvamp.png')}")


if __name__ == "__main__":
    main()
