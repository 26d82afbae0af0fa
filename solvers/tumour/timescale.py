"""Timescale separation: the five-compartment model against its long-timescale reductions.

Derivation (ours; the paper's matched-asymptotics model is not published in reachable
material).

Let kappa = km1 + k2 + k3 (conjugate relaxation rate), K = k1/kappa, and use the *total*
populations E_tot = E + C, T_tot = T + C as slow variables. Adding the C equation to the E and
T equations cancels every fast term::

    dE_tot/dt = s + f C/(g+T) - d1 E - k3 C
    dT_tot/dt = a T (1 - b T_tot') - k2 C        (T_tot' = T, or T + C if logistic_on_total)
    dC/dt     = kappa (K E T - C),   E = E_tot - C,  T = T_tot - C

With epsilon = a/kappa (~1e-3 for EXAMPLE_RATES) C is fast and its fast subsystem
dC/dt = kappa (K (E_tot-C)(T_tot-C) - C) has the unique stable root::

    C*(E_tot, T_tot) = 2 K E_tot T_tot / (B + sqrt(B^2 - 4 K^2 E_tot T_tot)),
    B = 1 + K (E_tot + T_tot)

(d/dC of the right-hand side is -kappa (1 + K(E + T)) < 0). Tikhonov's theorem then gives the
*reduced long-timescale model* ("total QSSA", :func:`reduced_rhs`): the slow equations above
with C = C*; its error against the full model is O(epsilon) on finite windows for data on the
slow manifold. It needs no smallness of C.

The published 2-D QSS model is the further limit K E, K T -> 0 (few conjugates: E_tot ~ E,
T_tot ~ T, C* ~ K E T) at fixed p = f K, m = k3 K, n = k2 K. Two experiments measure this:

* ``scaling="fast"`` (``KuznetsovRates.with_fast_rates``): km1, k2, k3, f times lambda at fixed
  k1, so kappa grows and K falls by lambda with the QSS model fixed. Both the total-QSSA and
  the published QSS model converge to the full model, error ~ 1/lambda.
* ``scaling="fixed_K"`` (``with_separation``): kappa times lambda at fixed K. The total-QSSA
  error falls ~ 1/lambda; the published QSS model keeps a floor of order K T (a few % here),
  the part of its error that is not timescale separation but conjugate depletion.

E*, T* do not feed back; they are slaved outputs of C.
"""
from __future__ import annotations

import numpy as np
from scipy.integrate import solve_ivp

from .integrator import rodas4, rodas4_fixed
from .model import EXAMPLE_RATES, KuznetsovRates, five_jac, five_rhs, qss_jac, qss_rhs


def slow_manifold_state(E: float, T: float, R: KuznetsovRates = EXAMPLE_RATES) -> np.ndarray:
    """Five-compartment state on the slow manifold (C = K E T) with no E*, T* yet."""
    return np.array([E, T, R.K * E * T, 0.0, 0.0])


def integrate_five(R: KuznetsovRates, u0, t_end: float, t_eval=None, method: str = "rodas4",
                   rtol: float = 1e-10, atol: float = 1e-4):
    """Five-compartment model in cells over [0, t_end] days. ``method``: "rodas4" (ours) or a
    solve_ivp stiff method ("Radau", "BDF"). Returns (t, y[n, 5])."""
    u0 = np.asarray(u0, dtype=float)
    if method == "rodas4":
        r = rodas4(lambda u: five_rhs(u, R), lambda u: five_jac(u, R), u0, [0.0, t_end],
                   rtol=rtol, atol=atol, t_eval=t_eval)
        return r.t, r.y
    sol = solve_ivp(lambda t, u: five_rhs(u, R), [0.0, t_end], u0, method=method,
                    jac=lambda t, u: five_jac(u, R), rtol=rtol, atol=atol, t_eval=t_eval)
    return sol.t, sol.y.T


def integrate_qss(R: KuznetsovRates, E0: float, T0: float, t_end: float, t_eval=None,
                  rtol: float = 1e-10, atol: float = 1e-4):
    P = R.qss()
    r = rodas4(lambda u: qss_rhs(u, P), lambda u: qss_jac(u, P), np.array([E0, T0]),
               [0.0, t_end], rtol=rtol, atol=atol, t_eval=t_eval)
    return r.t, r.y


def conjugates_on_slow_manifold(E_tot, T_tot, K):
    """Stable root C* of K (E_tot - C)(T_tot - C) = C (cancellation-free form)."""
    B = 1.0 + K * (E_tot + T_tot)
    return 2.0 * K * E_tot * T_tot / (B + np.sqrt(B * B - 4.0 * K * K * E_tot * T_tot))


def reduced_rhs(v, R: KuznetsovRates):
    """Reduced long-timescale (total-QSSA) model; v = [E_tot, T_tot] in cells."""
    E_tot, T_tot = v[0], v[1]
    C = conjugates_on_slow_manifold(E_tot, T_tot, R.K)
    E, T = E_tot - C, T_tot - C
    T_log = T + C if R.logistic_on_total else T
    dE = R.s + R.f * C / (R.g + T) - R.d1 * E - R.k3 * C
    dT = R.a * T * (1.0 - R.b * T_log) - R.k2 * C
    return np.stack([dE, dT])


