"""Tests for solvers.tumour: models, RODAS4, equilibria, continuation, separatrix, reduction."""
import numpy as np
import pytest
from scipy.integrate import solve_ivp

import solvers.tumour as tm
from solvers.tumour.model import E0_CELLS, T0_CELLS


def positive_roots_numpy(P: tm.QSSParams) -> np.ndarray:
    """Independent computation: the nullcline-intersection cubic, solved by numpy.roots.

    Substituting x = alpha (1 - beta y) into the x-equation and multiplying by (eta + y):
    sigma (eta + y) + alpha (1 - beta y) (rho y - (mu y + delta)(eta + y)) = 0.
    """
    s, p, g, m, d, a, b, n = P.s, P.p, P.g, P.m, P.d, P.a, P.b, P.n
    sig, rho, eta = s / (n * 1e12), p / (n * 1e6), g / 1e6
    mu, dl, al, be = m / n, d / (n * 1e6), a / (n * 1e6), b * 1e6
    lin = np.poly1d([-al * be, al])                          # alpha (1 - beta y)
    inner = np.poly1d([rho, 0.0]) - np.poly1d([mu, dl]) * np.poly1d([1.0, eta])
    poly = np.poly1d([sig, sig * eta]) + lin * inner
    r = np.roots(poly.coeffs)
    r = r[np.abs(r.imag) < 1e-9 * np.maximum(1.0, np.abs(r.real))].real
    return np.sort(r[(r > 0) & (r < 1.0 / be)])


def test_example_rates_reduce_to_published_qss():
    q = tm.EXAMPLE_RATES.qss()
    for k in ("s", "p", "g", "m", "d", "a", "b", "n"):
        assert getattr(q, k) == pytest.approx(getattr(tm.PUBLISHED, k), rel=1e-12)


def test_nondimensional_form_matches_dimensional():
    P = tm.PUBLISHED
    Q = P.nondim()
    # Kuznetsov et al. (1994) report these nondimensional values
    assert Q.sigma == pytest.approx(0.1181, rel=1e-3)
    assert Q.rho == pytest.approx(1.131, rel=1e-3)
    assert Q.eta == pytest.approx(20.19, rel=1e-6)
    assert Q.mu == pytest.approx(0.00311, rel=2e-3)
    assert Q.delta == pytest.approx(0.3743, rel=1e-3)
    assert Q.alpha == pytest.approx(1.636, rel=1e-3)
    assert Q.beta == pytest.approx(0.002, rel=1e-9)
    u = np.array([3.2e5, 4.5e7])
    dim = tm.qss_rhs(u, P)
    nd = tm.qss_rhs_nd(u / np.array([E0_CELLS, T0_CELLS]), Q)
    scale = P.n * T0_CELLS * np.array([E0_CELLS, T0_CELLS])   # d/dt = n T0 d/dtau
    assert np.allclose(dim, nd * scale, rtol=1e-12)
    # analytic Jacobian against central differences
    x = np.array([1.3, 40.0])
    J = tm.qss_jac_nd(x, Q)
    h = 1e-6
    Jfd = np.column_stack([(tm.qss_rhs_nd(x + h * e, Q) - tm.qss_rhs_nd(x - h * e, Q)) / (2 * h)
                           for e in np.eye(2)])
    assert np.allclose(J, Jfd, rtol=1e-6, atol=1e-8)


def test_five_compartment_jacobian():
    R = tm.EXAMPLE_RATES
    for Rv in (R, tm.KuznetsovRates(**{**R.__dict__, "logistic_on_total": True})):
        u = np.array([3e5, 2e7, 5e3, 1e4, 2e5])
        J = tm.five_jac(u, Rv)
        cols = []
        for e in np.eye(5):
            h = 1e-6 * np.maximum(np.abs(u), 1.0) * e
            cols.append((tm.five_rhs(u + h, Rv) - tm.five_rhs(u - h, Rv)) / (2 * h.sum()))
        assert np.allclose(J, np.column_stack(cols), rtol=1e-5, atol=1e-9)


def test_published_equilibria_found_and_classified():
    eqs = tm.equilibria(tm.PUBLISHED)
    assert len(eqs) == 4
    free, dormant, saddle, escape = eqs
    assert free.y == 0.0 and free.kind == "saddle"      # s < a d / n: tumour invades
    assert dormant.stable and dormant.kind == "stable focus"
    assert saddle.kind == "saddle"
    assert escape.stable and escape.kind == "stable node"
    assert 0 < dormant.y < saddle.y < escape.y < 500.0
    assert np.allclose([dormant.y, saddle.y, escape.y], positive_roots_numpy(tm.PUBLISHED),
                       rtol=1e-9)
    Q = tm.PUBLISHED.nondim()
    for e in eqs:
        assert np.abs(tm.qss_rhs_nd(np.array([e.x, e.y]), Q)).max() < 1e-10
    assert tm.regime(tm.PUBLISHED) == "dormancy+escape"


