"""Divergence estimators: accuracy against the closed form, and cost in denoiser calls.

(1) Fixed input r = x + sigma n at N = 16384: relative error of each BB-MC variant (probe kind,
    epsilon rule, probes) and of the variance-matching estimator, 20 repetitions (fresh noise and
    probes each): mean ± std of |relative error| over the repetitions.
(2) Inside AMP (iid Gaussian, N = 4000) and VAMP (fast conditioned DCT, N = 8192, kappa = 10,
    with the measured input variance, see solvers/cs/README.md):
    along the exact-divergence trajectory, the relative error of the no-extra-call estimators
    at every iteration; then each estimator driving the solver: final NMSE and denoiser calls.
(3) VAMP with the no-call estimator across condition numbers 1-1000.
(2) and (3) draw --seeds problems ((2): generator seed 1 + 1000 s, s = 0 being the original single
draw; (3): seeds 0..S-1) and print mean ± sample std over them.
"""
from __future__ import annotations

import argparse

import numpy as np

from cs_common import md_table, mean_std, seed_rows
from solvers.cs import (
    BernoulliGaussMMSE,
    ExactDivergence,
    HaarWaveletThreshold,
    MonteCarloDivergence,
    SoftThreshold,
    VarianceMatchingDivergence,
    amp,
    bernoulli_gauss,
    gaussian_operator,
    measure,
    noise_var_for_snr,
    vamp,
)
from solvers.cs.operators import ConditionedDCT
from solvers.cs.problems import test_image

NO_CALL = {"variance-matching": VarianceMatchingDivergence()}
# (residual consistency was dropped in issue 16: benchmarks/cs_residual_consistency.py)


def part1(reps: int) -> None:
    rng = np.random.default_rng(0)
    n = 16384
    x = bernoulli_gauss(n, 0.1, rng)
    img = test_image(128)[0].ravel()
    cases = [("soft tau=1.5", SoftThreshold(1.5), x, 0.2), ("BG-MMSE", BernoulliGaussMMSE(0.1), x, 0.2),
             ("Haar image tau=1.5", HaarWaveletThreshold(128, tau=1.5), img, 0.05)]
    ests = [MonteCarloDivergence(pr, rule, c, L) for pr in ("gaussian", "rademacher")
            for rule, c in (("fixed", 1e-4), ("max", 1e-3), ("sigma", 1e-3)) for L in (1, 4)]
    ests.append(MonteCarloDivergence("gaussian", "max", 1e-1, 1))  # too large an epsilon
    rows = []
    for est in ests + [VarianceMatchingDivergence()]:
        row = [est.name if not isinstance(est, MonteCarloDivergence) else
               f"BB-MC {est.probe}, eps {est.eps_rule} c={est.c:g}, L={est.probes}"]
        for _, den, sig, sigma in cases:
            errs = []
            for _ in range(reps):
                r = sig + sigma * rng.standard_normal(n)
                xh = den(r, sigma)
                ex = den.divergence(r, sigma)
                errs.append(abs(est.estimate(den, r, sigma, xh, rng).value / ex - 1))
            row.append(mean_std(100 * np.array(errs)))
        row.append(getattr(est, "probes", 0))
        rows.append(row)
    print(f"(1) fixed input, N = {n}: |relative error| (%), mean ± std over {reps} draws")
    print(md_table(["estimator"] + [c[0] for c in cases] + ["extra denoiser calls"], rows))


class Spy(ExactDivergence):
    """Exact divergence that also records the no-call estimators' relative errors (and asks
    VAMP for the measured input variance those estimators use)."""

    uses_input_var = True

    def __init__(self):
        self.errs = {k: [] for k in NO_CALL}

    def estimate(self, den, r, sigma, xh, rng=None, ctx=None):
        out = super().estimate(den, r, sigma, xh, rng, ctx)
        for k, est in NO_CALL.items():
            self.errs[k].append(est.estimate(den, r, sigma, xh, rng, ctx).value / out.value - 1)
        return out


