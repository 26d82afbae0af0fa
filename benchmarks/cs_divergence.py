"""Divergence estimators: accuracy against the closed form, and cost in denoiser calls.

(1) Fixed input r = x + sigma n at N = 16384: relative error of each BB-MC variant (probe kind,
    epsilon rule, probes) and of the variance-matching estimator, 20 repetitions.
(2) Inside AMP (iid Gaussian, N = 4000) and VAMP (fast conditioned DCT, N = 8192, kappa = 10,
    with the measured input variance, see solvers/cs/README.md):
    along the exact-divergence trajectory, the relative error of the no-extra-call estimators
    at every iteration; then each estimator driving the solver: final NMSE and denoiser calls.
(3) VAMP with the no-call estimators across condition numbers 1-1000.
"""
from __future__ import annotations

import argparse

import numpy as np

from cs_common import md_table
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
            row.append(100 * float(np.mean(errs)))
        row.append(getattr(est, "probes", 0))
        rows.append(row)
    print(f"(1) fixed input, N = {n}: mean |relative error| (%) over {reps} draws")
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


def part2() -> None:
    rows_err, rows_run = [], []
    rng = np.random.default_rng(1)
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
                rows_run.append([solver, opname, den.name, name, v if np.isfinite(v) else "nan",
                                 float(min(h.nmse_db)), h.denoiser_calls, h.operator_products])
    print("\n(2a) no-extra-call estimators along the exact trajectory: |relative error| (%)")
    print(md_table(["solver", "operator", "denoiser", "estimator", "median it 1-5", "median it 6-20",
                    "max"], rows_err))
    print("\n(2b) each estimator driving the solver, 20 iterations, SNR 40 dB, rho 0.1")
    print(md_table(["solver", "operator", "denoiser", "divergence", "final NMSE (dB)", "best NMSE (dB)",
                    "denoiser calls", "A/A^T products"], rows_run))


def part3() -> None:
    rows = []
    for kappa in (1.0, 10.0, 100.0, 1000.0):
        for seed in (0, 1):
            rng = np.random.default_rng(seed)
            op = ConditionedDCT.random(4096, 8192, kappa, rng)
            x = bernoulli_gauss(8192, 0.1, rng)
            p = measure(op, x, noise_var_for_snr(op, 0.1, 40.0), rng)
            row = [f"{kappa:g}", seed]
            for den in (BernoulliGaussMMSE(0.1), SoftThreshold(1.3)):
                for est in (ExactDivergence(), *NO_CALL.values()):
                    h = vamp(p.y, op, den, 20, noise_var=p.noise_var, x_true=x, divergence=est).history
                    row.append(h.nmse_db[-1])
            rows.append(row)
    print("\n(3) VAMP, fast conditioned DCT, N = 8192, 20 iterations: final NMSE (dB)")
    print(md_table(["kappa", "seed", "BG exact", "BG var.-match.", "soft exact", "soft var.-match."], rows))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--reps", type=int, default=20)
    args = ap.parse_args()
    part1(args.reps)
    part2()
    part3()


if __name__ == "__main__":
    main()
