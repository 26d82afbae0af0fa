"""CG-VAMP: k = M matches exact VAMP within 0.1 dB; the k-step CG divergence equals the
Jacobian trace of the CG map; warm starts need fewer CG iterations for the same NMSE."""
import numpy as np
import pytest

from solvers.cs import (
    BernoulliGaussMMSE,
    CgLmmse,
    bernoulli_gauss,
    cg_vamp,
    measure,
    noise_var_for_snr,
    orthogonally_invariant_operator,
    run_cg_vamp,
    vamp,
)
from solvers.cs.operators import ConditionedDCT

RHO = 0.1


def _problem(op, rng, snr=40.0):
    x = bernoulli_gauss(op.shape[1], RHO, rng)
    return measure(op, x, noise_var_for_snr(op, RHO, snr), rng)


def test_cg_vamp_with_k_equal_m_matches_exact_vamp():
    rng = np.random.default_rng(21)
    n, m = 512, 256
    p = _problem(orthogonally_invariant_operator(m, n, 100.0, rng), rng)
    den = BernoulliGaussMMSE(RHO)
    exact = np.array(vamp(p.y, p.op, den, 12, noise_var=p.noise_var, x_true=p.x).history.nmse_db)
    cg = np.array(cg_vamp(p.y, p.op, den, 12, noise_var=p.noise_var, k=m, warm_start=False,
                          x_true=p.x).history.nmse_db)
    assert np.max(np.abs(cg - exact)) <= 0.1


@pytest.mark.parametrize("k", [1, 3, 8])
@pytest.mark.parametrize("warm", [False, True])
def test_cg_divergence_equals_jacobian_trace_of_cg_map(k, warm):
    # Finite-difference trace of the full nonlinear k-step CG map (coefficients recomputed per
    # perturbation) vs our frozen-coefficient spectral formula: the neglected terms are O(k/N).
    rng = np.random.default_rng(22)
    n, m = 600, 300
    op = orthogonally_invariant_operator(m, n, 30.0, rng)
    x = bernoulli_gauss(n, RHO, rng)
    y = op.matvec(x) + 0.01 * rng.standard_normal(m)
    r2 = x + 0.3 * rng.standard_normal(n)
    mu0 = None
    if warm:  # as in CG-VAMP: the previous iteration's CG solution, at a noisier r2
        prev = CgLmmse(k_max=5, warm_start=False)
        prev(y, op, x + 0.4 * rng.standard_normal(n), 1 / 0.16, 1e4)
        mu0 = prev._mu
    stage = CgLmmse(k_max=k, warm_start=warm)
    stage._mu = mu0
    base = stage(y, op, r2, 1 / 0.09, 1e4)
    h, trace = 1e-6, 0.0
    for i in range(n):
        stage._mu = mu0
        e = np.zeros(n)
        e[i] = h
        trace += (stage(y, op, r2 + e, 1 / 0.09, 1e4).x2[i] - base.x2[i]) / h
    assert base.alpha2 == pytest.approx(trace / n, rel=0.02)


def test_warm_start_reaches_cold_nmse_with_fewer_cg_iterations():
    rng = np.random.default_rng(23)
    n, m = 4096, 2048
    p = _problem(ConditionedDCT.random(m, n, 100.0, rng), rng)
    den = BernoulliGaussMMSE(RHO)
    kw = dict(noise_var=p.noise_var, k=300, tol=1e-3, x_true=p.x)
    cold = cg_vamp(p.y, p.op, den, 15, warm_start=False, **kw).history
    warm = cg_vamp(p.y, p.op, den, 15, warm_start=True, **kw).history
    target = cold.nmse_db[-1]
    reached = [i for i, v in enumerate(warm.nmse_db) if v <= target + 0.05]
    assert reached, "warm start never reached the cold NMSE"
    warm_cost = sum(warm.cg_iters[: reached[0] + 1])
    assert warm_cost < sum(cold.cg_iters)


def test_run_cg_vamp_entry_point():
    res = run_cg_vamp(N=2048, ratio=0.2, k=20, iters=10, seed=0)
    h = res.history
    assert len(h.nmse_db) == 10 and len(h.cg_iters) == 10 and len(h.sigma) == 10
    assert max(h.cg_iters) <= 20
    assert h.nmse_db[-1] < h.nmse_db[0] - 10.0