def part2(seeds: int) -> None:
    errs, runs = [], []
    for seed in range(seeds):
        e, r = part2_one(1 + 1000 * seed)
        errs.append(e)
        runs.append(r)
    print(f"\n(2a) no-extra-call estimator along the exact trajectory: |relative error| (%), "
          f"mean ± std over {seeds} problems")
    print(md_table(["solver", "operator", "denoiser", "estimator", "median it 1-5", "median it 6-20",
                    "max"], seed_rows(errs, 4)))
    print(f"\n(2b) each estimator driving the solver, 20 iterations, SNR 40 dB, rho 0.1, "
          f"mean ± std over {seeds} problems")
    print(md_table(["solver", "operator", "denoiser", "divergence", "final NMSE (dB)", "best NMSE (dB)",
                    "denoiser calls", "A/A^T products"], seed_rows(runs, 4, "{:.4g}")))


def part2_one(seed: int):
    rows_err, rows_run = [], []
    rng = np.random.default_rng(seed)
    setups = []
    op = gaussian_operator(2000, 4000, rng)
    x = bernoulli_gauss(4000, 0.1, rng)
    setups.append(("AMP", "iid N=4000", measure(op, x, noise_var_for_snr(op, 0.1, 40.0), rng)))
    op = ConditionedDCT.random(4096, 8192, 10.0, rng)
    x = bernoulli_gauss(8192, 0.1, rng)
    setups.append(("VAMP", "cond-DCT kappa=10 N=8192", measure(op, x, noise_var_for_snr(op, 0.1, 40.0), rng)))
    for solver, opname, p in setups:
        for den in (SoftThreshold(1.3), BernoulliGaussMMSE(0.1)):
            def run(est, it=20):
                kw = dict(divergence=est, x_true=p.x, rng=np.random.default_rng(2))
                if solver == "AMP":
                    return amp(p.y, p.op, den, it, noise_var=p.noise_var, **kw).history
                return vamp(p.y, p.op, den, it, noise_var=p.noise_var, **kw).history
            spy = Spy()
            run(spy)
            for k, e in spy.errs.items():
                e = 100 * np.abs(np.array(e))
                rows_err.append([solver, opname, den.name, k, float(np.median(e[:5])), float(np.median(e[5:])),
                                 float(np.max(e))])
            for name, est in [("exact", ExactDivergence()),
                              ("BB-MC gaussian max L=1", MonteCarloDivergence("gaussian", "max", 1e-3, 1)),
                              ("BB-MC rademacher sigma L=1", MonteCarloDivergence("rademacher", "sigma", 1e-3, 1)),
                              *NO_CALL.items()]:
                h = run(est)
                v = h.nmse_db[-1]
                rows_run.append([solver, opname, den.name, name, float(v),
                                 float(min(h.nmse_db)), h.denoiser_calls, h.operator_products])
    return rows_err, rows_run


def part3(seeds: int) -> None:
    rows = []
    for kappa in (1.0, 10.0, 100.0, 1000.0):
        per_seed = []
        for seed in range(seeds):
            rng = np.random.default_rng(seed)
            op = ConditionedDCT.random(4096, 8192, kappa, rng)
            x = bernoulli_gauss(8192, 0.1, rng)
            p = measure(op, x, noise_var_for_snr(op, 0.1, 40.0), rng)
            row = []
            for den in (BernoulliGaussMMSE(0.1), SoftThreshold(1.3)):
                finals = [vamp(p.y, op, den, 20, noise_var=p.noise_var, x_true=x,
                               divergence=est).history.nmse_db[-1]
                          for est in (ExactDivergence(), *NO_CALL.values())]
                row += finals + [finals[1] - finals[0]]
            per_seed.append(row)
        rows.append([f"{kappa:g}"] + [mean_std([r[j] for r in per_seed]) for j in range(len(row))])
    print(f"\n(3) VAMP, fast conditioned DCT, N = 8192, 20 iterations: final NMSE (dB), "
          f"mean ± std over seeds 0-{seeds - 1}")
    print(md_table(["kappa", "BG exact", "BG var.-match.", "BG var.-match. - exact", "soft exact",
                    "soft var.-match.", "soft var.-match. - exact"], rows))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--reps", type=int, default=20)
    ap.add_argument("--seeds", type=int, default=5, help="problems drawn in (2) and (3)")
    args = ap.parse_args()
    part1(args.reps)
    part2(args.seeds)
    part3(args.seeds)


if __name__ == "__main__":
    main()
