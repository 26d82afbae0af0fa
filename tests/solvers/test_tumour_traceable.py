"""The tumour iteration kernels run on a NEP-13/18 duck array (what a numpy tracer needs)."""
import numpy as np

import solvers.tumour as tm
from duck_array import Duck



def test_vector_fields_and_jacobians_run_on_duck_arrays():
    Q = tm.PUBLISHED.nondim()
    u = np.array([1.0, 100.0])
    for f in (tm.qss_rhs_nd, tm.qss_jac_nd):
        out = f(Duck(u), Q)
        assert isinstance(out, Duck) and np.allclose(out.a, f(u, Q))
    v = np.array([3e5, 2e7, 5e3, 1e3, 1e4])
    for f in (tm.five_rhs, tm.five_jac):
        out = f(Duck(v), tm.EXAMPLE_RATES)
        assert isinstance(out, Duck) and np.allclose(out.a, f(v, tm.EXAMPLE_RATES))
    P = tm.PUBLISHED
    out = tm.qss_rhs(Duck(np.array([3e5, 2e7])), P)
    assert isinstance(out, Duck)


def test_fixed_step_rodas4_runs_on_duck_arrays():
    R = tm.EXAMPLE_RATES
    u0 = tm.slow_manifold_state(3e5, 2e7, R)
    f = lambda u: tm.five_rhs(u, R)     # noqa: E731
    J = lambda u: tm.five_jac(u, R)     # noqa: E731
    traced = tm.rodas4_fixed(f, J, Duck(u0), 1.0, 5)
    plain = tm.rodas4_fixed(f, J, u0, 1.0, 5)
    assert isinstance(traced.y, Duck)
    assert np.allclose(traced.y.a, plain.y, rtol=1e-12)
