"""The numpy tracer: graphs of real solvers, hand-counted flops, folding, escapes, coverage."""
from __future__ import annotations

import warnings

import numpy as np
import pytest

from archsim.errors import UserError
from archsim.trace import TraceEscapeError, TraceWarning, trace, trace_callable
from workloads.science import conjugate_gradient, jacobi_sweeps, spd_system


def _quiet_trace(*args, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", TraceWarning)
        return trace(*args, **kwargs)


def _ops(g, kind, **attrs):
    return [op for op in g.ops if op.kind == kind
            and all(op.attrs.get(k) == v for k, v in attrs.items())]


# ---- conjugate gradient -------------------------------------------------------------------------
def cg_hand_flops(n: int, iters: int) -> int:
    setup = 2 * n * n + n + 2 * n            # r = b - A x0 (matvec + sub), rs = r.r
    per_iter = (2 * n * n                    # A p
                + 2 * n + 1                  # p.Ap, alpha = rs / p.Ap
                + 2 * n + 2 * n              # x += alpha p ; r -= alpha Ap (scale + add each)
                + 2 * n + 1                  # rs_new = r.r, beta = rs_new / rs
                + 2 * n)                     # p = r + beta p
    return setup + iters * per_iter


def test_cg_graph_matches_algorithm():
    n, iters = 48, 3
    A, b = spd_system(n)
    g = trace(conjugate_gradient, A, b, iters, aggregate=False)
    gemms = _ops(g, "gemm")
    assert len(gemms) == 2 + 3 * iters       # setup matvec + dot, then matvec + 2 dots per step
    matvecs = [op for op in gemms if (op.attrs["M"], op.attrs["N"], op.attrs["K"]) == (n, 1, n)]
    dots = [op for op in gemms if (op.attrs["M"], op.attrs["N"], op.attrs["K"]) == (1, 1, n)]
    assert len(matvecs) == 1 + iters and len(dots) == 1 + 2 * iters
    assert all(op.inputs[0].name == "A" and op.inputs[0].shape == (n, n) for op in matvecs)
    ew = _ops(g, "elementwise")
    assert len(ew) == 2 + 8 * iters   # fill, sub; per step div, mul, add, mul, sub, div, mul, add
    assert sum(1 for op in ew if op.outputs[0].shape == ()) == 2 * iters  # the scalar divisions
    assert g.count_by_kind() == {"copy": 1, "elementwise": 2 + 8 * iters, "gemm": 2 + 3 * iters}
    (fill,) = [op for op in ew if op.attrs.get("fill")]   # x = zeros_like(b): a memset
    assert fill.inputs == () and fill.flops == 0 and fill.bytes == 8 * n
    assert g.flops == cg_hand_flops(n, iters)
    # the traced run computes the real thing
    x_ref = conjugate_gradient(A, b, iters)
    assert g.attrs["outputs"] and g.attrs["escapes"] == []
    assert np.isfinite(x_ref).all()


def test_cg_folded_equals_unfolded_and_is_small():
    n, iters = 32, 1000
    A, b = spd_system(n)
    raw = trace(conjugate_gradient, A, b, iters, aggregate=False)
    g = trace(conjugate_gradient, A, b, iters)
    assert len(raw) == 5 + 11 * iters
    assert len(g) <= 5 + 11 * 3              # a few iterations, not a thousand
    assert (g.flops, g.bytes) == (raw.flops, raw.bytes) == (g.flops, raw.bytes)
    assert g.flops == cg_hand_flops(n, iters)
    assert g.attrs["aggregation"] == "folded"
    reps = {op.attrs.get("repeat", 1) for op in g.ops}
    assert max(reps) >= iters - 2
    by_kind = lambda gr: {k: sum(op.flops for op in gr.ops if op.kind == k)  # noqa: E731
                          for k in gr.count_by_kind()}
    assert by_kind(g) == by_kind(raw)
    assert g.attrs["loops"] and all(v["count"] >= 2 for v in g.attrs["loops"].values())
    names = {t.name for op in g.ops for t in op.outputs}
    assert all(t.name in names or t.role != "activation" for op in g.ops for t in op.inputs)


# ---- Jacobi -------------------------------------------------------------------------------------
def test_jacobi_graph_and_hand_count():
    n, iters = 20, 4
    rng = np.random.default_rng(1)
    u0, f = np.zeros((n, n)), rng.standard_normal((n, n))
    g = trace(jacobi_sweeps, u0.copy(), f, iters, 0.1, aggregate=False)
    m = (n - 2) ** 2
    # per sweep: 4 neighbour slices of u + 1 slice of f (views), h2*f, 4 adds, *0.25, write-back
    assert g.count_by_kind() == {"elementwise": 6 * iters, "scatter": iters, "view": 5 * iters}
    assert all(op.outputs[0].shape == (n - 2, n - 2) for op in _ops(g, "elementwise"))
    assert {op.outputs[0].shape for op in _ops(g, "view")} == {(n - 2, n - 2)}
    assert all(op.attrs["elements"] == m and op.outputs[0].shape == (n, n)
               for op in _ops(g, "scatter"))
    assert g.flops == iters * 6 * m
    # sweep k reads the u written by sweep k-1: a chain of scatters
    scatters = _ops(g, "scatter")
    for a, b in zip(scatters, scatters[1:]):
        assert b.inputs[0].name == a.outputs[0].name
    # same numbers as the untraced code
    ref = jacobi_sweeps(u0.copy(), f, iters, 0.1)
    assert np.isfinite(ref).all()
    folded = trace(jacobi_sweeps, u0.copy(), f, 200, 0.1)
    assert len(folded) <= 3 * 12 and folded.flops == 200 * 6 * m


def test_nested_loops_fold_and_stay_exact():
    def fn(x, w):
        for _ in range(30):
            for _ in range(20):
                x = np.tanh(w @ x)
            x = x / np.linalg.norm(x)
        return x
    rng = np.random.default_rng(0)
    x, w = rng.standard_normal(16), rng.standard_normal((16, 16))
    raw = trace(fn, x, w, aggregate=False)
    g = trace(fn, x, w)
    assert (g.flops, g.bytes) == (raw.flops, raw.bytes)
    assert len(raw) == 30 * (40 + 4) and len(g) < 60
    assert any(len(op.attrs.get("loops", ())) == 2 for op in g.ops)


def test_reading_every_iteration_after_the_loop_stays_exact():
    def fn(x):
        ys = []
        for _ in range(50):
            x = x * 0.5 + 1.0
            ys.append(x)
        return np.stack(ys)
    x = np.ones(8)
    raw, g = trace(fn, x, aggregate=False), trace(fn, x)
    assert (g.flops, g.bytes) == (raw.flops, raw.bytes) and len(g) < 10
    (cat,) = _ops(g, "concat")
    assert len(cat.inputs) == 50 and cat.outputs[0].shape == (50, 8)


# ---- escapes ------------------------------------------------------------------------------------
def _branchy(x):
    s = np.sum(x)
    if s > 0:                                # line A: bool()
        x = x * 2
    t = float(np.max(x))                     # line B: float()
    y = np.asarray(x)                        # line C: __array__
    return x + t + y.sum()


def test_escapes_recorded_with_lines_and_warned():
    import inspect
    src, start = inspect.getsourcelines(_branchy)
    line_of = {k: start + i for i, l in enumerate(src) for k in ("A", "B", "C") if f"line {k}" in l}
    with pytest.warns(TraceWarning, match="escapes"):
        g = trace(_branchy, np.ones(5))
    esc = {e["kind"]: e for e in g.attrs["escapes"]}
    assert set(esc) == {"bool", "float", "asarray"}
    assert esc["bool"]["line"] == line_of["A"] and esc["float"]["line"] == line_of["B"]
    assert esc["asarray"]["line"] == line_of["C"] and "np.asarray" in esc["asarray"]["code"]
    assert all(e["file"].endswith("test_tracer.py") and e["count"] == 1 for e in esc.values())
    assert "test_tracer.py" in g.attrs["trace_report"]


def test_escape_counts_aggregate_per_site():
    def fn(x):
        for _ in range(10):
            if np.max(x) > 100:
                break
            x = x + 1
        return x
    g = _quiet_trace(fn, np.zeros(3))
    (e,) = g.attrs["escapes"]
    assert e["kind"] == "bool" and e["count"] == 10


def test_strict_mode_raises_clearly():
    with pytest.raises(TraceEscapeError, match=r"test_tracer.py:\d+: bool\(\).*strict=False"):
        trace(_branchy, np.ones(5), strict=True)
    with pytest.raises(TraceEscapeError, match="item"):
        trace(lambda x: x.sum().item(), np.ones(2), strict=True)
    assert issubclass(TraceEscapeError, UserError)


def test_shape_queries_and_iteration_are_not_escapes():
    def fn(x):
        total = x[0] * 0
        for row in x:                        # iteration over the first axis: traced views
            total = total + row
        return total * len(x) / x.shape[1]
    g = trace(fn, np.ones((4, 3)), strict=True, aggregate=False)
    assert g.count_by_kind()["view"] >= 4 and g.attrs["escapes"] == []


def test_unsupported_functions_are_reported_not_dropped():
    g = _quiet_trace(lambda x: np.sort(x) + 1, np.arange(5.0))
    (u,) = g.attrs["unsupported"]
    assert u["kind"] == "np.sort"
    (op,) = [op for op in g.ops if op.attrs.get("untraced")]
    assert op.kind == "copy" and op.outputs[0].shape == (5,)
    with pytest.raises(TraceEscapeError):
        trace(lambda x: np.sort(x), np.arange(5.0), strict=True)


# ---- numpy coverage -----------------------------------------------------------------------------
def test_matmul_family_and_einsum_shapes_and_flops():
    rng = np.random.default_rng(0)
    a, b = rng.standard_normal((3, 5, 7)), rng.standard_normal((3, 7, 4))
    v = rng.standard_normal(7)

    def fn(a, b, v):
        return (a @ b, np.einsum("bij,bjk->bik", a, b), np.einsum("bij,j->bi", a, v),
                np.dot(a[0], v), np.vdot(v, v), np.inner(v, v), np.outer(v, v),
                np.tensordot(a, b, ([2], [1])))
    g = trace(fn, a, b, v, aggregate=False)
    gm = _ops(g, "gemm")
    assert {k: gm[0].attrs[k] for k in ("M", "N", "K", "batch")} == \
        {"M": 5, "N": 4, "K": 7, "batch": 3}
    assert gm[0].outputs[0].shape == (3, 5, 4) and gm[1].outputs[0].shape == (3, 5, 4)
    assert gm[1].flops == gm[0].flops == 2 * 3 * 5 * 4 * 7
    assert gm[2].flops == 2 * 3 * 5 * 7 and gm[2].outputs[0].shape == (3, 5)
    assert gm[3].flops == 2 * 5 * 7 and gm[4].flops == gm[5].flops == 2 * 7
    chain = trace(lambda p, q: np.einsum("ij,jk,kl->il", p, q, q.T), a[0], b[0])
    assert chain.count_by_kind() == {"gemm": 2, "view": 1}  # q.T is a view
    assert chain.flops in (2 * 5 * 7 * 4 + 2 * 5 * 4 * 7, 2 * 7 * 4 * 7 + 2 * 5 * 7 * 7)
    assert gm[-1].outputs[0].shape == (3, 5, 3, 4) and gm[-1].flops == 2 * 15 * 12 * 7
    outer = [op for op in _ops(g, "elementwise") if op.outputs[0].shape == (7, 7)]
    assert outer and outer[0].flops == 49


def test_linalg_and_fft_records():
    rng = np.random.default_rng(0)
    M = rng.standard_normal((6, 6))
    A = M @ M.T + 6 * np.eye(6)

    def fn(A, x, X):
        L = np.linalg.cholesky(A)
        q, r = np.linalg.qr(A)
        w, V = np.linalg.eigh(A)
        s = np.linalg.svd(A, compute_uv=False)
        return (np.linalg.solve(A, x), np.linalg.inv(A), np.linalg.norm(x), L, q, r, w, s,
                np.fft.fft(x), np.fft.rfft(x), np.fft.irfft(np.fft.rfft(x), n=6), np.fft.fft2(X))
    g = trace(fn, A, rng.standard_normal(6), rng.standard_normal((4, 8)), aggregate=False)
    la = {op.attrs["fn"]: op for op in _ops(g, "linalg")}
    assert set(la) == {"cholesky", "qr", "eigh", "svd", "solve", "inv"}
    assert la["solve"].attrs["nrhs"] == 1 and la["solve"].flops == int(2 * 216 / 3 + 2 * 36)
    assert la["cholesky"].flops == int(216 / 3) and la["inv"].flops == 2 * 216
    assert [t.shape for t in la["qr"].outputs] == [(6, 6), (6, 6)]
    ffts = _ops(g, "fft")
    assert [(op.attrs["n"], op.attrs["batch"], op.attrs["real"]) for op in ffts] == \
        [(6, 1, False), (6, 1, True), (6, 1, True), (6, 1, True), (32, 1, False)]
    assert ffts[0].outputs[0].shape == (6,) and ffts[1].outputs[0].shape == (4,)
    assert ffts[-1].outputs[0].shape == (4, 8)


def test_scipy_fft_dct_through_backend():
    scipy_fft = pytest.importorskip("scipy.fft")
    g = trace(lambda x: scipy_fft.dct(x, norm="ortho") * 2, np.ones((3, 16)), strict=True)
    (op,) = _ops(g, "fft")
    assert (op.attrs["n"], op.attrs["batch"], op.attrs["real"]) == (16, 3, True)
    assert op.attrs["fn"] == "dct"


def test_indexing_views_gather_scatter_and_inplace():
    def fn(x, idx):
        v = x[1:3]                          # basic slice: a view
        g = x[idx]                           # integer array: gather
        m = x[x[:, 0] > 0]                   # boolean mask: gather
        t = x.T.reshape(-1)                  # transpose view, then a copying reshape
        x[idx] = 0.0                         # scatter
        np.add.at(x, idx, g)                 # scatter_add
        v += 1.0                             # in-place into a view: x gets a new version
        return x.sum(), g, m, t, v
    x = np.arange(12.0).reshape(4, 3) - 3
    idx = np.array([0, 2, 2])
    g = trace(fn, x, idx, aggregate=False, strict=True)
    kinds = [op.kind for op in g.ops]
    assert kinds.count("gather") == 2 and "scatter" in kinds and "scatter_add" in kinds
    gat = _ops(g, "gather")
    assert gat[0].outputs[0].shape == (3, 3) and gat[0].inputs[1].name == "idx"
    assert gat[1].attrs["mask"] and gat[1].outputs[0].shape == (int((x[:, 0] > 0).sum()), 3)
    sa = _ops(g, "scatter_add")[0]
    assert sa.flops == 9 and sa.attrs["n"] == 3
    assert _ops(g, "copy")[0].outputs[0].shape == (12,)
    upd = _ops(g, "view", alias="update")
    assert len(upd) == 1
    (red,) = _ops(g, "reduction")
    assert red.inputs[0].name == upd[0].outputs[0].name   # the sum sees the in-place update


def test_inplace_operators_and_out_versions():
    def fn(a, b):
        a += b
        a *= 2
        np.multiply(a, b, out=a)
        c = np.empty_like(a)
        np.add(a, 1, out=c)
        return c
    g = trace(fn, np.ones(4), np.ones(4), aggregate=False, strict=True)
    ew = _ops(g, "elementwise")
    assert [op.attrs["fn"] for op in ew] == ["add", "mul", "mul", "add"]
    for prev, nxt in zip(ew, ew[1:]):
        assert nxt.inputs[0].name == prev.outputs[0].name


def test_reductions_views_copies_concat_where_clip():
    def fn(x):
        return (x.sum(axis=0), x.mean(axis=1, keepdims=True), np.max(x), x.std(),
                np.linalg.norm(x, axis=1), x.astype(np.float32), np.copy(x), x.ravel(),
                np.concatenate([x, x], axis=1), np.stack([x, x]), np.where(x > 0, x, 0),
                np.clip(x, -1, 1), np.abs(x), np.sign(x), np.maximum(x, 0), np.sqrt(x * x),
                np.exp(x))
    x = np.random.default_rng(0).standard_normal((4, 5))
    g = trace(fn, x, aggregate=False, strict=True)
    out = {op.outputs[0].shape for op in g.ops}
    assert {(5,), (4, 1), (), (4,), (4, 10), (2, 4, 5), (20,)} <= out
    red = _ops(g, "reduction")
    assert red[0].attrs["axes"] == (0,) and red[0].flops == 20
    cast = [op for op in _ops(g, "copy") if op.attrs.get("fn") == "cast"]
    assert cast and cast[0].outputs[0].dtype == "fp32"
    assert [op.outputs[0].shape for op in _ops(g, "concat")] == [(4, 10), (2, 4, 5)]
    assert [op.kind for op in g.ops if op.attrs.get("src") and "ravel" in op.name] == ["view"]
    fns = [op.attrs["fn"] for op in _ops(g, "elementwise")]
    for f in ("where", "clip", "abs", "sign", "max", "sqrt", "exp"):
        assert f in fns


# ---- API ----------------------------------------------------------------------------------------
def _setup_for_cli(n: int = 16, iters: int = 3):
    A, b = spd_system(n)
    return conjugate_gradient, (A, b, iters)


def test_trace_callable_and_errors():
    g = trace_callable("tests.trace.test_tracer:_setup_for_cli", {"n": 8, "iters": 2})
    assert g.flops == cg_hand_flops(8, 2) and g.attrs["source"].endswith("_setup_for_cli")
    g2 = trace_callable("workloads.science:conjugate_gradient",
                        {"A": spd_system(8)[0], "b": spd_system(8)[1], "iters": 2})
    assert g2.flops == g.flops
    with pytest.raises(UserError, match="no module named 'no_such_mod'"):
        trace_callable("no_such_mod:f", {})
    with pytest.raises(UserError, match="has no attribute 'nope'"):
        trace_callable("workloads.science:nope", {})
    with pytest.raises(UserError, match="module:function"):
        trace_callable("workloads.science", {})
    j = trace_callable("workloads.science:jacobi_problem", {"n": 10, "iters": 40})
    assert j.flops == 40 * 6 * 64 and len(j) < 40
    with pytest.raises(UserError, match="nothing was traced"):
        trace_callable("workloads.science:spd_system", {"n": 4})


def test_registered_science_workloads_build():
    from archsim.graph import build_workload
    g = build_workload("cg(n=64, iters=50)")
    assert g.flops == cg_hand_flops(64, 50) and len(g) < 40
    j = build_workload("jacobi(n=16, iters=30)")
    assert j.flops == 30 * 6 * 14 * 14 and len(j) < 40


def test_inplace_numpy_functions_and_sort_method():
    def fn(x, y):
        np.copyto(x, y)
        np.put(x, [0, 1], 5.0)
        x.sort()
        return x
    g = _quiet_trace(fn, np.zeros(6), np.arange(6.0), aggregate=False)
    sc = _ops(g, "scatter")
    assert [op.attrs["elements"] for op in sc] == [6, 2, 6]
    assert sc[1].inputs[0].name == sc[0].outputs[0].name
    assert [u["kind"] for u in g.attrs["unsupported"]] == ["np.sort"]


def test_science_module_registers_only_importable_solvers(monkeypatch):
    import importlib
    import sys

    from archsim.graph.registry import _REGISTRY
    import workloads.science as science
    for mod in ("solvers.cs.runs", "solvers.tumour.integrator", "solvers.microfluidics.cnn"):
        monkeypatch.setitem(sys.modules, mod, None)  # importing it now raises ImportError
    saved = {k: _REGISTRY.pop(k) for k in ("amp", "vamp", "cg-vamp", "tumour-stiff",
                                           "tumour-scan", "flow-cnn-numpy") if k in _REGISTRY}
    try:
        importlib.reload(science)
        assert "cg" in _REGISTRY and "jacobi" in _REGISTRY
        assert not {"amp", "cg-vamp", "tumour-stiff", "flow-cnn-numpy"} & set(_REGISTRY)
    finally:
        monkeypatch.undo()
        importlib.reload(science)
        for k, v in saved.items():
            _REGISTRY.setdefault(k, v)
