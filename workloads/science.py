"""Numerical science as traced workloads: real numpy code run under archsim.trace.

Self-contained: `cg` (conjugate gradient on a dense SPD system) and `jacobi` (5-point Jacobi
sweeps on an n x n grid), written here in plain numpy. Wrappers around solvers/ (AMP, VAMP,
CG-VAMP from solvers.cs; the stiff tumour integrator and the bifurcation scan from
solvers.tumour; the flow-sculpting CNN from solvers.microfluidics) are registered only when
their entry points import, so this module imports cleanly whatever solvers/ holds.

Each wrapper builds the problem untraced (operators, signals, weights are constants of the
graph), then traces the solver with its data arrays as traced inputs. Loop iterations fold
into attrs["repeat"], so `iters` does not grow the graph.
"""
from __future__ import annotations

import numpy as np

from archsim.errors import WorkloadError
from archsim.graph.graph import Graph
from archsim.graph.registry import register_workload
from archsim.trace import trace

_NP_DTYPES = {"fp64": np.float64, "fp32": np.float32}


def _np_dtype(dtype: str):
    try:
        return _NP_DTYPES[dtype]
    except KeyError:
        raise ValueError(f"dtype must be one of {sorted(_NP_DTYPES)}, got {dtype!r}") from None


# ---- self-contained kernels ---------------------------------------------------------------------
def conjugate_gradient(A, b, iters: int):
    """`iters` CG steps for A x = b from x = 0 (no convergence test: a fixed amount of work).

    Per step: one matvec (2n^2 flops), two dot products (2n each), three axpy-style updates
    (2n each: a scale and an add) and two scalar divisions.
    """
    x = np.zeros_like(b)
    r = b - A @ x
    p = r.copy()
    rs = r @ r
    for _ in range(iters):
        Ap = A @ p
        alpha = rs / (p @ Ap)
        x += alpha * p
        r -= alpha * Ap
        rs_new = r @ r
        p = r + (rs_new / rs) * p
        rs = rs_new
    return x


def jacobi_sweeps(u, f, iters: int, h: float):
    """`iters` Jacobi sweeps for -Laplace(u) = f on a grid with fixed boundary values.

    Per sweep on the (n-2)^2 interior: h^2 f (1 mul), four neighbour adds, a scale by 1/4,
    written back into u's interior (the right side is evaluated before the write: Jacobi).
    """
    h2 = h * h
    for _ in range(iters):
        u[1:-1, 1:-1] = 0.25 * (u[:-2, 1:-1] + u[2:, 1:-1] + u[1:-1, :-2] + u[1:-1, 2:]
                                + h2 * f[1:-1, 1:-1])
    return u


def spd_system(n: int, seed: int = 0, dtype=np.float64):
    """A well-conditioned dense SPD matrix (shifted symmetric Gaussian, O(n^2) to build) and b."""
    rng = np.random.default_rng(seed)
    R = rng.standard_normal((n, n))
    A = (R + R.T) * 0.5
    A[np.diag_indices(n)] += 2.0 * np.sqrt(2.0 * n)
    return A.astype(dtype), rng.standard_normal(n).astype(dtype)


def cg_problem(n: int = 1024, iters: int = 50, seed: int = 0):
    """Setup for `archsim trace workloads.science:cg_problem`: (fn, args) to trace."""
    A, b = spd_system(n, seed)
    return conjugate_gradient, (A, b, iters)


def jacobi_problem(n: int = 128, iters: int = 50, seed: int = 0):
    """Setup for `archsim trace workloads.science:jacobi_problem`: (fn, args) to trace."""
    rng = np.random.default_rng(seed)
    return jacobi_sweeps, (np.zeros((n, n)), rng.standard_normal((n, n)), iters, 1.0 / (n - 1))


@register_workload("cg", "conjugate gradient on a dense SPD n x n system, traced numpy "
                         "(iters steps, folded into repeats)",
                   bounds={"n": (1, None), "iters": (1, 10_000)},
                   host_bytes=lambda n, **_: 4 * 8 * n * n,
                   host_flops=lambda n, iters, **_: (iters + 2) * 2.0 * n * n)
def cg(n: int = 4096, iters: int = 100, dtype: str = "fp64", seed: int = 0) -> Graph:
    A, b = spd_system(n, seed, _np_dtype(dtype))
    return trace(conjugate_gradient, A, b, iters, name="cg")


@register_workload("jacobi", "5-point Jacobi iteration on an n x n grid, traced numpy",
                   bounds={"n": (3, None), "iters": (1, 10_000)},
                   host_bytes=lambda n, **_: 8 * 8 * n * n,
                   host_flops=lambda n, iters, **_: (iters + 1) * 10.0 * n * n)
