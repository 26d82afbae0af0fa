"""Handlers for matrix products, einsum, np.linalg, np.fft and scipy.fft on traced arrays.

Registered into numpy_api.HANDLERS (see numpy_api for the conventions). Kinds: `gemm` with
M, N, K, batch (exact multiply-add counts); `linalg` with fn, n, m, nrhs, batch (the standard
counts of archsim.graph.op); `fft` with n = product of transform lengths, batch, real.
"""
from __future__ import annotations

import math
import string

import numpy as np

from archsim.trace.numpy_api import (HANDLERS, _arg, _arr, _axes, _first_traced, _gemm_attrs,
                                     _one, _opaque, handles, unwrap)
from archsim.trace.tracer import TracedArray

# -- matrix products
def _gemm(tr, label, a, b, value, M, N, K, batch=1):
    if K == 1:  # no contraction: an outer product, one multiply per output
        return _one(tr, label, "elementwise", [a, b], value, {"fn": "mul"})
    return _one(tr, label, "gemm", [a, b], value,
                {"M": int(M), "N": int(N), "K": int(K), "batch": int(batch)})


@handles(np.dot)
def _h_dot(tr, func, args, kwargs):
    a, b = args[0], args[1]
    av, bv = _arr(unwrap(a)), _arr(unwrap(b))
    value = np.dot(av, bv)
    if av.ndim == 0 or bv.ndim == 0:
        return _one(tr, "mul", "elementwise", [a, b], value, {"fn": "mul"})
    if av.ndim <= 2 and bv.ndim <= 2:
        return _one(tr, "dot", "gemm", [a, b], value, _gemm_attrs("matmul", av.shape, bv.shape))
    K = av.shape[-1]
    M = av.size // K
    N = bv.size // K
    return _gemm(tr, "dot", a, b, value, M, N, K)


@handles(np.vdot)
def _h_vdot(tr, func, args, kwargs):
    a, b = args[0], args[1]
    value = np.vdot(unwrap(a), unwrap(b))
    return _gemm(tr, "vdot", a, b, value, 1, 1, int(np.size(unwrap(a))))


