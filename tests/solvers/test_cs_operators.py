"""Operators: adjoints, normalisation, spectra, fast DCT against scipy."""
import numpy as np
import pytest
import scipy.fft

from solvers.cs.operators import (
    ConditionedDCT,
    SubsampledDCT,
    dct_ortho,
    gaussian_operator,
    idct_ortho,
    orthogonally_invariant_operator,
)


@pytest.mark.parametrize("n", [8, 9, 64, 101])
def test_numpy_dct_matches_scipy(n):
    x = np.random.default_rng(n).standard_normal(n)
    assert np.allclose(dct_ortho(x), scipy.fft.dct(x, norm="ortho"), atol=1e-12)
    assert np.allclose(idct_ortho(x), scipy.fft.idct(x, norm="ortho"), atol=1e-12)


def _operators(rng):
    return [
        gaussian_operator(40, 100, rng),
        orthogonally_invariant_operator(40, 100, 100.0, rng),
        SubsampledDCT.random(40, 100, rng),
        ConditionedDCT.random(40, 100, 100.0, rng),
    ]


def test_adjoint_frobenius_and_spectrum():
    rng = np.random.default_rng(0)
    for op in _operators(rng):
        a = op.to_dense()
        z = rng.standard_normal(40)
        assert np.allclose(op.rmatvec(z), a.T @ z, atol=1e-12)
        s = np.linalg.svd(a, compute_uv=False)
        assert np.allclose(np.sort(op.singular_values)[::-1], s, atol=1e-10)
        assert np.isclose(op.frobenius_sq, np.sum(a**2))
        f = op.svd_factors()
        x = rng.standard_normal(100)
        assert np.allclose(f.u(f.s * f.vt(x)), op.matvec(x), atol=1e-12)
    # Gaussian: ||A||_F^2 ~ N; the structured ones are exactly N with the prescribed kappa.
    for op in _operators(rng)[1:]:
        assert np.isclose(op.frobenius_sq, 100.0)
    for op in (_operators(rng)[1], _operators(rng)[3]):
        s = op.singular_values
        assert np.isclose(s.max() / s.min(), 100.0)
