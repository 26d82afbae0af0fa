"""D-AMP (Donoho-Maleki-Montanari AMP with a plug-in denoiser, Metzler et al. 2016).

    z_0 = y, x_0 = 0
    sigma_t = ||z_t|| / sqrt(M);  r_t = x_t + A^T z_t;  x_{t+1} = D(r_t; sigma_t)
    z_{t+1} = y - A x_{t+1} + z_t * div D(r_t) / M            (Onsager correction)

The divergence comes from any ``DivergenceEstimator``.  The loop uses np.* only.
"""
from __future__ import annotations

import numpy as np

from .denoisers import Denoiser
from .divergence import DivergenceEstimator, ExactDivergence, MessageContext
from .history import History, Result
from .operators import LinearOperator


def amp(
    y: np.ndarray,
    op: LinearOperator,
    denoiser: Denoiser,
    iters: int = 30,
    *,
    divergence: DivergenceEstimator | None = None,
    noise_var: float | None = None,
    rng: np.random.Generator | None = None,
    x_true: np.ndarray | None = None,
    keep_x: bool = False,
    peak: float | None = None,
) -> Result:
    """Run ``iters`` AMP iterations; ``noise_var`` is only needed by message-based estimators."""
    divergence = divergence or ExactDivergence()
    m, n = op.shape
    hist = History()
    x = np.zeros(n)
    z = y
    for _ in range(iters):
        sigma = np.sqrt(np.sum(z * z) / m)
        r = x + op.rmatvec(z)
        x_new = denoiser(r, sigma)
        a_xnew = op.matvec(x_new)
        ctx = MessageContext(y=y, op=op, noise_var=noise_var or 0.0, a_xhat=a_xnew)
        est = divergence.estimate(denoiser, r, sigma, x_new, rng, ctx)
        z = y - a_xnew + z * (est.value / m)
        x = x_new
        hist.sigma.append(sigma)
        hist.alpha.append(est.value / n)
        hist.denoiser_calls += 1 + est.denoiser_calls
        hist.operator_products += 2 + est.operator_products
        hist.record(x, x_true, keep_x, peak)
    return Result(x_hat=x, history=hist)