@handles(np.inner)
def _h_inner(tr, func, args, kwargs):
    a, b = args[0], args[1]
    av, bv = _arr(unwrap(a)), _arr(unwrap(b))
    value = np.inner(av, bv)
    if av.ndim == 0 or bv.ndim == 0:
        return _one(tr, "mul", "elementwise", [a, b], value, {"fn": "mul"})
    K = av.shape[-1]
    return _gemm(tr, "inner", a, b, value, av.size // K, bv.size // K, K)


@handles(np.outer)
def _h_outer(tr, func, args, kwargs):
    value = np.outer(unwrap(args[0]), unwrap(args[1]))
    return _one(tr, "outer", "elementwise", list(args[:2]), value, {"fn": "mul"})


@handles(np.kron)
def _h_kron(tr, func, args, kwargs):
    value = np.kron(unwrap(args[0]), unwrap(args[1]))
    return _one(tr, "kron", "elementwise", list(args[:2]), value, {"fn": "mul"})


@handles(np.tensordot)
def _h_tensordot(tr, func, args, kwargs):
    a, b = args[0], args[1]
    av, bv = _arr(unwrap(a)), _arr(unwrap(b))
    axes = _arg(args, kwargs, 2, "axes", 2)
    value = np.tensordot(av, bv, axes)
    if isinstance(axes, int):
        ka = list(range(av.ndim - axes, av.ndim))
    else:
        ka = [axes[0]] if isinstance(axes[0], int) else list(axes[0])
    K = math.prod(av.shape[i] for i in ka)
    return _gemm(tr, "tensordot", a, b, value, av.size // max(K, 1), bv.size // max(K, 1), K)


@handles(np.trace)
def _h_trace(tr, func, args, kwargs):
    value = func(*unwrap(args), **unwrap(kwargs))
    xv = _arr(unwrap(args[0]))
    diag = np.diagonal(xv)
    (d,) = tr.emit("diagonal", "view", [tr.spec_of(args[0])], [(diag.shape, diag.dtype)])
    (s,) = tr.emit("trace", "reduction", [d], [(np.shape(value), _arr(value).dtype)],
                   {"fn": "sum", "axes": (diag.ndim - 1,), "keepdims": False})
    return tr.result(_arr(value), s)


def _einsum_parse(subscripts: str, shapes):
    subscripts = subscripts.replace(" ", "")
    if "->" in subscripts:
        lhs, out = subscripts.split("->")
    else:
        lhs, out = subscripts, None
    ins = lhs.split(",")
    used = set(subscripts) - set(",->.")
    free = [c for c in string.ascii_letters if c not in used]
    ell_len = max([len(s) - (len(t) - 3) for t, s in zip(ins, shapes) if "..." in t] or [0])
    ell = "".join(free[:ell_len])
    expanded = []
    for t, s in zip(ins, shapes):
        if "..." in t:
            n = len(s) - (len(t) - 3)
            t = t.replace("...", ell[ell_len - n:] if n else "")
        expanded.append(t)
    if out is None:
        counts = {}
        for t in expanded:
            for c in t:
                counts[c] = counts.get(c, 0) + 1
        out = ell + "".join(sorted(c for c, n in counts.items() if n == 1 and c not in ell))
    else:
        out = out.replace("...", ell)
    dims = {}
    for t, s in zip(expanded, shapes):
        for c, d in zip(t, s):
            dims[c] = max(dims.get(c, 1), d)
    return expanded, out, dims


@handles(np.einsum)
def _h_einsum(tr, func, args, kwargs):
    """Pairwise contractions in numpy's optimised order; each a gemm (or a mul, or a sum)."""
    if not isinstance(args[0], str):
        return _opaque(tr, func, args, kwargs)
    value = _arr(np.einsum(*unwrap(args), **{k: v for k, v in unwrap(kwargs).items()}))
    ops = list(args[1:])
    shapes = [np.shape(unwrap(o)) for o in ops]
    terms, out, dims = _einsum_parse(args[0], shapes)
    specs = [tr.spec_of(o) or tr.fresh(_arr(unwrap(o)), "const") for o in ops]
    dt = value.dtype
    if len(ops) > 2:
        path, _ = np.einsum_path(args[0], *[np.empty(s) for s in shapes], optimize="greedy")
        pairs = [p for p in path[1:]]
    else:
        pairs = [tuple(range(len(ops)))]
    items = list(zip(terms, specs))
    for k, pair in enumerate(pairs):
        chosen = [items[i] for i in pair]
        for i in sorted(pair, reverse=True):
            items.pop(i)
        rest = "".join(t for t, _ in items) + out
        keep = "".join(dict.fromkeys(c for t, _ in chosen for c in t if c in rest))
        if k == len(pairs) - 1 and not items:
            keep = out
        spec = _einsum_step(tr, chosen, keep, dims, dt)
        items.append((keep, spec))
    final_t, final = items[-1]
    if final_t != out or final.shape != value.shape:
        (final,) = tr.emit("einsum_perm", "view" if sorted(final_t) == sorted(out) else "copy",
                           [final], [(value.shape, dt)])
    return tr.result(value, final)


def _einsum_step(tr, chosen, keep, dims, dt):
    shape = tuple(dims[c] for c in keep)
    if len(chosen) == 1:
        (t, s), = chosen
        summed = [c for c in set(t) if c not in keep]
        if not summed and len(set(t)) == len(t):
            (o,) = tr.emit("einsum", "view", [s], [(shape, dt)])
        else:
            (o,) = tr.emit("einsum", "reduction", [s], [(shape, dt)],
                           {"fn": "sum", "axes": tuple(i for i, c in enumerate(t) if c in summed)})
        return o
    (ta, sa), (tb, sb) = chosen[0], chosen[1]
    # indices summed within one operand only are reduced first
    for side in (0, 1):
        t, s = chosen[side]
        other = chosen[1 - side][0]
        only = [c for c in set(t) if c not in other and c not in keep]
        if only:
            nt = "".join(c for c in t if c not in only)
            (s,) = tr.emit("einsum_sum", "reduction", [s], [(tuple(dims[c] for c in nt), dt)],
                           {"fn": "sum", "axes": tuple(i for i, c in enumerate(t) if c in only)})
            chosen[side] = (nt, s)
    (ta, sa), (tb, sb) = chosen
    batch = [c for c in set(ta) & set(tb) if c in keep]
    contract = [c for c in set(ta) & set(tb) if c not in keep]
    fa = [c for c in set(ta) if c not in tb]
    fb = [c for c in set(tb) if c not in ta]
    B = math.prod(dims[c] for c in batch)
    M = math.prod(dims[c] for c in fa)
    N = math.prod(dims[c] for c in fb)
    K = math.prod(dims[c] for c in contract)
    if not contract:
        (o,) = tr.emit("einsum", "elementwise", [sa, sb], [(shape, dt)], {"fn": "mul"})
    else:
        (o,) = tr.emit("einsum", "gemm", [sa, sb], [(shape, dt)],
                       {"M": M, "N": N, "K": K, "batch": B})
    return o


@handles(np.linalg.multi_dot)
def _h_multi_dot(tr, func, args, kwargs):
    arrays = list(args[0])
    value = np.linalg.multi_dot([unwrap(a) for a in arrays])
    cur, cur_v = arrays[0], _arr(unwrap(arrays[0]))
    for nxt in arrays[1:]:
        nv = _arr(unwrap(nxt))
        pv = np.dot(cur_v, nv)
        cur = _one(tr, "dot", "gemm", [cur, nxt], pv, _gemm_attrs("matmul", cur_v.shape, nv.shape))
        cur_v = pv
    return tr.result(_arr(value), cur._current())


@handles(np.linalg.matrix_power)
def _h_matrix_power(tr, func, args, kwargs):
    a, n = args[0], _arg(args, kwargs, 1, "n")
    value = _arr(func(unwrap(a), n))
    av = _arr(unwrap(a))
    steps = max(int(math.floor(math.log2(abs(n)))) + bin(abs(n)).count("1") - 1, 0) if n else 0
    spec = tr.spec_of(a)
    for _ in range(steps):
        (spec,) = tr.emit("matrix_power", "gemm", [spec, spec], [(av.shape, value.dtype)],
                          _gemm_attrs("matmul", av.shape, av.shape))
    if n < 0:
        (spec,) = tr.emit("inv", "linalg", [spec], [(av.shape, value.dtype)],
                          {"fn": "inv", "n": av.shape[-1], "batch": math.prod(av.shape[:-2])})
    if n == 0:
        (spec,) = tr.emit("eye", "elementwise", [], [(av.shape, value.dtype)],
                          {"fn": "identity", "fill": "eye"})
    return tr.result(value, spec)


# -- linear algebra
def _linalg(tr, fn, x, value, extra_inputs=(), **attrs):
    av = _arr(unwrap(x))
    m, n = av.shape[-2], av.shape[-1]
    attrs = {"fn": fn, "n": int(min(m, n)), "batch": int(math.prod(av.shape[:-2])), **attrs}
    if m != n:
        attrs["m"] = int(max(m, n))
    values = value if isinstance(value, tuple) else (value,)
    values = tuple(_arr(v) for v in values)
    specs = tr.emit(fn, "linalg", [tr.spec_of(x), *[tr.spec_of(e) for e in extra_inputs]],
                    [(v.shape, v.dtype) for v in values], attrs)
    traced = tuple(tr.result(v, s) for v, s in zip(values, specs))
    if isinstance(value, tuple):
        return type(value)(*traced) if hasattr(value, "_fields") else traced
    return traced[0]


@handles(np.linalg.solve)
def _h_solve(tr, func, args, kwargs):
    a, b = args[0], args[1]
    value = np.linalg.solve(unwrap(a), unwrap(b))
    bv = _arr(unwrap(b))
    nrhs = 1 if bv.ndim == 1 else bv.shape[-1]
    return _linalg(tr, "solve", a, value, (b,), nrhs=int(nrhs))


@handles(np.linalg.cholesky, np.linalg.inv, np.linalg.det, np.linalg.slogdet, np.linalg.eigh,
         np.linalg.eigvalsh, np.linalg.eig, np.linalg.eigvals, np.linalg.qr, np.linalg.svd,
         np.linalg.svdvals if hasattr(np.linalg, "svdvals") else None,
         np.linalg.matrix_rank, np.linalg.cond, np.linalg.pinv)
def _h_factor(tr, func, args, kwargs):
    value = func(*unwrap(args), **unwrap(kwargs))
    fn = {"cholesky": "cholesky", "inv": "inv", "det": "det", "slogdet": "det", "eigh": "eigh",
          "eigvalsh": "eigh", "eig": "eigh", "eigvals": "eigh", "qr": "qr", "svd": "svd",
          "svdvals": "svd", "matrix_rank": "svd", "cond": "svd", "pinv": "svd"}[func.__name__]
    extra = {"op": func.__name__} if fn != func.__name__ else {}
    if func is np.linalg.pinv:
        av = _arr(unwrap(args[0]))
        m, n = av.shape[-2:]
        r = min(m, n)
        s = _linalg(tr, "svd", args[0], np.zeros(av.shape[:-2] + (r,)), op="pinv")
        (g,) = tr.emit("pinv_gemm", "gemm", [s._current(), tr.spec_of(args[0])],
                       [(np.shape(value), _arr(value).dtype)],
                       {"M": int(n), "N": int(m), "K": int(r),
                        "batch": int(math.prod(av.shape[:-2]))})
        return tr.result(_arr(value), g)
    if not isinstance(value, tuple) and np.ndim(value) == 0:
        value = _arr(value)
    return _linalg(tr, fn, args[0], value, **extra)


@handles(np.linalg.lstsq)
def _h_lstsq(tr, func, args, kwargs):
    a, b = args[0], args[1]
    value = func(*unwrap(args), **unwrap(kwargs))
    av, bv = _arr(unwrap(a)), _arr(unwrap(b))
    m, n = av.shape
    nrhs = 1 if bv.ndim == 1 else bv.shape[-1]
    (q,) = tr.emit("lstsq", "linalg", [tr.spec_of(a)], [((max(m, n), min(m, n)), av.dtype)],
                   {"fn": "qr", "n": int(min(m, n)), "m": int(max(m, n)), "op": "lstsq"})
    (qb,) = tr.emit("lstsq_qtb", "gemm", [q, tr.spec_of(b)], [((min(m, n), nrhs), av.dtype)],
                    {"M": int(min(m, n)), "N": int(nrhs), "K": int(max(m, n)), "batch": 1})
    x0 = _arr(value[0])
    (x,) = tr.emit("lstsq_trsm", "linalg", [q, qb], [(x0.shape, x0.dtype)],
                   {"fn": "triangular_solve", "n": int(min(m, n)), "nrhs": int(nrhs)})
    rest = tuple(_arr(v) for v in value[1:])
    return (tr.result(x0, x),) + tuple(TracedArray(tr, v, tr.fresh(v, "lstsq_info")) for v in rest)


@handles(np.linalg.norm)
def _h_norm(tr, func, args, kwargs):
    """As the passes it makes: |x|^p or x^2, a sum (max/min for inf orders), a root."""
    x = args[0]
    xv = _arr(unwrap(x))
    ord_ = _arg(args, kwargs, 1, "ord")
    axis = _arg(args, kwargs, 2, "axis")
    keepdims = _arg(args, kwargs, 3, "keepdims", False)
    value = _arr(np.linalg.norm(xv, ord_, axis, keepdims))
    nd = xv.ndim if axis is None else (1 if isinstance(axis, int) else len(axis))
    axes = _axes(axis, xv.ndim)
    dt = value.dtype
    spec = tr.spec_of(x)
    if nd == 2 and ord_ in (2, -2, "nuc"):
        s = _linalg(tr, "svd", x, np.zeros(xv.shape[:-2] + (min(xv.shape[-2:]),)), op="norm")
        return _one(tr, "norm", "reduction", [s], value, {"fn": "max" if ord_ == 2 else
                                                          "min" if ord_ == -2 else "sum",
                                                          "axes": (s.ndim - 1,)})
    if nd == 2 and ord_ in (1, -1, np.inf, -np.inf):
        (a,) = tr.emit("abs", "elementwise", [spec], [(xv.shape, dt)], {"fn": "abs"})
        red_axis = axes[0] if ord_ in (1, -1) else axes[1]
        sshape = tuple(d for i, d in enumerate(xv.shape) if i != red_axis)
        (s,) = tr.emit("sum", "reduction", [a], [(sshape, dt)], {"fn": "sum", "axes": (red_axis,)})
        (m,) = tr.emit("norm", "reduction", [s], [(value.shape, dt)],
                       {"fn": "max" if ord_ in (1, np.inf) else "min", "axes": (0,)})
        return tr.result(value, m)
    if ord_ in (np.inf, -np.inf):
        (a,) = tr.emit("abs", "elementwise", [spec], [(xv.shape, dt)], {"fn": "abs"})
        (m,) = tr.emit("norm", "reduction", [a], [(value.shape, dt)],
                       {"fn": "max" if ord_ > 0 else "min", "axes": axes})
        return tr.result(value, m)
    if ord_ in (None, 2, "fro"):
        (a,) = tr.emit("square", "elementwise", [spec], [(xv.shape, dt)], {"fn": "square"})
        root = "sqrt"
    elif ord_ == 1:
        (a,) = tr.emit("abs", "elementwise", [spec], [(xv.shape, dt)], {"fn": "abs"})
        root = None
    elif ord_ == 0:
        (a,) = tr.emit("nonzero", "elementwise", [spec], [(xv.shape, dt)], {"fn": "compare"})
        root = None
    else:
        (a,) = tr.emit("abs", "elementwise", [spec], [(xv.shape, dt)], {"fn": "abs"})
        (a,) = tr.emit("pow", "elementwise", [a], [(xv.shape, dt)], {"fn": "pow"})
        root = "pow"
    (s,) = tr.emit("sum", "reduction", [a], [(value.shape, dt)],
                   {"fn": "sum", "axes": axes, "keepdims": bool(keepdims)})
    if root:
        (s,) = tr.emit(root, "elementwise", [s], [(value.shape, dt)], {"fn": root})
    return tr.result(value, s)


# -- FFT
_FFT_REAL = {"rfft", "irfft", "rfft2", "irfft2", "rfftn", "irfftn", "hfft", "ihfft"}


def _fft_record(tr, label, x, value, axes, lengths, real, extra=None):
    value = _arr(value)
    batch = math.prod(d for i, d in enumerate(value.shape) if i not in axes)
    attrs = {"n": int(math.prod(lengths)), "batch": int(batch), "real": bool(real),
             "fn": label, "axes": tuple(int(a) for a in axes)}
    attrs.update(extra or {})
    return _one(tr, label, "fft", [x], value, attrs)


def _h_fft(tr, func, args, kwargs):
    x = args[0]
    value = _arr(func(*unwrap(args), **unwrap(kwargs)))
    xv = _arr(unwrap(x))
    name = func.__name__
    real = name in _FFT_REAL
    if name in ("fft", "ifft", "rfft", "irfft", "hfft", "ihfft"):
        axis = _arg(args, kwargs, 2, "axis", -1) % value.ndim
        n = _arg(args, kwargs, 1, "n")
        if n is None:
            n = value.shape[axis] if name in ("fft", "ifft", "irfft", "hfft") else xv.shape[axis]
        return _fft_record(tr, name, x, value, (axis,), (n,), real)
    axes = _arg(args, kwargs, 2, "axes")
    s = _arg(args, kwargs, 1, "s")
    if axes is None:
        axes = (-2, -1) if name.endswith("2") else tuple(range(-(len(s) if s else xv.ndim), 0))
    axes = tuple(a % value.ndim for a in axes)
    if s is None:
        ref = xv if name.startswith("r") else value
        s = tuple(ref.shape[a] for a in axes)
    return _fft_record(tr, name, x, value, axes, tuple(s), real)


for _f in ("fft", "ifft", "rfft", "irfft", "hfft", "ihfft", "fft2", "ifft2", "rfft2", "irfft2",
           "fftn", "ifftn", "rfftn", "irfftn"):
    HANDLERS[getattr(np.fft, _f)] = _h_fft


@handles(np.fft.fftshift, np.fft.ifftshift)
def _h_fftshift(tr, func, args, kwargs):
    value = func(*unwrap(args), **unwrap(kwargs))
    return _one(tr, func.__name__, "copy", [args[0]], value, {"fn": func.__name__})


# ---- scipy.fft through its uarray backend protocol ---------------------------------------
class ScipyFftBackend:
    """scipy.fft backend (uarray): traced arrays get fft records, anything else falls through."""

    __ua_domain__ = "numpy.scipy.fft"

    @staticmethod
    def __ua_function__(method, args, kwargs):
        t = _first_traced(list(args) + list(kwargs.values()))
        if t is None:
            return NotImplemented
        tr = t._tr
        import scipy.fft
        name = method.__name__
        with scipy.fft.set_backend("scipy", only=True):
            value = _arr(method(*unwrap(args), **unwrap(kwargs)))
        x = args[0]
        xv = _arr(unwrap(x))
        if name in ("fftshift", "ifftshift", "next_fast_len"):
            return _one(tr, name, "copy", [x], value, {"fn": name})
        if name.endswith("n") or name.endswith("2"):
            axes = _arg(args, kwargs, 3 if name.startswith(("dct", "dst", "idct", "idst")) else 2,
                        "axes")
            axes = tuple(range(xv.ndim)) if axes is None else (
                (axes,) if isinstance(axes, int) else tuple(axes))
            axes = tuple(a % value.ndim for a in axes)
        else:
            pos = 3 if name.startswith(("dct", "dst", "idct", "idst")) else 2
            axes = (int(_arg(args, kwargs, pos, "axis", -1)) % value.ndim,)
        lengths = tuple(max(value.shape[a], xv.shape[a]) for a in axes)
        real = name.startswith(("dct", "dst", "idct", "idst", "r", "ir", "h", "ih"))
        return _fft_record(tr, name, x, value, axes, lengths, real)
