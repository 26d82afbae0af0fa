"""Plain-function entry points: one call builds a seeded problem and runs one solver.

``run_amp``, ``run_vamp`` and ``run_cg_vamp`` take keyword parameters and a seed and return a
``RunResult`` (the history plus the problem), so a workload wrapper can trace them.  Setup
(operator, signal) may use scipy; the iteration loops are numpy only.

Operators: "gaussian" (dense iid), "orthogonal" (dense Haar U, V; O(N^3) setup), "dct"
(subsampled DCT, kappa = 1) and "conditioned-dct" (fast, prescribed kappa).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .amp import amp
from .cgvamp import cg_vamp
from .denoisers import BernoulliGaussMMSE, Denoiser, SoftThreshold
from .divergence import (
    DivergenceEstimator,
    ExactDivergence,
    MonteCarloDivergence,
    VarianceMatchingDivergence,
)
from .history import History
from .operators import (
    ConditionedDCT,
    LinearOperator,
    SubsampledDCT,
    gaussian_operator,
    orthogonally_invariant_operator,
)
from .problems import Problem, bernoulli_gauss, measure, noise_var_for_snr
from .vamp import vamp


@dataclass
class RunResult:
    x_hat: np.ndarray
    history: History
    problem: Problem


def make_operator(kind: str, m: int, n: int, condition_number: float,
                  rng: np.random.Generator) -> LinearOperator:
    if kind == "gaussian":
        return gaussian_operator(m, n, rng)
    if kind == "orthogonal":
        return orthogonally_invariant_operator(m, n, condition_number, rng)
    if kind == "dct":
        return SubsampledDCT.random(m, n, rng)
    if kind == "conditioned-dct":
        return ConditionedDCT.random(m, n, condition_number, rng)
    raise ValueError(f"unknown operator {kind!r}")


def make_denoiser(kind: str, rho: float, tau: float) -> Denoiser:
    if kind == "bg":
        return BernoulliGaussMMSE(rho=rho)
    if kind == "soft":
        return SoftThreshold(tau=tau)
    raise ValueError(f"unknown denoiser {kind!r}")


def make_divergence(kind: str, probes: int = 1) -> DivergenceEstimator:
    if kind == "exact":
        return ExactDivergence()
    if kind.startswith("bbmc"):  # e.g. "bbmc", "bbmc-rademacher", "bbmc-gaussian-sigma"
        parts = kind.split("-")
        probe = parts[1] if len(parts) > 1 else "gaussian"
        rule = parts[2] if len(parts) > 2 else "max"
        return MonteCarloDivergence(probe=probe, eps_rule=rule, probes=probes)
    if kind == "variance-matching":
        return VarianceMatchingDivergence()
    raise ValueError(f"unknown divergence estimator {kind!r}")


def make_problem(N: int, ratio: float, rho: float, snr_db: float, operator: str,
                 condition_number: float, rng: np.random.Generator) -> Problem:
    m = max(1, int(round(ratio * N)))
    op = make_operator(operator, m, N, condition_number, rng)
    x = bernoulli_gauss(N, rho, rng)
    return measure(op, x, noise_var_for_snr(op, rho, snr_db), rng)


def run_amp(N: int = 2000, ratio: float = 0.5, iters: int = 30, seed: int = 0, *,
            rho: float = 0.1, snr_db: float = 40.0, operator: str = "gaussian",
            condition_number: float = 1.0, denoiser: str = "soft", tau: float = 1.3,
            divergence: str = "exact", probes: int = 1) -> RunResult:
    rng = np.random.default_rng(seed)
    prob = make_problem(N, ratio, rho, snr_db, operator, condition_number, rng)
    res = amp(prob.y, prob.op, make_denoiser(denoiser, rho, tau), iters,
              divergence=make_divergence(divergence, probes), noise_var=prob.noise_var,
              rng=rng, x_true=prob.x)
    return RunResult(res.x_hat, res.history, prob)


def run_vamp(N: int = 4096, ratio: float = 0.5, iters: int = 15, seed: int = 0, *,
             rho: float = 0.1, snr_db: float = 40.0, operator: str = "conditioned-dct",
             condition_number: float = 100.0, denoiser: str = "bg", tau: float = 1.3,
             divergence: str = "exact", probes: int = 1, damping: float = 1.0,
             learn_noise: bool = False) -> RunResult:
    rng = np.random.default_rng(seed)
    prob = make_problem(N, ratio, rho, snr_db, operator, condition_number, rng)
    nv0 = prob.noise_var if not learn_noise else float(np.sum(prob.y**2)) / len(prob.y) / 10
    res = vamp(prob.y, prob.op, make_denoiser(denoiser, rho, tau), iters, noise_var=nv0,
               divergence=make_divergence(divergence, probes), learn_noise=learn_noise,
               damping=damping, rng=rng, x_true=prob.x)
    return RunResult(res.x_hat, res.history, prob)


def run_cg_vamp(N: int = 16384, ratio: float = 0.2, k: int = 20, iters: int = 10,
                seed: int = 0, *, rho: float = 0.04, snr_db: float = 40.0,
                operator: str = "conditioned-dct", condition_number: float = 100.0,
                denoiser: str = "bg", tau: float = 1.3, divergence: str = "exact",
                probes: int = 1, tol: float = 0.0, warm_start: bool = True,
                cg_divergence: str = "spectral", damping: float = 1.0) -> RunResult:
    rng = np.random.default_rng(seed)
    prob = make_problem(N, ratio, rho, snr_db, operator, condition_number, rng)
    res = cg_vamp(prob.y, prob.op, make_denoiser(denoiser, rho, tau), iters,
                  noise_var=prob.noise_var, k=k, tol=tol, warm_start=warm_start,
                  cg_divergence=cg_divergence, divergence=make_divergence(divergence, probes),
                  damping=damping, rng=rng, x_true=prob.x)
    return RunResult(res.x_hat, res.history, prob)
