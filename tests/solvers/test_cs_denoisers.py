"""Denoisers: closed-form divergences equal the Jacobian trace; MMSE beats soft thresholding."""
import numpy as np
import pytest

from solvers.cs.denoisers import (
    BernoulliGaussMMSE,
    HaarWaveletThreshold,
    NoClosedFormDivergence,
    SkimageTV,
    SoftThreshold,
    haar2,
    ihaar2,
    skimage_available,
)
from solvers.cs.problems import bernoulli_gauss


def _fd_trace(den, r, sigma, h=1e-6):
    eye = np.eye(r.size)
    d0 = den(r, sigma)
    return sum((den(r + h * eye[i], sigma)[i] - d0[i]) / h for i in range(r.size))


@pytest.mark.parametrize(
    "den", [SoftThreshold(1.2), BernoulliGaussMMSE(0.1), HaarWaveletThreshold(16, tau=1.0, levels=3)]
)
def test_exact_divergence_is_jacobian_trace(den):
    rng = np.random.default_rng(1)
    r = bernoulli_gauss(256, 0.2, rng) + 0.4 * rng.standard_normal(256)
    assert den.has_exact_divergence
    assert den.divergence(r, 0.4) == pytest.approx(_fd_trace(den, r, 0.4), rel=1e-4, abs=1e-3)


def test_haar_is_orthonormal_and_invertible():
    img = np.random.default_rng(2).standard_normal((32, 32))
    c = haar2(img, 3)
    energy = np.sum(c[0] ** 2) + sum(np.sum(b**2) for band in c[1:] for b in band)
    assert energy == pytest.approx(np.sum(img**2))
    assert np.allclose(ihaar2(c), img)


def test_bg_mmse_beats_soft_threshold_and_variance_is_tweedie():
    rng = np.random.default_rng(3)
    x = bernoulli_gauss(20000, 0.1, rng)
    sigma = 0.3
    r = x + sigma * rng.standard_normal(x.size)
    bg = BernoulliGaussMMSE(0.1)
    mse_bg = np.mean((bg(r, sigma) - x) ** 2)
    best_soft = min(np.mean((SoftThreshold(t)(r, sigma) - x) ** 2) for t in np.linspace(0.5, 3, 26))
    assert mse_bg < best_soft
    # For the MMSE estimator E[Var[x|r]] = mse (law of total variance).
    assert np.mean(bg.posterior_variance(r, sigma)) == pytest.approx(mse_bg, rel=0.05)


def test_skimage_tv_optional():
    if not skimage_available():
        pytest.skip("scikit-image not installed")
    rng = np.random.default_rng(4)
    img = np.zeros((32, 32))
    img[8:24, 8:24] = 1.0
    noisy = img.ravel() + 0.2 * rng.standard_normal(1024)
    den = SkimageTV(32, weight_per_sigma=0.5)
    assert np.mean((den(noisy, 0.2) - img.ravel()) ** 2) < 0.5 * np.mean((noisy - img.ravel()) ** 2)
    with pytest.raises(NoClosedFormDivergence):
        den.divergence(noisy, 0.2)