@pytest.mark.parametrize("s", [1e3, 1.3e4, 2.0e4, 3.0e4, 6.0e4, 8.0e4])
def test_equilibria_agree_with_numpy_roots(s):
    P = tm.PUBLISHED.with_(s=s)
    ys = [e.y for e in tm.equilibria(P) if e.y > 0]
    assert np.allclose(ys, positive_roots_numpy(P), rtol=1e-8)


@pytest.mark.parametrize("param,lo,hi,kinds", [
    ("s", 1.0e2, 1.0e5, ["saddle-node", "transcritical"]),
    ("d", 1.0e-3, 0.12, ["transcritical", "saddle-node", "saddle-node"]),
    ("p", 1.0e-3, 0.3, ["saddle-node", "saddle-node"]),
])
def test_equilibrium_count_changes_exactly_at_continuation_points(param, lo, hi, kinds):
    branch = tm.continuation(param, lo, hi)
    special = [sp for sp in branch.special if sp["kind"] in ("saddle-node", "transcritical")]
    assert [sp["kind"] for sp in special] == kinds
    # independent: count positive equilibria with numpy.roots on a fine grid
    grid = np.linspace(lo, hi, 1501)
    counts = np.array([len(positive_roots_numpy(tm.PUBLISHED.with_(**{param: v})))
                       for v in grid])
    change_cells = np.nonzero(np.diff(counts))[0]
    assert len(change_cells) == len(special)
    for cell, sp in zip(change_cells, special):
        assert grid[cell] <= sp["value"] <= grid[cell + 1]
        # and the count differs just either side of the reported point
        eps = 1e-4 * sp["value"]
        below = len(positive_roots_numpy(tm.PUBLISHED.with_(**{param: sp["value"] - eps})))
        above = len(positive_roots_numpy(tm.PUBLISHED.with_(**{param: sp["value"] + eps})))
        assert below != above
        assert abs(below - above) == (2 if sp["kind"] == "saddle-node" else 1)


def test_transcritical_point_is_analytic():
    branch = tm.continuation("s", 1.0e2, 1.0e5)
    tc = [sp for sp in branch.special if sp["kind"] == "transcritical"][0]
    P = tm.PUBLISHED
    assert tc["value"] == pytest.approx(P.a * P.d / P.n, rel=1e-9)   # s* = a d / n


def test_numpy_scan_matches_continuation_and_regimes():
    scan = tm.bifurcation_scan(n_points=300, param="s", lo=1.0e2, hi=1.0e5)
    branch = tm.continuation("s", 1.0e2, 1.0e5)
    step = scan["values"][1] - scan["values"][0]
    ref = sorted(sp["value"] for sp in branch.special)
    assert len(scan["count_changes"]) == len(ref)
    assert np.all(np.abs(np.sort(scan["count_changes"]) - ref) <= step)
    names = [tm.analysis.code_name(c) for c in scan["code"]]
    sn, tc = ref
    v = scan["values"]
    assert all(n == "dormancy+escape" for n, x in zip(names, v) if x < sn - step)
    assert all(n == "dormancy" for n, x in zip(names, v) if sn + step < x < tc - step)
    assert all(n == "elimination" for n, x in zip(names, v) if x > tc + step)


def test_regime_map_has_three_regimes():
    rm = tm.regime_map("s", np.linspace(1e2, 1e5, 40), "p", np.linspace(0.02, 0.3, 30))
    assert rm["code"].shape == (30, 40)
    assert {1, 2, 6} <= set(np.unique(rm["code"]).tolist())


def test_trajectories_either_side_of_separatrix():
    P = tm.PUBLISHED
    Q = P.nondim()
    eqs = tm.equilibria(P)
    dormant, escape = eqs[1], eqs[3]
    branches = tm.separatrix(P)
    assert len(branches) == 2
    f = lambda u: tm.qss_rhs_nd(u, Q)     # noqa: E731
    J = lambda u: tm.qss_jac_nd(u, Q)     # noqa: E731
    for br in branches:
        # pick a point on the manifold well away from the saddle, offset in y by +/- 0.1 %
        i = len(br) // 2
        pt = br[i]
        assert np.abs(pt - br[0]).max() > 1.0
        ends = {}
        for sign in (-1.0, 1.0):
            u0 = pt * np.array([1.0, 1.0 + sign * 1e-3])
            r = tm.rodas4(f, J, u0, [0.0, 400.0], rtol=1e-9, atol=1e-11)
            ends[sign] = r.y[-1]
        assert np.allclose(ends[-1.0], [dormant.x, dormant.y], rtol=1e-4)
        assert np.allclose(ends[1.0], [escape.x, escape.y], rtol=1e-4)


