"""CG-VAMP with k = M (CG run to the end of its Krylov space) is exact VAMP, with the defaults.

Before the breakdown guard, the default settings (no stopping tolerance) kept dividing rounding
noise by rounding noise once CG had converged and the run went to NaN (issue 16).
"""
import numpy as np

from solvers.cs import BernoulliGaussMMSE, bernoulli_gauss, cg_vamp, measure, noise_var_for_snr, vamp
from solvers.cs.operators import ConditionedDCT


def test_cg_vamp_with_k_equal_m_matches_exact_vamp_with_default_settings():
    n, m, iters = 1024, 512, 25
    rng = np.random.default_rng(0)
    op = ConditionedDCT.random(m, n, 100.0, rng)
    x = bernoulli_gauss(n, 0.1, rng)
    p = measure(op, x, noise_var_for_snr(op, 0.1, 40.0), rng)
    den = BernoulliGaussMMSE(0.1)
    ref = vamp(p.y, op, den, iters, noise_var=p.noise_var, x_true=x).history.nmse_db
    got = cg_vamp(p.y, op, den, iters, noise_var=p.noise_var, k=m, x_true=x).history.nmse_db
    assert np.all(np.isfinite(got))
    assert np.max(np.abs(np.asarray(got) - np.asarray(ref))) < 0.05
    assert ref[-1] < -35  # a real reconstruction, not two equal failures
