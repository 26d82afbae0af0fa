"""Denoisers D(r; sigma) for r = x + N(0, sigma^2 I), behind one interface.

``Denoiser.__call__(r, sigma)`` returns the estimate; ``divergence(r, sigma)`` returns
sum_i dD_i/dr_i where a closed form exists (``has_exact_divergence``), else raises
``NoClosedFormDivergence`` (estimate it with ``solvers.cs.divergence``).
MMSE denoisers also give ``posterior_variance`` (Tweedie: div = sum var_i / sigma^2).

Kernels use ``np.*`` functions only (no in-place writes) so they can run on traced arrays.
The scikit-image denoisers are an optional extra (``skimage_available()``).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np


class NoClosedFormDivergence(Exception):
    """The denoiser has no closed-form divergence; use a Monte Carlo or message-based estimate."""


class Denoiser:
    """D(r; sigma): ``__call__`` and, where it has one, the closed-form ``divergence``."""

    has_exact_divergence: bool = False
    name: str = "denoiser"

    def __call__(self, r: np.ndarray, sigma: float) -> np.ndarray:  # pragma: no cover
        raise NotImplementedError

    def divergence(self, r: np.ndarray, sigma: float) -> float:
        raise NoClosedFormDivergence(f"{self.name} has no closed-form divergence")


def soft_threshold(r: np.ndarray, lam) -> np.ndarray:
    return np.sign(r) * np.maximum(np.abs(r) - lam, 0.0)


@dataclass(frozen=True)
class SoftThreshold(Denoiser):
    """eta(r) = sign(r) max(|r| - tau*sigma, 0); div = #{|r_i| > tau*sigma}."""

    tau: float = 1.5
    has_exact_divergence = True
    name = "soft-threshold"

    def __call__(self, r, sigma):
        return soft_threshold(r, self.tau * sigma)

    def divergence(self, r, sigma):
        return np.sum(np.abs(r) > self.tau * sigma)


@dataclass(frozen=True)
class BernoulliGaussMMSE(Denoiser):
    """Posterior mean for the prior x ~ (1-rho) delta_0 + rho N(0, sx2).

    With g = sx2/(sx2+s2), m = g r, v = g s2 and pi(r) = P(x != 0 | r):
        E[x|r] = pi m,   Var[x|r] = pi (v + m^2) - (pi m)^2,
        d E[x|r] / dr = Var[x|r] / s2       (Tweedie), so div = sum Var / s2.
    """

    rho: float
    sx2: float = 1.0
    has_exact_divergence = True
    name = "bernoulli-gauss-mmse"

    def _posterior(self, r, sigma):
        s2 = sigma**2
        tot = self.sx2 + s2
        logit = (
            np.log(self.rho / (1 - self.rho))
            + 0.5 * np.log(s2 / tot)
            + 0.5 * r**2 * (1.0 / s2 - 1.0 / tot)
        )
        pi = 1.0 / (1.0 + np.exp(-np.clip(logit, -500.0, 500.0)))
        g = self.sx2 / tot
        m = g * r
        mean = pi * m
        var = pi * (g * s2 + m**2) - mean**2
        return mean, var

    def __call__(self, r, sigma):
        return self._posterior(r, sigma)[0]

    def posterior_variance(self, r, sigma):
        return self._posterior(r, sigma)[1]

    def divergence(self, r, sigma):
        return np.sum(self._posterior(r, sigma)[1]) / sigma**2


# ----------------------------------------------------------------------- wavelet image denoiser
def haar2(img: np.ndarray, levels: int) -> list[np.ndarray]:
    """Orthonormal 2-D Haar transform: [approx, (h, v, d) per level, coarsest last]."""
    out = []
    a = img
    for _ in range(levels):
        p00, p01 = a[0::2, 0::2], a[0::2, 1::2]
        p10, p11 = a[1::2, 0::2], a[1::2, 1::2]
        out.append(((p00 - p01 + p10 - p11) / 2, (p00 + p01 - p10 - p11) / 2, (p00 - p01 - p10 + p11) / 2))
        a = (p00 + p01 + p10 + p11) / 2
    return [a] + out[::-1]