def _reduced_jac(v, R, h=1e-6):
    cols = []
    for i in range(2):
        dv = np.zeros(2)
        dv[i] = h * max(abs(v[i]), 1.0)
        cols.append((reduced_rhs(v + dv, R) - reduced_rhs(v - dv, R)) / (2 * dv[i]))
    return np.stack(cols, axis=1)


def integrate_reduced(R: KuznetsovRates, E_tot0: float, T_tot0: float, t_end: float,
                      t_eval=None, rtol: float = 1e-10, atol: float = 1e-4):
    r = rodas4(lambda v: reduced_rhs(v, R), lambda v: _reduced_jac(v, R),
               np.array([E_tot0, T_tot0]), [0.0, t_end], rtol=rtol, atol=atol, t_eval=t_eval)
    return r.t, r.y


def reduction_error(factors=(1.0, 3.0, 10.0, 30.0, 100.0), t_end: float = 20.0,
                    E_init: float = 3.0e5, T_init: float = 2.0e7, scaling: str = "fast",
                    R: KuznetsovRates = EXAMPLE_RATES, n_eval: int = 41) -> dict:
    """Relative error max_t |T_full - T_red| / max_t |T_red| (same for E) of two reduced
    models as the fast rates grow by each factor (see module docstring for ``scaling``).

    Free cells E, T of the full model are compared with the published QSS model; totals
    E + C, T + C with the total-QSSA model. Initial data on the slow manifold: free E_init,
    T_init with C = C*."""
    t_eval = np.linspace(0.0, t_end, n_eval)
    out = {k: [] for k in ("qss_T", "qss_E", "tqssa_T", "tqssa_E", "epsilon", "K_T")}
    for lam in factors:
        Rl = R.with_fast_rates(lam) if scaling == "fast" else R.with_separation(lam)
        C0 = Rl.K * E_init * T_init
        u0 = np.array([E_init, T_init, C0, 0.0, 0.0])
        _, full = integrate_five(Rl, u0, t_end, t_eval)
        _, qss = integrate_qss(Rl, E_init, T_init, t_end, t_eval=t_eval)
        _, red = integrate_reduced(Rl, E_init + C0, T_init + C0, t_end, t_eval=t_eval)
        tot = full[:, :2] + full[:, 2:3]

        def rel(a, b):
            return float(np.max(np.abs(a - b)) / np.max(np.abs(b)))
        out["qss_T"].append(rel(full[:, 1], qss[:, 1]))
        out["qss_E"].append(rel(full[:, 0], qss[:, 0]))
        out["tqssa_T"].append(rel(tot[:, 1], red[:, 1]))
        out["tqssa_E"].append(rel(tot[:, 0], red[:, 0]))
        out["epsilon"].append(Rl.a / Rl.conjugate_rate)
        out["K_T"].append(Rl.K * float(np.max(full[:, 1])))
    res = {k: np.array(v) for k, v in out.items()}
    logeps = np.log(res["epsilon"])
    res["slope_qss_T"] = float(np.polyfit(logeps, np.log(res["qss_T"]), 1)[0])
    res["slope_tqssa_T"] = float(np.polyfit(logeps, np.log(res["tqssa_T"]), 1)[0])
    res.update(factors=np.asarray(factors, float), t_end=t_end, scaling=scaling)
    return res


def run_stiff(t_end: float = 30.0, seed: int = 0, separation: float = 1.0,
              n_steps: int | None = None, R: KuznetsovRates = EXAMPLE_RATES) -> dict:
    """Entry point: the stiff five-compartment model integrated by our RODAS4 from a random
    initial state (drawn with ``np.random.default_rng(seed)``) on the slow manifold.

    ``n_steps`` given: fixed-step RODAS4 (no data-dependent control flow: the form to trace);
    otherwise adaptive. Returns times, states (cells) and the stiffness ratio."""
    rng = np.random.default_rng(seed)
    Rl = R.with_separation(separation)
    E_init = 10.0 ** rng.uniform(5.0, 6.0)
    T_init = 10.0 ** rng.uniform(6.0, 8.0)
    u0 = slow_manifold_state(E_init, T_init, Rl)
    f = lambda u: five_rhs(u, Rl)   # noqa: E731
    J = lambda u: five_jac(u, Rl)   # noqa: E731
    if n_steps is None:
        r = rodas4(f, J, u0, [0.0, t_end], rtol=1e-8, atol=1e-3)
    else:
        r = rodas4_fixed(f, J, u0, t_end, n_steps)
    ev = np.linalg.eigvals(J(u0))
    stiffness = float(np.max(np.abs(ev.real)) / max(np.min(np.abs(ev.real)), 1e-300))
    return {"t": r.t, "y": r.y, "n_steps": r.n_steps, "n_rejected": r.n_rejected,
            "stiffness_ratio": stiffness, "u0": u0}