def jacobi(n: int = 256, iters: int = 100, dtype: str = "fp64", seed: int = 0) -> Graph:
    rng = np.random.default_rng(seed)
    dt = _np_dtype(dtype)
    u = np.zeros((n, n), dt)
    f = rng.standard_normal((n, n)).astype(dt)
    return trace(jacobi_sweeps, u, f, iters, 1.0 / (n - 1), name="jacobi")


# ---- solvers/ wrappers (registered only when their entry points import) ----------------------
# Ranges that keep a compressed-sensing problem well posed (M = ratio * N rows, at most N), and
# the host memory its setup allocates: dense operators hold M x N (gaussian) or N x N factors
# (orthogonal, O(N^3) to build); the DCT ones are matrix-free (a few dozen length-N vectors).
_CS_BOUNDS = {"N": (8, None), "ratio": (1e-3, 1.0), "iters": (1, 1000), "rho": (1e-4, 1.0),
              "snr_db": (-20.0, 200.0), "condition_number": (1.0, 1e8), "tau": (0.0, 100.0)}

_CS_NO_TAU = {k: v for k, v in _CS_BOUNDS.items() if k != "tau"}  # VAMP has no threshold knob


def _cs_host_flops(N, ratio, iters=30, operator="gaussian", k=1, **_):
    """Per iteration: dense operators cost ~4 M N (A and A^T products, VAMP's LMMSE stage on
    the SVD), matrix-free DCT ones ~2000 N log N (the FFTs plus the tracer's own per-call cost,
    fitted so that 2e11 is about a minute: cg-vamp(iters=289) ran past 30 CPU s in the fuzz
    run); CG-VAMP does k of them; orthogonal setup is O(N^3)."""
    m = ratio * N
    per = 4.0 * m * N if operator in ("gaussian", "orthogonal") else 2000.0 * N * max(1, N.bit_length())
    setup = 10.0 * N ** 3 if operator == "orthogonal" else 0.0
    return setup + iters * per * max(1, k)


def _cs_host_bytes(N, ratio, operator="gaussian", **_):
    dense = {"gaussian": ratio, "orthogonal": 4.0}.get(operator, 0.0)
    return 8.0 * N * (N * dense + 64)


def _register_cs() -> None:
    try:
        from solvers.cs.amp import amp as amp_solver
        from solvers.cs.cgvamp import cg_vamp as cg_vamp_solver
        from solvers.cs.runs import make_denoiser, make_divergence, make_problem
        from solvers.cs.vamp import vamp as vamp_solver
    except Exception:  # noqa: BLE001 - solvers/ is being written; register what works
        return

    def problem(N, ratio, rho, snr_db, operator, condition_number, seed):
        rng = np.random.default_rng(seed)
        return make_problem(N, ratio, rho, snr_db, operator, condition_number, rng), rng

    @register_workload("amp", "D-AMP (soft thresholding / BG-MMSE) on a compressed-sensing "
                              "problem, traced from solvers.cs", bounds=_CS_BOUNDS,
                       host_bytes=_cs_host_bytes, host_flops=_cs_host_flops)
    def amp(N: int = 2000, ratio: float = 0.5, iters: int = 30, seed: int = 0,
            rho: float = 0.1, snr_db: float = 40.0, operator: str = "gaussian",
            condition_number: float = 1.0, denoiser: str = "soft", tau: float = 1.3,
            divergence: str = "exact") -> Graph:
        prob, rng = problem(N, ratio, rho, snr_db, operator, condition_number, seed)

        def run(y):
            return amp_solver(y, prob.op, make_denoiser(denoiser, rho, tau), iters,
                              divergence=make_divergence(divergence), noise_var=prob.noise_var,
                              rng=rng).x_hat
        return trace(run, prob.y, name="amp")

    @register_workload("vamp", "VAMP (exact LMMSE stage) on a compressed-sensing problem, "
                               "traced from solvers.cs", bounds=_CS_NO_TAU,
                       host_bytes=_cs_host_bytes, host_flops=_cs_host_flops)
    def vamp(N: int = 4096, ratio: float = 0.5, iters: int = 15, seed: int = 0,
             rho: float = 0.1, snr_db: float = 40.0, operator: str = "conditioned-dct",
             condition_number: float = 100.0, denoiser: str = "bg",
             divergence: str = "exact") -> Graph:
        prob, rng = problem(N, ratio, rho, snr_db, operator, condition_number, seed)

        def run(y):
            return vamp_solver(y, prob.op, make_denoiser(denoiser, rho, 1.3), iters,
                               noise_var=prob.noise_var, divergence=make_divergence(divergence),
                               rng=rng).x_hat
        return trace(run, prob.y, name="vamp")

    @register_workload("cg-vamp", "CG-VAMP (k CG steps per LMMSE stage, warm-started) on a "
                                  "compressed-sensing problem, traced from solvers.cs",
                       bounds=_CS_NO_TAU | {"k": (1, 100_000)}, host_bytes=_cs_host_bytes,
                       host_flops=_cs_host_flops)
    def cg_vamp(N: int = 16384, ratio: float = 0.2, k: int = 20, iters: int = 10,
                seed: int = 0, rho: float = 0.04, snr_db: float = 40.0,
                operator: str = "conditioned-dct", condition_number: float = 100.0,
                denoiser: str = "bg", divergence: str = "exact",
                warm_start: bool = True) -> Graph:
        prob, rng = problem(N, ratio, rho, snr_db, operator, condition_number, seed)

        def run(y):
            return cg_vamp_solver(y, prob.op, make_denoiser(denoiser, rho, 1.3), iters,
                                  noise_var=prob.noise_var, k=k, warm_start=warm_start,
                                  divergence=make_divergence(divergence), rng=rng).x_hat
        return trace(run, prob.y, name="cg-vamp")


