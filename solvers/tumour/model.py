"""Kuznetsov tumour–immune models: parameters, right-hand sides and Jacobians.

Owns the plain-data parameter sets and the vector fields; integrators and analysis live in
``integrator.py`` and ``analysis.py``. Every right-hand side is written with ``np.*`` functions
and array methods only (``np.stack``, arithmetic, indexing), so a NEP-13/18 tracer can run it on
traced arrays.

Models
------
Five compartments (Kuznetsov, Makalkin, Taylor & Perelson 1994), dimensional, cells and days::

    E + T  <-> C      (k1 forward, km1 back)
    C  -> E  + T*     (k2: effector survives, tumour cell lethally hit)
    C  -> E* + T      (k3: effector inactivated, tumour cell survives)

    dE/dt  = s + f C/(g+T) - d1 E - k1 E T + (km1 + k2) C
    dT/dt  = a T (1 - b T_tot) - k1 E T + (km1 + k3) C
    dC/dt  = k1 E T - (km1 + k2 + k3) C
    dE*/dt = k3 C - d2 E*
    dT*/dt = k2 C - d3 T*

with ``T_tot = T`` (default) or ``T + C`` (``logistic_on_total=True``, Kuznetsov's choice).

Quasi-steady state (dC/dt = 0, so C = K E T with K = k1/(km1+k2+k3)) turns the E and T
equations into the published 2-D model::

    dE/dt = s + p E T/(g+T) - m E T - d E
    dT/dt = a T (1 - b T) - n E T

with p = f K, m = k3 K, n = k2 K, d = d1 (exact when ``T_tot = T``).

Nondimensional form: x = E/E0, y = T/T0, tau = n T0 t (E0 = T0 = 1e6 cells)::

    dx/dtau = sigma + rho x y/(eta+y) - mu x y - delta x
    dy/dtau = alpha y (1 - beta y) - x y

sigma = s/(n E0 T0), rho = p/(n T0), eta = g/T0, mu = m/n, delta = d/(n T0),
alpha = a/(n T0), beta = b T0 (the last uses E0 = T0, as in the paper).
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, replace

import numpy as np

E0_CELLS = 1.0e6
T0_CELLS = 1.0e6


@dataclass(frozen=True)
class QSSParams:
    """Parameters of the quasi-steady-state 2-D model (dimensional).

    Defaults are the published values (Kuznetsov et al. 1994, fitted to BCL1 lymphoma in mice).
    """
    s: float = 1.3e4        # cells/day, normal (non-tumour-stimulated) effector influx
    p: float = 0.1245       # /day, maximal tumour-stimulated recruitment rate
    g: float = 2.019e7      # cells, half-saturation of recruitment
    m: float = 3.422e-10    # /cell/day, effector inactivation by tumour cells
    d: float = 0.0412       # /day, effector death rate
    a: float = 0.18         # /day, tumour growth rate
    b: float = 2.0e-9       # /cell, inverse tumour carrying capacity
    n: float = 1.101e-7     # /cell/day, tumour kill rate by effectors
    E0: float = E0_CELLS    # cells, effector scale
    T0: float = T0_CELLS    # cells, tumour scale

    def with_(self, **changes: float) -> "QSSParams":
        return replace(self, **changes)

    def nondim(self) -> "NondimParams":
        tau_rate = self.n * self.T0  # 1/day; tau = n T0 t
        return NondimParams(
            sigma=self.s / (self.n * self.E0 * self.T0),
            rho=self.p / tau_rate,
            eta=self.g / self.T0,
            mu=self.m / self.n,
            delta=self.d / tau_rate,
            alpha=self.a / tau_rate,
            beta=self.b * self.T0,
            e_over_t=self.E0 / self.T0,
        )

    @property
    def time_scale_days(self) -> float:
        """Days per unit of nondimensional time tau."""
        return 1.0 / (self.n * self.T0)


PUBLISHED = QSSParams()


@dataclass(frozen=True)
class NondimParams:
    """Nondimensional QSS parameters (see module docstring)."""
    sigma: float
    rho: float
    eta: float
    mu: float
    delta: float
    alpha: float
    beta: float
    e_over_t: float = 1.0   # E0/T0; 1 for the paper's scaling

    def as_dict(self) -> dict:
        return asdict(self)


# ---------------------------------------------------------------------------------------------
# QSS 2-D model
# ---------------------------------------------------------------------------------------------

def qss_rhs(u, P: QSSParams):
    """Dimensional QSS vector field; u = [E, T] in cells, returns cells/day."""
    E, T = u[0], u[1]
    dE = P.s + P.p * E * T / (P.g + T) - P.m * E * T - P.d * E
    dT = P.a * T * (1.0 - P.b * T) - P.n * E * T
    return np.stack([dE, dT])


def qss_jac(u, P: QSSParams):
    E, T = u[0], u[1]
    rec = P.p * T / (P.g + T)
    drec_dT = P.p * P.g / (P.g + T) ** 2
    return np.stack([
        np.stack([rec - P.m * T - P.d, E * drec_dT - P.m * E]),
        np.stack([-P.n * T, P.a * (1.0 - 2.0 * P.b * T) - P.n * E]),
    ])


def qss_rhs_nd(u, Q: NondimParams):
    """Nondimensional QSS vector field; u = [x, y], derivative with respect to tau."""
    x, y = u[0], u[1]
    dx = Q.sigma + Q.rho * x * y / (Q.eta + y) - Q.mu * x * y - Q.delta * x
    dy = Q.alpha * y * (1.0 - Q.beta * y) - Q.e_over_t * x * y
    return np.stack([dx, dy])


def qss_jac_nd(u, Q: NondimParams):
    x, y = u[0], u[1]
    rec = Q.rho * y / (Q.eta + y)
    drec = Q.rho * Q.eta / (Q.eta + y) ** 2
    return np.stack([
        np.stack([rec - Q.mu * y - Q.delta, x * drec - Q.mu * x]),
        np.stack([-Q.e_over_t * y, Q.alpha * (1.0 - 2.0 * Q.beta * y) - Q.e_over_t * x]),
    ])


# ---------------------------------------------------------------------------------------------
# Five-compartment model
# ---------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class KuznetsovRates:
    """Rate constants of the five-compartment model (dimensional: cells, days)."""
    s: float        # cells/day, effector influx
    f: float        # /day, conjugate-stimulated recruitment (p = f K)
    g: float        # cells, half-saturation
    d1: float       # /day, effector death
    d2: float       # /day, clearance of inactivated effectors E*
    d3: float       # /day, clearance of lethally hit tumour cells T*
    a: float        # /day, tumour growth
    b: float        # /cell, inverse carrying capacity
    k1: float       # /cell/day, conjugate formation
    km1: float      # /day, conjugate dissociation
    k2: float       # /day, conjugate -> E + T* (kill)
    k3: float       # /day, conjugate -> E* + T (effector inactivation)
    logistic_on_total: bool = False

    @property
    def K(self) -> float:
        """Conjugate equilibrium constant C/(E T) at quasi-steady state, /cell."""
        return self.k1 / (self.km1 + self.k2 + self.k3)

    @property
    def conjugate_rate(self) -> float:
        """Relaxation rate of C towards K E T, /day (the fast rate)."""
        return self.km1 + self.k2 + self.k3

    def qss(self, E0: float = E0_CELLS, T0: float = T0_CELLS) -> QSSParams:
        K = self.K
        return QSSParams(s=self.s, p=self.f * K, g=self.g, m=self.k3 * K, d=self.d1,
                         a=self.a, b=self.b, n=self.k2 * K, E0=E0, T0=T0)

    @classmethod
    def from_qss(cls, P: QSSParams, k1: float = 1.3e-7, km1: float = 24.0,
                 d2: float = 0.1, d3: float = 0.1) -> "KuznetsovRates":
        """Rates whose QSS reduction is exactly ``P``, given k1 and km1.

        From n = k2 K, m = k3 K and K (km1 + k2 + k3) = k1: K = (k1 - n - m)/km1,
        k2 = n/K, k3 = m/K, f = p/K.
        """
        K = (k1 - P.n - P.m) / km1
        if K <= 0:
            raise ValueError("k1 must exceed n + m for a positive conjugate constant")
        return cls(s=P.s, f=P.p / K, g=P.g, d1=P.d, d2=d2, d3=d3, a=P.a, b=P.b,
                   k1=k1, km1=km1, k2=P.n / K, k3=P.m / K)

    def with_fast_rates(self, factor: float) -> "KuznetsovRates":
        """Multiply the fast rates km1, k2, k3 (and f) by ``factor`` at fixed k1: the conjugate
        relaxation rate grows by ``factor`` and K = k1/(km1+k2+k3) falls by it, while n = k2 K,
        m = k3 K and p = f K, so the QSS model, stay fixed. As factor -> infinity the
        five-compartment model tends to the published QSS model (conjugates become both fast
        and few)."""
        return replace(self, km1=self.km1 * factor, k2=self.k2 * factor, k3=self.k3 * factor,
                       f=self.f * factor)

    def with_separation(self, factor: float) -> "KuznetsovRates":
        """Multiply the conjugate relaxation rate by ``factor`` keeping K, k2, k3 (so the QSS
        model) fixed: km1' = factor (km1+k2+k3) - k2 - k3, k1' = K (km1'+k2+k3) = factor k1."""
        rate = factor * self.conjugate_rate
        km1 = rate - self.k2 - self.k3
        if km1 < 0:
            raise ValueError("factor too small: dissociation rate would be negative")
        return replace(self, km1=km1, k1=self.K * rate)


#: EXAMPLE rate set (not published as such): k1 = 1.3e-7 /cell/day and km1 = 24 /day are
#: Kuznetsov's order of magnitude for conjugate kinetics; k2, k3, f are then chosen so the QSS
#: reduction gives exactly the published n, m, p. d2, d3 (clearance of E*, T*) do not feed back
#: and are placeholders. Gives K ~ 8.1e-10 /cell, k2 ~ 135/day, k3 ~ 0.42/day, a fast rate
#: km1+k2+k3 ~ 160/day against tumour growth a = 0.18/day.
EXAMPLE_RATES = KuznetsovRates.from_qss(PUBLISHED)


def five_rhs(u, R: KuznetsovRates):
    """Five-compartment vector field; u = [E, T, C, E*, T*] in cells, returns cells/day."""
    E, T, C, Es, Ts = u[0], u[1], u[2], u[3], u[4]
    T_tot = T + C if R.logistic_on_total else T
    bind = R.k1 * E * T
    dE = R.s + R.f * C / (R.g + T) - R.d1 * E - bind + (R.km1 + R.k2) * C
    dT = R.a * T * (1.0 - R.b * T_tot) - bind + (R.km1 + R.k3) * C
    dC = bind - (R.km1 + R.k2 + R.k3) * C
    dEs = R.k3 * C - R.d2 * Es
    dTs = R.k2 * C - R.d3 * Ts
    return np.stack([dE, dT, dC, dEs, dTs])


def five_jac(u, R: KuznetsovRates):
    E, T, C = u[0], u[1], u[2]
    z = 0.0 * E
    tot = 1.0 if R.logistic_on_total else 0.0
    T_tot = T + tot * C
    dE_dE = -R.d1 - R.k1 * T
    dE_dT = -R.f * C / (R.g + T) ** 2 - R.k1 * E
    dE_dC = R.f / (R.g + T) + R.km1 + R.k2
    dT_dE = -R.k1 * T
    dT_dT = R.a * (1.0 - R.b * T_tot) - R.a * R.b * T - R.k1 * E
    dT_dC = -tot * R.a * R.b * T + R.km1 + R.k3
    rows = [
        [dE_dE, dE_dT, dE_dC, z, z],
        [dT_dE, dT_dT, dT_dC, z, z],
        [R.k1 * T, R.k1 * E, z - (R.km1 + R.k2 + R.k3), z, z],
        [z, z, z + R.k3, z - R.d2, z],
        [z, z, z + R.k2, z, z - R.d3],
    ]
    return np.stack([np.stack(r) for r in rows])
