r"""Divergence estimators for the Onsager terms of AMP / VAMP, behind one interface.

``estimator.estimate(denoiser, r, sigma, x_hat, rng, ctx)`` returns a ``DivergenceEstimate``
(value = sum_i dD_i/dr_i, plus its cost in extra denoiser calls and operator products).
``x_hat = D(r; sigma)`` has already been computed by the solver and is not counted.

Estimators
----------
* ``ExactDivergence``      -- the denoiser's closed form.
* ``MonteCarloDivergence`` -- Black-Box Monte Carlo (Ramani et al. 2008; Metzler et al. D-AMP):
  div ~ (1/L) sum_l  eta_l^T (D(r + eps eta_l) - D(r)) / eps, probes Gaussian or Rademacher,
  eps rules: ``fixed`` (eps = c), ``max`` (eps = c max|r|, D-AMP's rule) or ``sigma``
  (eps = c sigma).  Cost: L extra denoiser calls.
* ``VarianceMatchingDivergence`` -- no extra denoiser call; for (near-)Bayes-optimal denoisers.

A second no-call estimator, "residual consistency" (a quadratic in alpha from Stein's lemma, SURE
and y - A x_hat vs y - A r), was removed in issue 16: it was 15-30 % off on VAMP with the
Bernoulli-Gauss MMSE denoiser at N = 16384 once VAMP converged (std over seeds as large as the
mean), because the term that carries alpha is a difference of two terms that agree to a fraction
alpha, so finite-N errors are multiplied by ~(1 - alpha)/alpha. `benchmarks/cs_residual_consistency.py`
keeps its formula and the measurement.

``vamp`` can pass a *measured* input variance in ``ctx.input_var`` (an estimator that sets
``uses_input_var``): the error variance of the previous extrinsic message r2,
tau2 = (||y - A r2||^2 - M s_w^2)/||A||_F^2 (one more operator product), pushed through the exact
LMMSE stage's state-evolution map, tau1 = (E2 - alpha2^2 tau2)/(1 - alpha2)^2, using the known
singular values. VAMP's own 1/g1 is built from earlier divergence estimates, and with it an
estimator's errors compound.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .denoisers import Denoiser
from .operators import LinearOperator


@dataclass(frozen=True)
class DivergenceEstimate:
    value: float
    denoiser_calls: int = 0
    operator_products: int = 0


@dataclass
class MessageContext:
    """What a message-based estimator may use: the measurements, the operator, the noise
    variance and (optionally) the product A x_hat the solver computes anyway."""

    y: np.ndarray
    op: LinearOperator
    noise_var: float
    a_xhat: np.ndarray | None = None
    input_var: object = None  # a measured variance of r - x; None: use the solver's sigma^2


class DivergenceEstimator:
    name = "estimator"

    def estimate(self, denoiser: Denoiser, r, sigma, x_hat, rng: np.random.Generator | None,
                 ctx: MessageContext | None = None) -> DivergenceEstimate:  # pragma: no cover
        raise NotImplementedError


@dataclass(frozen=True)
class ExactDivergence(DivergenceEstimator):
    name = "exact"

    def estimate(self, denoiser, r, sigma, x_hat, rng=None, ctx=None):
        return DivergenceEstimate(denoiser.divergence(r, sigma))


@dataclass(frozen=True)
class MonteCarloDivergence(DivergenceEstimator):
    """Black-box Monte Carlo with ``probes`` probes of kind ``probe`` and step rule ``eps_rule``."""

    probe: str = "gaussian"  # "gaussian" | "rademacher"
    eps_rule: str = "max"  # "fixed" | "max" | "sigma"
    c: float = 1e-3
    probes: int = 1

    @property
    def name(self) -> str:
        return f"bbmc-{self.probe}-{self.eps_rule}-x{self.probes}"

    def epsilon(self, r, sigma) -> float:
        if self.eps_rule == "fixed":
            return self.c
        if self.eps_rule == "max":
            return self.c * np.max(np.abs(r)) + 1e-12
        if self.eps_rule == "sigma":
            return self.c * sigma
        raise ValueError(f"unknown eps rule {self.eps_rule!r}")

    def estimate(self, denoiser, r, sigma, x_hat, rng, ctx=None):
        if rng is None:
            raise ValueError("Monte Carlo divergence needs an explicit np.random.Generator")
        eps = self.epsilon(r, sigma)
        total = 0.0
        for _ in range(self.probes):
            if self.probe == "gaussian":
                eta = rng.standard_normal(r.shape)
            elif self.probe == "rademacher":
                eta = rng.choice(np.array([-1.0, 1.0]), size=r.shape)
            else:
                raise ValueError(f"unknown probe {self.probe!r}")
            total = total + np.sum(eta * (denoiser(r + eps * eta, sigma) - x_hat)) / eps
        return DivergenceEstimate(total / self.probes, denoiser_calls=self.probes)


@dataclass(frozen=True)
class VarianceMatchingDivergence(DivergenceEstimator):
    """No-extra-call estimate for (near-)Bayes-optimal denoisers:  alpha = 1 - S / sigma^2,
    S = ||x_hat - r||^2 / N  (derivation in ``solvers/cs/README.md``): SURE gives
    mse = S - sigma^2 + 2 alpha sigma^2, and an MMSE denoiser has mse = alpha sigma^2 (Tweedie:
    div = sum Var[x|r]/sigma^2), so alpha = 1 - S/sigma^2.  Zero denoiser calls and zero
    operator products; biased for denoisers that are not matched to the signal."""

    name = "variance-matching"
    uses_input_var = True

    def estimate(self, denoiser, r, sigma, x_hat, rng=None, ctx=None):
        n = r.shape[0]
        s = np.sum((x_hat - r) ** 2) / n
        var = sigma**2 if ctx is None or ctx.input_var is None else ctx.input_var
        alpha = np.clip(1.0 - s / var, 0.0, 1.0)
        return DivergenceEstimate(alpha * n)