def test_rodas4_agrees_with_solve_ivp_five_compartment():
    R = tm.EXAMPLE_RATES
    u0 = tm.slow_manifold_state(3.0e5, 2.0e7, R)
    t_eval = np.linspace(0.0, 30.0, 7)
    _, ours = tm.integrate_five(R, u0, 30.0, t_eval=t_eval, method="rodas4", rtol=1e-11,
                                atol=1e-6)
    _, ref = tm.integrate_five(R, u0, 30.0, t_eval=t_eval, method="Radau", rtol=1e-12,
                               atol=1e-6)
    rel = np.abs(ours - ref) / np.maximum(np.abs(ref), 1.0)
    assert rel[1:].max() < 1e-6


def test_rodas4_agrees_with_solve_ivp_qss_nondim():
    Q = tm.PUBLISHED.nondim()
    u0 = np.array([1.0, 100.0])
    ours = tm.rodas4(lambda u: tm.qss_rhs_nd(u, Q), lambda u: tm.qss_jac_nd(u, Q), u0,
                     [0.0, 50.0], rtol=1e-11, atol=1e-13, t_eval=[50.0]).y[-1]
    ref = solve_ivp(lambda t, u: tm.qss_rhs_nd(u, Q), [0, 50.0], u0, method="BDF",
                    rtol=1e-12, atol=1e-14, jac=lambda t, u: tm.qss_jac_nd(u, Q)).y[:, -1]
    assert np.abs(ours - ref).max() / np.abs(ref).max() < 1e-6


def test_rodas4_is_fourth_order_and_l_stable():
    Q = tm.PUBLISHED.nondim()
    f = lambda u: tm.qss_rhs_nd(u, Q)    # noqa: E731
    J = lambda u: tm.qss_jac_nd(u, Q)    # noqa: E731
    u0 = np.array([1.0, 100.0])
    ref = tm.rodas4_fixed(f, J, u0, 4.0, 2048).y[-1]
    errs = [np.abs(tm.rodas4_fixed(f, J, u0, 4.0, n).y[-1] - ref).max() for n in (32, 64, 128)]
    orders = np.log2(np.array(errs[:-1]) / np.array(errs[1:]))
    assert np.all(orders > 3.5)
    # stiff decay y' = -1e6 (y - 1) with one huge step: L-stability drives y to 1
    g = lambda u: -1e6 * (u - 1.0)                  # noqa: E731
    Jg = lambda u: -1e6 * np.eye(1)                 # noqa: E731
    assert abs(tm.rodas4_fixed(g, Jg, np.array([0.0]), 1.0, 1).y[-1, 0] - 1.0) < 1e-5


def test_run_stiff_fixed_and_adaptive_agree():
    a = tm.run_stiff(t_end=10.0, seed=3)
    b = tm.run_stiff(t_end=10.0, seed=3, n_steps=400)
    assert a["stiffness_ratio"] > 100.0
    assert np.allclose(a["y"][-1], b["y"][-1], rtol=1e-5)
    c = tm.run_stiff(t_end=10.0, seed=4)
    assert not np.allclose(a["u0"], c["u0"])


def test_reduced_model_error_falls_as_fast_rates_grow():
    r = tm.reduction_error(factors=(1.0, 10.0, 100.0), t_end=20.0, scaling="fast", n_eval=21)
    for key in ("qss_T", "qss_E", "tqssa_T", "tqssa_E"):
        assert np.all(np.diff(r[key]) < 0), key
    assert r["slope_qss_T"] > 0.8 and r["slope_tqssa_T"] > 0.8
    assert r["qss_T"][-1] < 2e-3 and r["tqssa_T"][-1] < 1e-4
    # at fixed K only the total-QSSA model converges; the published QSS model keeps a floor
    k = tm.reduction_error(factors=(1.0, 10.0, 100.0), t_end=20.0, scaling="fixed_K", n_eval=21)
    assert k["slope_tqssa_T"] > 0.9
    assert k["qss_T"][-1] > 0.5 * k["qss_T"][0]


def test_excitability():
    ex = tm.excitability(depletion=(0.9, 0.1), tumour_kick=2.0)
    d = ex["dormant"]
    weak, strong = ex["runs"]
    # sub-threshold: the tumour never grows past its perturbed value and returns
    assert weak["peak_ratio"] < 2.0 * 1.1
    # supra-threshold: a large excursion (tumour x10 of the kick) and return to dormancy
    assert strong["peak_ratio"] > 10 * 2.0
    for run in (weak, strong):
        assert np.allclose(run["final"], [d.x, d.y], rtol=1e-4)
