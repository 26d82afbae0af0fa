"""State evolution (SE) of AMP and VAMP for a Bernoulli-Gauss prior and separable denoisers.

Scalar channel: r = x + sqrt(tau) z, x ~ (1-rho) delta_0 + rho N(0, sx2), z ~ N(0, 1).  For a
denoiser told the noise level sigma (its *belief*, which may differ from the true tau):
    mse(tau, sigma)   = E (D(r; sigma) - x)^2
    alpha(tau, sigma) = E D'(r; sigma) = E[(r - x) D(r; sigma)] / tau      (Stein)
Both by a 1-D quadrature over r (Stein's form avoids differentiating soft thresholding).

AMP  (Bayati & Montanari 2011): tau_{t+1} = s_w^2 + (N/M) mse(tau_t, sqrt(tau_t)),
     tau_0 = s_w^2 + (N/M) E x^2; the NMSE of x_{t+1} is mse(tau_t)/E x^2.
VAMP (Rangan, Schniter & Fletcher 2019, matched or mismatched): with true error variances
tau1, tau2 and the algorithm's precisions g1, g2, over the singular values s of A (||A||_F^2=N):
  LMMSE: alpha2 = (1/N)[N - M + sum g2/(g_w s^2 + g2)]
         E2     = (1/N)[(N - M) tau2 + sum (g_w^2 s^2 s_w^2 + g2^2 tau2)/(g_w s^2 + g2)^2]
         tau1 = (E2 - alpha2^2 tau2)/(1 - alpha2)^2,   g1 = g2 (1 - alpha2)/alpha2
  denoiser: E1 = mse(tau1, 1/sqrt(g1)), alpha1 = alpha(tau1, 1/sqrt(g1))
         tau2 = (E1 - alpha1^2 tau1)/(1 - alpha1)^2,   g2 = g1 (1 - alpha1)/alpha1
starting from tau2 = 1/g2 = E x^2 (r2 = 0), as ``solvers.cs.vamp.vamp`` does.
"""
from __future__ import annotations

import numpy as np

from .denoisers import Denoiser

_trapezoid = getattr(np, "trapezoid", None) or np.trapz  # numpy >= 2.0 renamed trapz


def _normal_pdf(r, var):
    return np.exp(-0.5 * r * r / var) / np.sqrt(2 * np.pi * var)


def scalar_channel(denoiser: Denoiser, rho: float, sx2: float, tau: float, sigma: float):
    """(mse, alpha) of ``denoiser`` on the Bernoulli-Gauss scalar channel at true variance tau.

    x is integrated out analytically given r: for the slab, x | r ~ N(g r, g tau) with
    g = sx2/(sx2 + tau), so E[(D - x)^2 | r] = (D - g r)^2 + g tau and E[r - x | r] = (1 - g) r.
    The remaining 1-D integral over r uses the trapezoid rule on a grid that resolves both
    scales, sqrt(tau) (where a sparsity denoiser switches) and sqrt(sx2 + tau).
    """
    st, sl = np.sqrt(tau), np.sqrt(sx2 + tau)
    grid = np.concatenate([np.linspace(-14 * st, 14 * st, 4001), np.linspace(-12 * sl, 12 * sl, 4001)])
    r = np.unique(grid)
    d = denoiser(r, sigma)
    g = sx2 / (sx2 + tau)
    p0 = (1 - rho) * _normal_pdf(r, tau)
    p1 = rho * _normal_pdf(r, sx2 + tau)
    mse = _trapezoid(p0 * d * d + p1 * ((d - g * r) ** 2 + g * tau), r)
    stein = _trapezoid(p0 * r * d + p1 * (1 - g) * r * d, r)
    return float(mse), float(stein / tau)


def amp_se(denoiser: Denoiser, rho: float, sx2: float, delta: float, noise_var: float, iters: int):
    """Predicted NMSE (dB) of x_1..x_iters for AMP with an iid A of ratio delta = M/N."""
    ex2 = rho * sx2
    tau = noise_var + ex2 / delta
    out = []
    for _ in range(iters):
        mse, _ = scalar_channel(denoiser, rho, sx2, tau, np.sqrt(tau))
        out.append(10 * np.log10(mse / ex2))
        tau = noise_var + mse / delta
    return np.array(out)


def vamp_se(denoiser: Denoiser, rho: float, sx2: float, s: np.ndarray, n: int,
            noise_var: float, iters: int) -> np.ndarray:
    """Predicted NMSE (dB) of the denoiser output x1 per VAMP iteration (undamped)."""
    ex2 = rho * sx2
    m = len(s)
    s2 = np.asarray(s) ** 2
    gw = 1.0 / noise_var
    tau2 = ex2
    g2 = 1.0 / ex2
    out = []
    for _ in range(iters):
        den = gw * s2 + g2
        alpha2 = (n - m + np.sum(g2 / den)) / n
        e2 = ((n - m) * tau2 + np.sum((gw**2 * s2 * noise_var + g2**2 * tau2) / den**2)) / n
        tau1 = (e2 - alpha2**2 * tau2) / (1 - alpha2) ** 2
        g1 = g2 * (1 - alpha2) / alpha2
        e1, alpha1 = scalar_channel(denoiser, rho, sx2, tau1, 1.0 / np.sqrt(g1))
        out.append(10 * np.log10(e1 / ex2))
        alpha1 = min(max(alpha1, 1e-6), 1 - 1e-6)
        tau2 = (e1 - alpha1**2 * tau1) / (1 - alpha1) ** 2
        g2 = g1 * (1 - alpha1) / alpha1
    return np.array(out)
