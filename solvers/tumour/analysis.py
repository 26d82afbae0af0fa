"""Phase-plane and bifurcation analysis of the QSS tumour–immune model (nondimensional).

Owns: equilibria and their classification, nullclines, the saddle's stable manifold
(separatrix), pseudo-arclength continuation in any model parameter with saddle-node,
transcritical and Hopf detection, a vectorised one-/two-parameter regime scan, and the
excitability experiment. scipy (brentq, fsolve, solve_ivp) is used here only for analysis;
the iteration kernels are in ``model.py`` and ``integrator.py``.

Regimes are named by the set of stable states (a state is "escape" when its tumour is at least
``ESCAPE_FRACTION`` of the carrying capacity 1/b, "dormancy" when it is positive but smaller,
"elimination" when the tumour-free state is stable): e.g. ``"dormancy+escape"`` is bistable.
The 10 % threshold is our choice (the dormant and escaped states differ by ~50x at the
published parameters, so any threshold between 2 % and 50 % gives the same map).
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from scipy.integrate import solve_ivp
from scipy.optimize import brentq, fsolve

from .model import PUBLISHED, NondimParams, QSSParams, qss_jac_nd, qss_rhs_nd

ESCAPE_FRACTION = 0.1
REGIME_BITS = {"elimination": 1, "dormancy": 2, "escape": 4}


@dataclass(frozen=True)
class Equilibrium:
    x: float                 # E/E0
    y: float                 # T/T0
    eigenvalues: tuple       # of the Jacobian (complex)
    kind: str                # "stable node", "stable focus", "saddle", "unstable node", ...

    @property
    def stable(self) -> bool:
        return all(np.real(ev) < 0 for ev in self.eigenvalues)

    def cells(self, P: QSSParams) -> tuple:
        return self.x * P.E0, self.y * P.T0


def classify(J: np.ndarray) -> tuple:
    ev = np.linalg.eigvals(J)
    tr, det = np.trace(J), np.linalg.det(J)
    if det < 0:
        kind = "saddle"
    else:
        disc = tr * tr - 4 * det
        stab = "stable" if tr < 0 else "unstable"
        kind = f"{stab} {'focus' if disc < 0 else 'node'}"
    return tuple(complex(e) for e in ev), kind


def _equilibrium(u, Q: NondimParams) -> Equilibrium:
    ev, kind = classify(qss_jac_nd(np.asarray(u, float), Q))
    return Equilibrium(float(u[0]), float(u[1]), ev, kind)


def positive_branch_residual(y, Q: NondimParams):
    """x-equation evaluated on the nontrivial y-nullcline x = alpha (1 - beta y): its zeros in
    (0, 1/beta) are the positive equilibria."""
    x = Q.alpha * (1.0 - Q.beta * y) / Q.e_over_t
    return Q.sigma + x * (Q.rho * y / (Q.eta + y) - Q.mu * y - Q.delta)


def _y_grid(Q: NondimParams, n: int = 4000) -> np.ndarray:
    ymax = 1.0 / Q.beta
    return np.unique(np.concatenate([np.geomspace(1e-9 * ymax, ymax, n // 2),
                                     np.linspace(0.0, ymax, n // 2)]))


def equilibria(P: QSSParams = PUBLISHED) -> list[Equilibrium]:
    """All equilibria with x, y >= 0: tumour-free (sigma/delta, 0) and the positive ones
    (bracketed on a fine y grid, refined by brentq, polished by Newton on the 2-D system)."""
    Q = P.nondim()
    out = [_equilibrium((Q.sigma / Q.delta, 0.0), Q)]
    ys = _y_grid(Q)
    h = positive_branch_residual(ys, Q)
    for i in np.nonzero(np.sign(h[:-1]) * np.sign(h[1:]) < 0)[0]:
        y = brentq(positive_branch_residual, ys[i], ys[i + 1], args=(Q,), xtol=1e-14,
                   rtol=1e-14)
        u = np.array([Q.alpha * (1 - Q.beta * y) / Q.e_over_t, y])
        for _ in range(3):
            u = u - np.linalg.solve(qss_jac_nd(u, Q), qss_rhs_nd(u, Q))
        out.append(_equilibrium(u, Q))
    return out


def regime(P: QSSParams = PUBLISHED, eqs: list[Equilibrium] | None = None) -> str:
    eqs = equilibria(P) if eqs is None else eqs
    Q = P.nondim()
    names = set()
    for e in eqs:
        if not e.stable:
            continue
        if e.y == 0.0:
            names.add("elimination")
        elif e.y >= ESCAPE_FRACTION / Q.beta:
            names.add("escape")
        else:
            names.add("dormancy")
    return "+".join(n for n in ("elimination", "dormancy", "escape") if n in names) or "none"


def nullclines(P: QSSParams = PUBLISHED, y: np.ndarray | None = None) -> dict:
    """x-nullcline x = sigma/(delta + mu y - rho y/(eta+y)) (where positive) and the
    nontrivial y-nullcline x = alpha(1 - beta y); y = 0 is the trivial y-nullcline."""
    Q = P.nondim()
    y = np.linspace(0, 1.1 / Q.beta, 2000) if y is None else y
    den = Q.delta + Q.mu * y - Q.rho * y / (Q.eta + y)
    x_null = np.where(den > 0, Q.sigma / np.where(den > 0, den, 1.0), np.nan)
    return {"y": y, "x_nullcline": x_null, "y_nullcline": Q.alpha * (1 - Q.beta * y) / Q.e_over_t}


def separatrix(P: QSSParams = PUBLISHED, tau_back: float = 60.0, eps: float = 1e-6,
               x_max: float = 50.0) -> list[np.ndarray]:
    """Stable manifold of the (unique) positive saddle: both branches, by integrating backward
    in tau from saddle +/- eps * v_s (v_s the stable eigenvector). Returns arrays (n, 2) of
    (x, y) starting at the saddle."""
    Q = P.nondim()
    saddles = [e for e in equilibria(P) if e.kind == "saddle" and e.y > 0]
    if not saddles:
        return []
    sd = saddles[0]
    u0 = np.array([sd.x, sd.y])
    ev, vec = np.linalg.eig(qss_jac_nd(u0, Q))
    v = np.real(vec[:, int(np.argmin(np.real(ev)))])
    v = v / np.linalg.norm(v * np.array([1.0, Q.beta])) # unit length in (x, beta y) metric

    def leave(t, u):
        return min(u[0], u[1], x_max - u[0], 1.2 / Q.beta - u[1])
    leave.terminal = True
    branches = []
    for sign in (1.0, -1.0):
        sol = solve_ivp(lambda t, u: qss_rhs_nd(u, Q), [0.0, -tau_back], u0 + sign * eps * v,
                        method="Radau", rtol=1e-10, atol=1e-12, events=leave,
                        dense_output=False, max_step=0.05)
        branches.append(np.vstack([u0, sol.y.T]))
    return branches


# ---------------------------------------------------------------------------------------------
# Pseudo-arclength continuation
# ---------------------------------------------------------------------------------------------

@dataclass
class Branch:
    param: str
    values: np.ndarray            # parameter (dimensional)
    x: np.ndarray
    y: np.ndarray
    stable: np.ndarray            # bool
    special: list = field(default_factory=list)   # dicts: kind, value, x, y


def continuation(param: str = "s", lo: float = 0.0, hi: float = 1.0e5,
                 P: QSSParams = PUBLISHED, ds: float = 0.02, max_points: int = 20000) -> Branch:
    """Follow the positive equilibria of the QSS model in parameter ``param`` (a QSSParams
    field) over [lo, hi], both directions from every equilibrium at the base point P.

    Variables (x, beta*y, theta = value/base); tangent = null vector of the 2x3 extended
    Jacobian; predictor–corrector with Newton on [F = 0, tangent . (v - v_pred) = 0].
    Detects saddle-nodes (sign change of the tangent's theta-component), transcritical points
    (branch crossing y = 0) and Hopf points (trace changing sign with det > 0), each refined by
    fsolve on its defining system.
    """
    base = getattr(P, param)
    if base == 0:
        raise ValueError("continuation needs a nonzero base value")
    beta = P.nondim().beta

    def Q_of(theta):
        return P.with_(**{param: theta * base}).nondim()

    def F(v):
        return qss_rhs_nd(np.array([v[0], v[1] / beta]), Q_of(v[2]))

    def DF(v):
        J = qss_jac_nd(np.array([v[0], v[1] / beta]), Q_of(v[2]))
        h = 1e-7 * max(1.0, abs(v[2]))
        dth = (F(v + [0, 0, h]) - F(v - [0, 0, h])) / (2 * h)
        return np.column_stack([J[:, 0], J[:, 1] / beta, dth])

    def tangent(v, prev=None):
        A = DF(v)
        t = np.cross(A[0], A[1])
        t = t / np.linalg.norm(t)
        if prev is not None and np.dot(t, prev) < 0:
            t = -t
        return t

    starts = [e for e in equilibria(P) if e.y > 0]
    pts = []          # (points (n, 3) of (x, beta*y, theta), tangents (n, 3)) per direction
    special = []
    for e in starts:
        if any(np.min(np.abs(b[:, 2] - 1.0) + np.abs(b[:, 1] - beta * e.y)) < 2 * ds
               for b, _ in pts):
            continue        # already on a computed branch
        v0 = np.array([e.x, beta * e.y, 1.0])
        for direction in (1.0, -1.0):
            t = tangent(v0)
            t = t * direction * (1.0 if t[2] >= 0 else -1.0)
            v, step = v0.copy(), ds
            branch = [v.copy()]
            tangents = [t.copy()]
            for _ in range(max_points):
                vp = v + step * t
                w = vp.copy()
                ok = False
                for _it in range(12):
                    G = np.concatenate([F(w), [np.dot(t, w - vp)]])
                    M = np.vstack([DF(w), t])
                    dw = np.linalg.solve(M, -G)
                    w = w + dw
                    if np.linalg.norm(dw) < 1e-11:
                        ok = True
                        break
                if not ok:
                    step *= 0.5
                    if step < 1e-8:
                        break
                    continue
                t_new = tangent(w, t)
                v, t = w, t_new
                branch.append(v.copy())
                tangents.append(t.copy())
                step = min(step * 1.3, ds)
                if not lo <= v[2] * base <= hi:
                    break
                if v[1] < -0.02 or v[1] > 1.05 or v[0] < -1.0:
                    break
            if direction < 0:
                branch, tangents = branch[::-1], tangents[::-1]
            pts.append((np.array(branch), np.array(tangents)))

    # merge: pts[i] runs forward from a start, pts[i+1] backward (already reversed, so its
    # tangents must be flipped to point along the merged branch)
    all_v, all_t = [], []
    for i in range(0, len(pts), 2):
        (b_fwd, t_fwd), (b_back, t_back) = pts[i], pts[i + 1]
        all_v.append(np.vstack([b_back, b_fwd[1:]]))
        all_t.append(np.vstack([-t_back, t_fwd[1:]]))
    values, xs, ys, stab = [], [], [], []
    for V, T in zip(all_v, all_t):
        trs, dets = [], []
        for v in V:
            J = qss_jac_nd(np.array([v[0], v[1] / beta]), Q_of(v[2]))
            trs.append(np.trace(J))
            dets.append(np.linalg.det(J))
        trs, dets = np.array(trs), np.array(dets)
        for i in range(len(V) - 1):
            a, b = V[i], V[i + 1]
            if T[i, 2] * T[i + 1, 2] < 0 and min(a[1], b[1]) > 0:
                special.append(_refine_fold(a, b, Q_of, beta, base))
            if a[1] * b[1] < 0:
                special.append(_refine_tc(a, b, Q_of, base))
            if trs[i] * trs[i + 1] < 0 and dets[i] > 0 and dets[i + 1] > 0 and \
                    min(a[1], b[1]) > 0:
                special.append(_refine_hopf(a, b, Q_of, beta, base))
        values.append(V[:, 2] * base)
        xs.append(V[:, 0])
        ys.append(V[:, 1] / beta)
        stab.append((trs < 0) & (dets > 0))
    inside = [(s_["value"] - lo) * (s_["value"] - hi) <= 0 for s_ in special]
    special = [s_ for s_, keep in zip(special, inside) if keep]
    uniq = []
    for s_ in sorted(special, key=lambda d: d["value"]):
        if not any(u["kind"] == s_["kind"] and abs(u["value"] - s_["value"]) <= 1e-6 *
                   max(1.0, abs(s_["value"])) for u in uniq):
            uniq.append(s_)
    cat = (lambda L: np.concatenate(L)) if values else (lambda L: np.array([]))
    return Branch(param, cat(values), cat(xs), cat(ys), cat(stab), uniq)


def _fsolve_quiet(G, w0):
    # xtol near machine precision: fsolve may warn that progress stalled once converged
    import warnings
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return fsolve(G, w0, xtol=1e-12)


def _refine_fold(a, b, Q_of, beta, base):
    def G(w):
        u = np.array([w[0], w[1] / beta])
        Q = Q_of(w[2])
        return np.concatenate([qss_rhs_nd(u, Q), [np.linalg.det(qss_jac_nd(u, Q))]])
    w = _fsolve_quiet(G, 0.5 * (a + b))
    return {"kind": "saddle-node", "value": float(w[2] * base), "x": float(w[0]),
            "y": float(w[1] / beta)}


def _refine_hopf(a, b, Q_of, beta, base):
    def G(w):
        u = np.array([w[0], w[1] / beta])
        Q = Q_of(w[2])
        return np.concatenate([qss_rhs_nd(u, Q), [np.trace(qss_jac_nd(u, Q))]])
    w = _fsolve_quiet(G, 0.5 * (a + b))
    return {"kind": "hopf", "value": float(w[2] * base), "x": float(w[0]),
            "y": float(w[1] / beta)}


def _refine_tc(a, b, Q_of, base):
    # On y = 0: x-equation sigma - delta x = 0 and the transverse eigenvalue alpha - x = 0.
    def G(w):
        Q = Q_of(w[1])
        return [Q.sigma - Q.delta * w[0], Q.alpha - Q.e_over_t * w[0]]
    w = _fsolve_quiet(G, [0.5 * (a[0] + b[0]), 0.5 * (a[2] + b[2])])
    return {"kind": "transcritical", "value": float(w[1] * base), "x": float(w[0]), "y": 0.0}


# ---------------------------------------------------------------------------------------------
# Vectorised scans (pure numpy: no scipy, no data-dependent Python branches per point)
# ---------------------------------------------------------------------------------------------

def _nondim_arrays(P: QSSParams, **arrays):
    """Nondimensional parameters as numpy arrays when some dimensional ones are arrays."""
    # np.multiply (not np.asarray) keeps array-like inputs, such as a tracer's arrays, as they are
    v = {k: np.multiply(1.0, arrays.get(k, getattr(P, k)))
         for k in ("s", "p", "g", "m", "d", "a", "b", "n")}
    rate = v["n"] * P.T0
    return dict(sigma=v["s"] / (v["n"] * P.E0 * P.T0), rho=v["p"] / rate, eta=v["g"] / P.T0,
                mu=v["m"] / v["n"], delta=v["d"] / rate, alpha=v["a"] / rate,
                beta=v["b"] * P.T0, eot=P.E0 / P.T0)


def regime_codes(P: QSSParams = PUBLISHED, n_y: int = 1500, newton_iters: int = 6,
                 **param_arrays) -> dict:
    """Regime bitmask (elimination 1, dormancy 2, escape 4) and equilibrium counts for arrays
    of parameter values (broadcast together), all in numpy.

    Positive equilibria: sign changes of the branch residual on a y grid (y / (1/beta) in
    (0, 1)), refined by a fixed number of Newton steps on the residual, stability from the
    2x2 Jacobian's trace and determinant.
    """
    q = _nondim_arrays(P, **param_arrays)
    shape = np.broadcast_shapes(*[np.shape(q[k]) for k in q])
    q = {k: np.broadcast_to(val, shape).reshape(-1) for k, val in q.items()}
    n_total = int(np.prod(shape)) if shape else 1
    chunk = max(1, 2_000_000 // n_y)           # bound memory: chunk x n_y grid per pass
    parts = [_regime_codes_flat({k: v[i:i + chunk, None] for k, v in q.items()}, n_y,
                                newton_iters) for i in range(0, n_total, chunk)]
    return {k: np.concatenate([p[k] for p in parts]).reshape(shape) for k in parts[0]}


def _regime_codes_flat(q: dict, n_y: int, newton_iters: int) -> dict:
    """q: nondimensional parameters as (n, 1) arrays."""
    frac = np.concatenate([np.geomspace(1e-9, 1e-2, n_y // 3), np.linspace(1e-2, 1.0, n_y)[1:]])
    n = q["beta"].shape[0]

    def resid(y, p):
        x = p["alpha"] * (1 - p["beta"] * y) / p["eot"]
        return p["sigma"] + x * (p["rho"] * y / (p["eta"] + y) - p["mu"] * y - p["delta"])

    y = frac / q["beta"]                                          # (n, m)
    h = resid(y, q)
    change = np.sign(h[:, :-1]) * np.sign(h[:, 1:]) < 0           # (n, m-1)
    row, col = np.nonzero(change)                                 # brackets only (<= 3 per row)
    p = {k: np.broadcast_to(v, (n, 1))[row, 0] for k, v in q.items()}
    lo, hi = y[row, col], y[row, col + 1]
    hl, hh = h[row, col], h[row, col + 1]
    r = lo - hl * (hi - lo) / (hh - hl)                           # secant start
    for _ in range(newton_iters):                                 # Newton, kept in the bracket
        dy = 1e-7 * np.maximum(r, 1e-6)
        der = (resid(r + dy, p) - resid(r - dy, p)) / (2 * dy)
        r = np.clip(r - resid(r, p) / np.where(der != 0, der, 1.0), lo, hi)
    x = p["alpha"] * (1 - p["beta"] * r) / p["eot"]
    rec = p["rho"] * r / (p["eta"] + r)
    j11 = rec - p["mu"] * r - p["delta"]
    j12 = x * (p["rho"] * p["eta"] / (p["eta"] + r) ** 2 - p["mu"])
    j21 = -p["eot"] * r
    j22 = p["alpha"] * (1 - 2 * p["beta"] * r) - p["eot"] * x
    stable = (j11 + j22 < 0) & (j11 * j22 - j12 * j21 > 0)
    escape = stable & (r * p["beta"] >= ESCAPE_FRACTION)
    dormant = stable & (r * p["beta"] < ESCAPE_FRACTION)
    has_escape = np.bincount(row, weights=escape, minlength=n) > 0
    has_dormant = np.bincount(row, weights=dormant, minlength=n) > 0
    tumour_free_stable = (q["alpha"] - q["eot"] * q["sigma"] / q["delta"])[:, 0] < 0
    code = tumour_free_stable * 1 + has_dormant * 2 + has_escape * 4
    return {"code": code.astype(int), "n_positive": np.bincount(row, minlength=n),
            "n_stable": np.bincount(row, weights=stable, minlength=n).astype(int)
            + tumour_free_stable}


def code_name(code: int) -> str:
    return "+".join(n for n, bit in REGIME_BITS.items() if code & bit) or "none"


def bifurcation_scan(n_points: int = 400, param: str = "s", lo: float = 1.0e2,
                     hi: float = 1.0e5, P: QSSParams = PUBLISHED, seed: int = 0) -> dict:
    """One-parameter regime scan in numpy: regime code, number of positive and of stable
    equilibria at ``n_points`` values of ``param`` in [lo, hi], and the parameter values where
    the number of positive equilibria changes (midpoints of the grid cells). ``seed`` is
    accepted for a uniform entry-point signature; the scan is deterministic."""
    del seed
    values = np.linspace(lo, hi, n_points)
    r = regime_codes(P, **{param: values})
    changes = np.nonzero(np.diff(r["n_positive"]) != 0)[0]
    return {"param": param, "values": values, **r,
            "count_changes": 0.5 * (values[changes] + values[changes + 1])}


def regime_map(param_x: str = "s", x_values=None, param_y: str = "p", y_values=None,
               P: QSSParams = PUBLISHED) -> dict:
    """Two-parameter regime map (numpy, vectorised): code[iy, ix]."""
    x_values = np.linspace(1e2, 1e5, 120) if x_values is None else np.asarray(x_values)
    y_values = np.linspace(0.02, 0.3, 100) if y_values is None else np.asarray(y_values)
    X, Y = np.meshgrid(x_values, y_values)
    r = regime_codes(P, **{param_x: X, param_y: Y})
    return {"x": x_values, "y": y_values, "param_x": param_x, "param_y": param_y, **r}


# ---------------------------------------------------------------------------------------------
# Excitability
# ---------------------------------------------------------------------------------------------

def excitability(P: QSSParams | None = None, depletion=(0.9, 0.7, 0.5, 0.3, 0.1),
                 tumour_kick: float = 2.0, tau_end: float = 300.0) -> dict:
    """Perturb the stable dormant state and record the tumour's peak (relative to the dormant
    level) and where the trajectory ends.

    Perturbation: effectors multiplied by each ``depletion`` factor (immunosuppression) and
    tumour by ``tumour_kick``. Default P: s = 2.2e4 cells/day, just above the saddle-node
    (~2.13e4) and below the transcritical point (~6.74e4), where dormancy is the only attractor
    and the vanished saddle-node leaves a slow "ghost" near y ~ 360: a mild perturbation decays
    with a small overshoot, a strong one makes a large excursion towards the ghost (tumour
    x10-x60) before the immune response brings it back. The response is steep but graded (no
    sharp all-or-none threshold in this smooth planar system).
    """
    from .integrator import rodas4
    P = PUBLISHED.with_(s=2.2e4) if P is None else P
    Q = P.nondim()
    dormant = [e for e in equilibria(P) if e.stable and 0 < e.y < ESCAPE_FRACTION / Q.beta]
    if not dormant:
        raise ValueError("no stable dormant state at these parameters")
    d = dormant[0]
    f = lambda u: qss_rhs_nd(u, Q)           # noqa: E731
    J = lambda u: qss_jac_nd(u, Q)           # noqa: E731
    out = []
    for k in depletion:
        r = rodas4(f, J, np.array([k * d.x, tumour_kick * d.y]), [0.0, tau_end], rtol=1e-8,
                   atol=1e-10)
        out.append({"depletion": k, "peak_ratio": float(r.y[:, 1].max() / d.y),
                    "final": r.y[-1].copy(), "t": r.t, "traj": r.y})
    return {"dormant": d, "runs": out, "params": P}
