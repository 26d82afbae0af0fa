r"""CG-VAMP: VAMP whose LMMSE stage is k conjugate-gradient steps (Takeuchi & Wen 2017;
Skuratovs & Davies 2020), warm-started, with an adaptive k and a corrected divergence.

LMMSE stage in the "dual" form (v = 1/g2, s_w^2 = 1/g_w):
    x2 = r2 + v A^T mu,     W mu = b,     W = s_w^2 I_M + v A A^T,   b = y - A r2,
which equals (g_w A^T A + g2 I)^{-1}(g_w A^T y + g2 r2) when mu is exact.  CG runs from mu_0
(0 cold; the previous iteration's mu warm) until ||W mu_j - b|| <= tol ||b|| or j = k_max.

Divergence of the k-step CG map (what VAMP's Onsager term needs)
----------------------------------------------------------------
The exact stage has alpha2 = 1 - (v/N) tr(W^{-1} A A^T).  CG does not apply W^{-1}: after k
steps, mu_k = mu_0 + P_k(W) res_0 with res_0 = b - W mu_0 and P_k the CG polynomial of degree
k-1 (P_0 = 0).  Its coefficients are computed from inner products of b, so the map is
nonlinear; but each coefficient is a ratio of O(N) sums, whose gradient w.r.t. b has norm
O(1/sqrt(N)) times O(1) vectors, so the coefficient variation adds a rank-k term to the
Jacobian whose trace is O(k) while tr P_k(W) A A^T is O(N).  In the large-system limit we
may therefore *freeze* the coefficients (mu_0 is a constant at this iteration):
    d x2 / d r2 = I - v A^T P_k(W) A,
    alpha2_CG   = 1 - (v/N) tr( P_k(W) A A^T ) = 1 - (v/N) sum_i P_k(s_w^2 + v s_i^2) s_i^2 .
Our exact method ("spectral"): run CG's scalar recurrences on the M eigenvalues
w_i = s_w^2 + v s_i^2 of W alongside the vector recurrences,
    P_{j+1} = P_j + a_j Q_j,   R_{j+1} = R_j - a_j w Q_j,   Q_{j+1} = R_{j+1} + b_j Q_j,
    (R_0 = Q_0 = 1, P_0 = 0;  a_j, b_j the CG step sizes), costing O(M) per step and no
operator product; it needs the singular values, which all our operators provide cheaply.
When they are unknown, "hutchinson" runs the same recurrences on L probe vectors
g = A A^T zeta (Rademacher zeta), giving zeta^T P_k(W) A A^T zeta with one extra W product per
CG step per probe (no finite-N guard there).  "lmmse" uses the exact-stage formula (the common
shortcut; wrong for small k, kept as an ablation).  The test suite checks alpha2_CG against a
finite-difference Jacobian trace of the full nonlinear CG map (within 2% for k = 1, 3, 8).

Finite-N guard: the frozen-coefficient argument needs k << M.  Once CG starts resolving
individual eigenvalues, the residual polynomial explodes at eigenvalues that res_0 barely
excites (there the neglected coefficient derivatives are no longer small; in the large-system
regime |R_k| stays below ~2 on the spectrum).  We then use the exact-stage trace
tr(W^{-1} A A^T) instead, as we also do once the relative residual ||W mu_k - b||/||b|| is
below ``exact_tol`` (1e-2; in our runs the two traces then agree within 1%).  The switch fires
when max_i |R_k(w_i)| > ``resolve_bound`` (100) or the residual test passes; in our runs the
explosion (|R| ~ 1e2-1e3) only appeared with relative residuals ~1e-3 and below.

EM noise learning uses the exact-stage trace sum s_i^2/(g_w s_i^2 + g2) (needs the spectrum).
The warm start makes mu_0 depend on past messages; the frozen-coefficient divergence is still
the derivative w.r.t. the current r2, but the r1 errors then correlate with earlier messages,
which VAMP's state evolution does not model.  An exact treatment would need extra
correction terms for that correlation; we add none (measured effect: benchmarks/RESULTS.md).
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .history import Result
from .vamp import LmmseOutput, vamp


@dataclass
class CgLmmse:
    """k-step CG LMMSE stage; ``k_max`` caps steps, ``tol`` stops on relative residual."""

    k_max: int = 20
    tol: float = 0.0
    warm_start: bool = True
    divergence: str = "spectral"  # "spectral" | "hutchinson" | "lmmse"
    probes: int = 1
    resolve_bound: float = 100.0
    exact_tol: float = 1e-2
    floor: float = 1e-12  # relative residual below which CG steps are no-ops (breakdown guard)
    rng: np.random.Generator | None = None
    _mu: np.ndarray | None = field(default=None, repr=False)

    name = "cg"

    def reset(self) -> None:
        self._mu = None

    def __call__(self, y, op, r2, gamma2, gamma_w) -> LmmseOutput:
        m, n = op.shape
        v = 1.0 / gamma2
        nv = 1.0 / gamma_w
        products = 1

        def w_apply(u):
            return nv * u + v * op.matvec(op.rmatvec(u))

        b = y - op.matvec(r2)
        if self.warm_start and self._mu is not None:
            mu = self._mu
            res = b - w_apply(mu)
            products += 2
        else:
            mu = np.zeros(m)
            res = b
        s = op.singular_values
        lam = s**2 if s is not None else None
        if self.divergence == "spectral" and lam is None:
            raise ValueError("spectral CG divergence needs singular values; use 'hutchinson'")
        wv = nv + v * lam if lam is not None else None
        pol_p = np.zeros(m) if lam is not None else None
        pol_r = np.ones(m) if lam is not None else None
        pol_q = np.ones(m) if lam is not None else None
        probes = []
        if self.divergence == "hutchinson":
            rng = self.rng if self.rng is not None else np.random.default_rng(0)
            for _ in range(self.probes):
                zeta = rng.choice(np.array([-1.0, 1.0]), size=m)
                g = op.matvec(op.rmatvec(zeta))
                probes.append([zeta, np.zeros(m), g, g])  # zeta, P g, R g, Q g
                products += 2
        p = res
        rr = np.sum(res * res)
        bnorm = np.sqrt(np.sum(b * b))
        steps = 0
        resolved = np.zeros((), dtype=bool)
        for _ in range(self.k_max):
            if self.tol > 0 and np.sqrt(rr) <= self.tol * bnorm:  # adaptive k (data-dependent)
                break
            wp = w_apply(p)
            products += 2
            # Breakdown guard, branch-free so tracers see one op sequence: once the residual is
            # at the floating-point floor, further steps would divide rounding noise by rounding
            # noise (at k = M that went to NaN); they become no-ops (a = beta = 0) instead.
            live = rr > (self.floor * bnorm) ** 2
            pwp = np.sum(p * wp)
            a = np.where(live & (pwp > 0), rr / np.where(pwp > 0, pwp, 1.0), 0.0)
            mu = mu + a * p
            res = res - a * wp
            rr_new = np.sum(res * res)
            beta = np.where(live, rr_new / np.where(live, rr, 1.0), 0.0)
            rr = np.where(live, rr_new, rr)
            p = res + beta * p
            if pol_p is not None:
                pol_p = pol_p + a * pol_q
                pol_r = pol_r - a * wv * pol_q
                pol_q = pol_r + beta * pol_q
                resolved = resolved | (np.max(np.abs(pol_r)) > self.resolve_bound)
            for pr in probes:
                pr[1] = pr[1] + a * pr[3]
                pr[2] = pr[2] - a * w_apply(pr[3])
                pr[3] = pr[2] + beta * pr[3]
                products += 2
            steps += 1
        resolved = resolved | (np.sqrt(rr) <= self.exact_tol * bnorm)
        self._mu = mu
        x2 = r2 + v * op.rmatvec(mu)
        products += 1
        if self.divergence == "spectral":  # np.where keeps the switch branch-free for tracers
            tr = np.where(resolved, np.sum(lam / wv), np.sum(pol_p * lam))
        elif self.divergence == "hutchinson":
            tr = sum(np.sum(pr[0] * pr[1]) for pr in probes) / len(probes)
        elif self.divergence == "lmmse":
            tr = np.sum(lam / wv)
        else:
            raise ValueError(f"unknown CG divergence {self.divergence!r}")
        alpha2 = 1.0 - v * tr / n
        em_trace = np.sum(lam / (gamma_w * lam + gamma2)) if lam is not None else None
        resid = y - op.matvec(x2)
        products += 1
        return LmmseOutput(x2=x2, alpha2=alpha2, em_trace=em_trace,
                           residual_sq=np.sum(resid * resid), cg_iters=steps,
                           operator_products=products)


def cg_vamp(y, op, denoiser, iters: int = 20, *, noise_var: float, k: int = 20,
            tol: float = 0.0, warm_start: bool = True, cg_divergence: str = "spectral",
            **vamp_kwargs) -> Result:
    """VAMP with the CG LMMSE stage; other keywords as ``solvers.cs.vamp.vamp``."""
    stage = CgLmmse(k_max=k, tol=tol, warm_start=warm_start, divergence=cg_divergence,
                    rng=vamp_kwargs.get("rng"))
    return vamp(y, op, denoiser, iters, noise_var=noise_var, lmmse=stage, **vamp_kwargs)