def ihaar2(coeffs: list) -> np.ndarray:
    a = coeffs[0]
    for h, v, d in coeffs[1:]:
        p00 = (a + h + v + d) / 2
        p01 = (a - h + v - d) / 2
        p10 = (a + h - v - d) / 2
        p11 = (a - h - v + d) / 2
        top = np.stack([p00, p01], axis=-1).reshape(p00.shape[0], -1)
        bot = np.stack([p10, p11], axis=-1).reshape(p10.shape[0], -1)
        a = np.stack([top, bot], axis=1).reshape(-1, top.shape[1])
    return a


@dataclass(frozen=True)
class HaarWaveletThreshold(Denoiser):
    """Image denoiser: soft-threshold the orthonormal 2-D Haar detail coefficients at tau*sigma,
    averaged over ``shifts`` cyclic shifts (cycle spinning, which removes blocking).

    D(r) = (1/S) sum_s P_s^T W^T eta(W P_s r) with W orthonormal, so its Jacobian is
    (1/S) sum_s P_s^T W^T diag(eta') W P_s and the divergence is exact:
    (1/S) sum_s [#approx coefficients + #{detail coefficients with |c| > tau sigma}].
    Works on flattened square images of side ``side`` (a multiple of 2**levels).
    """

    side: int
    tau: float = 2.0
    levels: int = 4
    shifts: int = 4
    has_exact_divergence = True
    name = "haar-wavelet"

    def _shift_list(self):
        base = [(0, 0), (1, 1), (0, 1), (1, 0), (2, 2), (3, 3), (2, 3), (3, 2)]
        return base[: max(1, min(self.shifts, len(base)))]

    def _one(self, img, lam, shift):
        x = np.roll(img, shift, axis=(0, 1))
        c = haar2(x, self.levels)
        c_t = [c[0]] + [tuple(soft_threshold(b, lam) for b in band) for band in c[1:]]
        count = c[0].size + sum(np.sum(np.abs(b) > lam) for band in c[1:] for b in band)
        return np.roll(ihaar2(c_t), (-shift[0], -shift[1]), axis=(0, 1)), count

    def __call__(self, r, sigma):
        img = r.reshape(self.side, self.side)
        outs = [self._one(img, self.tau * sigma, s)[0] for s in self._shift_list()]
        return (sum(outs[1:], outs[0]) / len(outs)).reshape(-1)

    def divergence(self, r, sigma):
        img = r.reshape(self.side, self.side)
        counts = [self._one(img, self.tau * sigma, s)[1] for s in self._shift_list()]
        return sum(counts[1:], counts[0]) / len(counts)


# ------------------------------------------------------------------ optional: scikit-image
def skimage_available() -> bool:
    try:
        import skimage.restoration  # noqa: F401
    except ImportError:
        return False
    return True


@dataclass(frozen=True)
class SkimageTV(Denoiser):
    """Chambolle total-variation denoiser from scikit-image (optional extra); weight = c*sigma.
    Not plain numpy and no closed-form divergence: use BB-MC or the message-based estimate."""

    side: int
    weight_per_sigma: float = 1.0
    name = "skimage-tv"

    def __call__(self, r, sigma):
        from skimage.restoration import denoise_tv_chambolle

        img = np.asarray(r).reshape(self.side, self.side)
        return denoise_tv_chambolle(img, weight=self.weight_per_sigma * sigma).reshape(-1)


@dataclass(frozen=True)
class SkimageNLMeans(Denoiser):
    """Non-local means from scikit-image (optional extra); h = c*sigma, known sigma passed in."""

    side: int
    h_per_sigma: float = 0.8
    name = "skimage-nlm"

    def __call__(self, r, sigma):
        from skimage.restoration import denoise_nl_means

        img = np.asarray(r).reshape(self.side, self.side)
        out = denoise_nl_means(img, h=self.h_per_sigma * sigma, sigma=sigma, patch_size=5,
                               patch_distance=6, fast_mode=True)
        return out.reshape(-1)
