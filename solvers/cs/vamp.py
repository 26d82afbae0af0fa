"""VAMP (Rangan, Schniter & Fletcher 2019) with a pluggable LMMSE stage.

One iteration (precisions gamma, normalised divergences alpha in (0, 1)):

  LMMSE stage   x2 = (g_w A^T A + g2 I)^{-1} (g_w A^T y + g2 r2)
                alpha2 = (g2/N) tr (g_w A^T A + g2 I)^{-1}
                g1 = g2 (1 - alpha2)/alpha2,   r1 = (x2 - alpha2 r2) / (1 - alpha2)
  [EM]          1/g_w = (1/M) [ ||y - A x2||^2 + sum_i s_i^2 / (g_w s_i^2 + g2) ]
  denoiser      x1 = D(r1; 1/sqrt(g1)),  alpha1 = div D / N  (any DivergenceEstimator)
                g2 = g1 (1 - alpha1)/alpha1,   r2 = (x1 - alpha1 r1) / (1 - alpha1)
  damping       r2 <- rho r2 + (1-rho) r2_old;  1/sqrt(g2) damped the same way.

The iteration starts at the LMMSE stage from r2 = 0, 1/g2 = (||y||^2 - M s_w^2)/||A||_F^2
(the error of r2 = 0 is -x, which a Haar V makes isotropic, so state evolution holds from the
first iteration).  ``SvdLmmse`` is the exact stage through the operator's SVD products;
``solvers.cs.cgvamp.CgLmmse`` replaces it by k conjugate-gradient steps.
The loop uses np.* functions only.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .denoisers import Denoiser
from .divergence import DivergenceEstimator, ExactDivergence, MessageContext
from .history import History, Result
from .operators import LinearOperator

ALPHA_MIN, ALPHA_MAX = 1e-6, 1 - 1e-6


@dataclass
class LmmseOutput:
    x2: np.ndarray
    alpha2: object
    em_trace: object  # sum_i s_i^2/(g_w s_i^2 + g2) for the EM noise update; None if unknown
    residual_sq: object  # ||y - A x2||^2
    cg_iters: int = 0
    operator_products: int = 0


class SvdLmmse:
    """Exact LMMSE stage through A = U diag(s) V^T (needs ``op.svd_factors()``)."""

    name = "svd"

    def reset(self) -> None:
        pass

    def __call__(self, y, op: LinearOperator, r2, gamma2, gamma_w) -> LmmseOutput:
        f = op.svd_factors()
        if f is None:
            raise ValueError(f"{type(op).__name__} has no SVD factors; use CG-VAMP")
        n = op.shape[1]
        s2 = f.s**2
        c = f.vt(r2)
        yt = f.ut(y)
        denom = gamma_w * s2 + gamma2
        d = c + gamma_w * f.s * (yt - f.s * c) / denom
        x2 = r2 + f.v(d - c)
        alpha2 = (n - len(s2) + np.sum(gamma2 / denom)) / n
        resid = np.sum((yt - f.s * d) ** 2)
        return LmmseOutput(x2=x2, alpha2=alpha2, em_trace=np.sum(s2 / denom),
                           residual_sq=resid, operator_products=4)


def vamp(
    y: np.ndarray,
    op: LinearOperator,
    denoiser: Denoiser,
    iters: int = 20,
    *,
    noise_var: float,
    lmmse=None,
    divergence: DivergenceEstimator | None = None,
    learn_noise: bool = False,
    damping: float = 1.0,
    rng: np.random.Generator | None = None,
    x_true: np.ndarray | None = None,
    keep_x: bool = False,
    peak: float | None = None,
) -> Result:
    """Run VAMP.  ``noise_var`` is the true noise variance, or the initial guess if
    ``learn_noise`` (EM).  ``damping`` = 1 means undamped."""
    lmmse = lmmse or SvdLmmse()
    lmmse.reset()
    divergence = divergence or ExactDivergence()
    m, n = op.shape
    hist = History()
    gamma_w = 1.0 / noise_var
    r2 = np.zeros(n)
    gamma2 = op.frobenius_sq / np.maximum(np.sum(y * y) - m * noise_var, 1e-3 * np.sum(y * y))
    x1 = r2
    measure_var = getattr(divergence, "uses_input_var", False) and op.singular_values is not None
    s2 = op.singular_values**2 if measure_var else None
    for _ in range(iters):
        if measure_var:
            # Measured (not believed) error variance of r2: r2 - x is isotropic w.r.t. A, so
            # ||y - A r2||^2 ~ M s_w^2 + ||A||_F^2 tau2 (solvers/cs/README.md, variance matching).
            res2 = y - op.matvec(r2)
            hist.operator_products += 1
            tau2 = np.maximum((np.sum(res2 * res2) - m / gamma_w) / op.frobenius_sq, 1e-12 / gamma2)
        # LMMSE stage
        out = lmmse(y, op, r2, gamma2, gamma_w)
        alpha2 = np.clip(out.alpha2, ALPHA_MIN, ALPHA_MAX)
        gamma1 = gamma2 * (1 - alpha2) / alpha2
        r1 = (out.x2 - alpha2 * r2) / (1 - alpha2)
        hist.cg_iters.append(out.cg_iters)
        hist.operator_products += out.operator_products
        if learn_noise and out.em_trace is not None:
            gamma_w = m / (out.residual_sq + out.em_trace)
        # denoising stage
        sigma1 = 1.0 / np.sqrt(gamma1)
        x1 = denoiser(r1, sigma1)
        input_var = None
        if measure_var:
            # propagate tau2 through the exact LMMSE stage (state-evolution map, known spectrum)
            den = gamma_w * s2 + gamma2
            e2 = ((n - m) * tau2 + np.sum((gamma_w * s2 + gamma2**2 * tau2) / den**2)) / n
            input_var = (e2 - alpha2**2 * tau2) / (1 - alpha2) ** 2
        ctx = MessageContext(y=y, op=op, noise_var=1.0 / gamma_w, input_var=input_var)
        est = divergence.estimate(denoiser, r1, sigma1, x1, rng, ctx)
        hist.denoiser_calls += 1 + est.denoiser_calls
        hist.operator_products += est.operator_products
        alpha1 = np.clip(est.value / n, ALPHA_MIN, ALPHA_MAX)
        gamma2_new = gamma1 * (1 - alpha1) / alpha1
        r2_new = (x1 - alpha1 * r1) / (1 - alpha1)
        if damping < 1.0 and hist.sigma:
            r2 = damping * r2_new + (1 - damping) * r2
            sd = damping / np.sqrt(gamma2_new) + (1 - damping) / np.sqrt(gamma2)
            gamma2 = 1.0 / sd**2
        else:
            r2, gamma2 = r2_new, gamma2_new
        hist.sigma.append(sigma1)
        hist.alpha.append(alpha1)
        hist.noise_var.append(1.0 / gamma_w)
        hist.record(x1, x_true, keep_x, peak)
    return Result(x_hat=x1, history=hist)
