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
* ``ResidualConsistencyDivergence`` -- no extra denoiser call; derivation below.

Residual-consistency estimator (ours; derived in the large-system limit)
------------------------------------------------------------------------
Model: y = A x + w, w ~ N(0, s_w^2 I_M), ||A||_F^2 = F.  The denoiser input is r = x + e with e
(asymptotically) Gaussian of per-entry variance sigma^2 and independent of x -- the defining
property of AMP/VAMP messages.  Let x_hat = D(r), alpha = div D(r) / N (the unknown).

(1) Stein's lemma:   <e, x_hat - x> / N  ->  alpha sigma^2.
(2) SURE:            ||x_hat - x||^2 / N ->  S - sigma^2 + 2 alpha sigma^2,   S = ||x_hat - r||^2/N.
(3) Exact algebra:  with the two residuals a = y - A x_hat and b = y - A r (operator products
    only, no denoiser call), and the "divergence-free" output error q = (x_hat - x) - alpha e,
        a - alpha b = (1 - alpha) w - A q.
(4) Large-system decoupling: q is the error of the extrinsic (Onsager-corrected) message; in
    VAMP's state evolution V^T q is asymptotically isotropic and independent of (w, s)
    (Rangan, Schniter & Fletcher 2019, Thm 1), hence
        ||a - alpha b||^2  ->  (1 - alpha)^2 M s_w^2  +  (F/N) ||q||^2,
    and by (1)-(2)  ||q||^2/N = S - sigma^2 + 2 alpha sigma^2 - 2 alpha^2 sigma^2 + alpha^2 sigma^2
                              = S - sigma^2 (1 - alpha)^2.
Equating gives a quadratic in alpha whose coefficients are all computable from the messages:
    alpha^2 (|b|^2 - K) + 2 alpha (K - <a,b>) + (|a|^2 - K - F S) = 0,   K = M s_w^2 - F sigma^2.
One root is the divergence; the other is spurious (for isotropic b it sits at alpha ~ 1, the
degenerate point where the extrinsic message is undefined), so we take the smallest root in
(0, 1), else the other root if it is in (0, 1), else the vertex -qb/(2 qa) (negative
discriminant from finite-N noise), clipped to [0, 1].
Cost: 0 denoiser calls, 2 operator products (A r and A x_hat; solvers that already hold
A x_hat pass it in ``ctx`` and pay 1).  The estimate is consistent as N -> infinity for any
Lipschitz denoiser, separable or not, but it is only as good as s_w^2 and sigma^2 are known,
and its finite-N error is O(1/sqrt(N)) relative to the residual norms, i.e. larger when the
messages carry little error (late iterations, high SNR).  Benchmarks report accuracy and cost.

sigma^2 must be the *true* error variance of r, not a belief.  AMP's sigma^2 = ||z||^2/M is
measured.  VAMP's 1/g1 is built from earlier divergence estimates, and with it the estimator's
errors compound, so ``solvers.cs.vamp.vamp`` passes ``ctx.input_var`` instead.  It measures
the error variance of the previous extrinsic message r2 by the same decoupling,
tau2 = (||y - A r2||^2 - M s_w^2)/||A||_F^2 (one more operator product), and pushes it through
the exact LMMSE stage's state-evolution map, tau1 = (E2 - alpha2^2 tau2)/(1 - alpha2)^2,
using the known singular values.
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


def residual_consistency_alpha(a, b, s, sigma2, noise_var, m, fro):
    """Normalised divergence alpha from the quadratic in the module docstring."""
    # Branch-free (np.where) so that traced arrays flow through it.
    k = m * noise_var - fro * sigma2
    qa = np.sum(b * b) - k
    qb = 2.0 * (k - np.sum(a * b))
    qc = np.sum(a * a) - k - fro * s
    disc = qb * qb - 4 * qa * qc
    sq = np.sqrt(np.maximum(disc, 0.0))
    r1 = (-qb - sq) / (2 * qa)
    r2 = (-qb + sq) / (2 * qa)
    lo, hi = np.minimum(r1, r2), np.maximum(r1, r2)
    pick = np.where((lo > 0) & (lo < 1), lo, np.where((hi > 0) & (hi < 1), hi, -qb / (2 * qa)))
    return np.clip(pick, 0.0, 1.0)


@dataclass(frozen=True)
class ResidualConsistencyDivergence(DivergenceEstimator):
    """No-extra-denoiser-call estimate (module docstring, steps (1)-(4))."""

    name = "residual-consistency"
    uses_input_var = True

    def estimate(self, denoiser, r, sigma, x_hat, rng=None, ctx=None):
        if ctx is None:
            raise ValueError("residual-consistency divergence needs a MessageContext")
        m, n = ctx.op.shape
        products = 1
        a_xhat = ctx.a_xhat
        if a_xhat is None:
            a_xhat = ctx.op.matvec(x_hat)
            products += 1
        a = ctx.y - a_xhat
        b = ctx.y - ctx.op.matvec(r)
        s = np.sum((x_hat - r) ** 2) / n
        var = sigma**2 if ctx.input_var is None else ctx.input_var
        alpha = residual_consistency_alpha(a, b, s, var, ctx.noise_var, m,
                                           ctx.op.frobenius_sq)
        return DivergenceEstimate(alpha * n, denoiser_calls=0, operator_products=products)


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
