"""Test problems: Bernoulli-Gauss signals, noisy measurements, images, and error metrics."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .operators import LinearOperator


@dataclass
class Problem:
    """y = A x + w with known ground truth; ``noise_var`` is the per-entry variance of w."""

    op: LinearOperator
    x: np.ndarray
    y: np.ndarray
    noise_var: float


def bernoulli_gauss(n: int, rho: float, rng: np.random.Generator, sx2: float = 1.0) -> np.ndarray:
    """x_i = b_i g_i, b_i ~ Bernoulli(rho), g_i ~ N(0, sx2)."""
    return (rng.random(n) < rho) * rng.standard_normal(n) * np.sqrt(sx2)


def noise_var_for_snr(op: LinearOperator, mean_sq_x: float, snr_db: float) -> float:
    """s_w^2 with E||A x||^2 / (M s_w^2) = 10^(snr/10), using E||Ax||^2 = ||A||_F^2 E[x_i^2]."""
    m, _ = op.shape
    return op.frobenius_sq * mean_sq_x / m / 10 ** (snr_db / 10)


def measure(op: LinearOperator, x: np.ndarray, noise_var: float, rng: np.random.Generator) -> Problem:
    y = op.matvec(x) + np.sqrt(noise_var) * rng.standard_normal(op.shape[0])
    return Problem(op=op, x=x, y=y, noise_var=noise_var)


def nmse_db(x_hat: np.ndarray, x: np.ndarray) -> float:
    return float(10 * np.log10(np.sum((x_hat - x) ** 2) / np.sum(x**2)))


def psnr_db(x_hat: np.ndarray, x: np.ndarray, peak: float = 1.0) -> float:
    return float(10 * np.log10(peak**2 / np.mean((x_hat - x) ** 2)))


def phantom(side: int = 128) -> np.ndarray:
    """A Shepp-Logan-like phantom in [0, 1]: ellipses of different intensities, generated in code."""
    yy, xx = np.mgrid[-1 : 1 : side * 1j, -1 : 1 : side * 1j]
    img = np.zeros((side, side))
    # (intensity, x0, y0, a, b, angle in degrees) -- the modified Shepp-Logan table.
    ellipses = [
        (1.0, 0, 0, 0.69, 0.92, 0), (-0.8, 0, -0.0184, 0.6624, 0.874, 0),
        (-0.2, 0.22, 0, 0.11, 0.31, -18), (-0.2, -0.22, 0, 0.16, 0.41, 18),
        (0.1, 0, 0.35, 0.21, 0.25, 0), (0.1, 0, 0.1, 0.046, 0.046, 0),
        (0.1, 0, -0.1, 0.046, 0.046, 0), (0.1, -0.08, -0.605, 0.046, 0.023, 0),
        (0.1, 0, -0.605, 0.023, 0.023, 0), (0.1, 0.06, -0.605, 0.023, 0.046, 0),
    ]
    for val, x0, y0, a, b, ang in ellipses:
        t = np.deg2rad(ang)
        xr = (xx - x0) * np.cos(t) + (yy - y0) * np.sin(t)
        yr = -(xx - x0) * np.sin(t) + (yy - y0) * np.cos(t)
        img = img + val * ((xr / a) ** 2 + (yr / b) ** 2 <= 1)
    img = img[::-1]
    return (img - img.min()) / (img.max() - img.min())


def test_image(side: int = 128) -> tuple[np.ndarray, str]:
    """scikit-image's 'camera' resized to side x side in [0, 1] if available, else the phantom."""
    try:
        from skimage import data, transform

        img = transform.resize(data.camera().astype(float) / 255.0, (side, side), anti_aliasing=True)
        return img, "skimage camera"
    except ImportError:
        return phantom(side), "generated phantom"
