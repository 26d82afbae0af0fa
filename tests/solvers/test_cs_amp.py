"""AMP acceptance: soft thresholding on iid Gaussian A reaches <= -30 dB in 30 iterations."""
import numpy as np
import pytest

from solvers.cs import SoftThreshold, amp_se, run_amp


@pytest.fixture(scope="module")
def runs():
    # N = 2000, M = 1000, 10% nonzeros, SNR 40 dB (the acceptance setting), two seeds.
    return [run_amp(N=2000, ratio=0.5, iters=30, seed=s, rho=0.1, snr_db=40.0, tau=1.3)
            for s in range(2)]


def test_amp_soft_threshold_acceptance(runs):
    for res in runs:
        assert res.history.nmse_db[-1] <= -30.0


def test_amp_fixed_point_matches_state_evolution(runs):
    mse = np.mean([10 ** (np.array(r.history.nmse_db) / 10) for r in runs], axis=0)
    se = amp_se(SoftThreshold(1.3), 0.1, 1.0, 0.5, runs[0].problem.noise_var, 30)
    assert abs(10 * np.log10(mse[-1]) - se[-1]) < 1.0


def test_amp_with_bbmc_also_converges():
    res = run_amp(N=2000, ratio=0.5, iters=30, seed=1, divergence="bbmc-gaussian-max")
    assert res.history.nmse_db[-1] <= -30.0
    assert res.history.denoiser_calls == 60
