"""Tumour–immune dynamics (Kuznetsov et al. 1994): five-compartment and QSS models, our
RODAS4 stiff integrator, phase-plane / bifurcation analysis and timescale reduction.

Never imports archsim. See README.md.
"""
from .analysis import (Branch, Equilibrium, bifurcation_scan, continuation, equilibria,
                       excitability, nullclines, regime, regime_codes, regime_map, separatrix)
from .integrator import OdeResult, rodas4, rodas4_fixed, rodas4_step
from .model import (EXAMPLE_RATES, PUBLISHED, KuznetsovRates, NondimParams, QSSParams,
                    five_jac, five_rhs, qss_jac, qss_jac_nd, qss_rhs, qss_rhs_nd)
from .timescale import (integrate_five, integrate_qss, integrate_reduced, reduced_rhs,
                        reduction_error, run_stiff, slow_manifold_state)

__all__ = [
    "Branch", "Equilibrium", "bifurcation_scan", "continuation", "equilibria", "excitability",
    "nullclines", "regime", "regime_codes", "regime_map", "separatrix", "OdeResult", "rodas4",
    "rodas4_fixed", "rodas4_step", "EXAMPLE_RATES", "PUBLISHED", "KuznetsovRates",
    "NondimParams", "QSSParams", "five_jac", "five_rhs", "qss_jac", "qss_jac_nd", "qss_rhs",
    "qss_rhs_nd", "integrate_five", "integrate_qss", "integrate_reduced", "reduced_rhs",
    "reduction_error", "run_stiff", "slow_manifold_state",
]