def _register_tumour() -> None:
    try:
        from solvers.tumour.analysis import regime_codes
        from solvers.tumour.integrator import rodas4_fixed
        from solvers.tumour.model import EXAMPLE_RATES, PUBLISHED, five_jac, five_rhs
        from solvers.tumour.timescale import slow_manifold_state
    except Exception:  # noqa: BLE001
        return

    @register_workload("tumour-stiff", "fixed-step RODAS4 on the stiff five-compartment "
                                       "tumour-immune model, traced from solvers.tumour",
                       bounds={"n_steps": (1, 100_000), "t_end": (1e-9, 1e6),
                               "separation": (1e-6, 1e6)},
                       host_flops=lambda n_steps, **_: 1e5 * n_steps)
    def tumour_stiff(n_steps: int = 200, t_end: float = 30.0, separation: float = 1.0,
                     seed: int = 0) -> Graph:
        rng = np.random.default_rng(seed)
        R = EXAMPLE_RATES.with_separation(separation)
        u0 = slow_manifold_state(10.0 ** rng.uniform(5.0, 6.0), 10.0 ** rng.uniform(6.0, 8.0), R)

        def run(u0):
            return rodas4_fixed(lambda u: five_rhs(u, R), lambda u: five_jac(u, R), u0, t_end,
                                n_steps).y
        return trace(run, np.asarray(u0, float), name="tumour-stiff")

    @register_workload("tumour-scan", "vectorised one-parameter regime scan of the QSS "
                                      "tumour-immune model, traced from solvers.tumour",
                       bounds={"n_points": (1, 10**7)},
                       host_bytes=lambda n_points, **_: 64 * 8 * n_points,
                       host_flops=lambda n_points, **_: 1e4 * n_points)
    def tumour_scan(n_points: int = 400, param: str = "s", lo: float = 1.0e2,
                    hi: float = 1.0e5) -> Graph:
        def run(values):
            return regime_codes(PUBLISHED, **{param: values})
        graph = trace(run, np.linspace(lo, hi, n_points), name="tumour-scan")
        if len(graph) == 0:
            where = "; ".join(f"{e['where']} ({e['kind']}: `{e['code']}`)"
                              for e in graph.attrs["escapes"]) or "no escape recorded"
            raise WorkloadError("tumour-scan: the scan left the trace before any numpy work "
                                f"was recorded, at {where}; the solver must keep its "
                                "parameter arrays as arrays (no np.asarray on them)")
        return graph


def _register_microfluidics() -> None:
    try:
        from solvers.microfluidics.cnn import FlowCNN, _random_shapes, softmax_xent
    except Exception:  # noqa: BLE001
        return

    @register_workload("flow-cnn-numpy", "the flow-sculpting next-pillar CNN in numpy "
                                         "(inference, or a training step), traced from "
                                         "solvers.microfluidics", bounds={"batch": (1, 1024)})
    def flow_cnn_numpy(batch: int = 32, seed: int = 0, train: bool = False) -> Graph:
        rng = np.random.default_rng(seed)
        model = FlowCNN(rng)
        x, labels = _random_shapes(batch, rng)

        def run(x):
            logits, cache = model.forward(x)
            if not train:
                return logits
            _, dlogits = softmax_xent(logits, labels)
            return model.backward(cache, dlogits)
        return trace(run, x, name="flow-cnn-numpy")


_register_cs()
_register_tumour()
_register_microfluidics()
