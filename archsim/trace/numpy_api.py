"""What each numpy call on traced arrays records: ufuncs, functions, indexing.

Every handler computes the real result with numpy on the unwrapped values, then records ops
whose shapes come from that result. Op kinds and their attrs (archsim.graph.op):

- ufunc calls -> `elementwise` (fn from UFUNC_FN); matmul / vecdot / matvec / vecmat -> `gemm`
- ufunc.reduce, sum/mean/max/... -> `reduction`; std/var and norm as their passes
- dot / vdot / inner / tensordot / einsum -> `gemm` (M, N, K, batch); no contraction -> `mul`
- np.linalg -> `linalg` (fn, n, m, nrhs, batch); np.fft / scipy.fft -> `fft` (n, batch, real)
  (those handlers are in numpy_linalg)
- basic indexing and aliasing shape functions -> `view`; copying ones, astype -> `copy`
- integer-array or boolean-mask indexing -> `gather`; x[idx] = v -> `scatter`;
  np.add.at -> `scatter_add`; concatenate / stack -> `concat`
- anything else -> an opaque `copy` op (attrs["untraced"]=True), reported as unsupported.
"""
from __future__ import annotations

import math

import numpy as np

from archsim.graph.op import register_kind
from archsim.trace.tracer import TracedArray, Tracer

# `scatter`: x[idx] = v. Writes `elements` elements of the target, reads the values and indices;
# the rest of the target is neither read nor written (it is updated in place).
register_kind(
    "scatter", lambda op: 0, pipe="memory",
    bytes=lambda op: (op.attrs["elements"] * op.outputs[0].itemsize
                      + sum(t.nbytes for t in op.inputs[1:])),
    doc="x[idx] = v: writes a region (slice, index array or mask) of a tensor in place")

UFUNC_FN = {
    "add": "add", "subtract": "sub", "multiply": "mul", "divide": "div", "true_divide": "div",
    "floor_divide": "div", "reciprocal": "div", "negative": "neg", "positive": "identity",
    "absolute": "abs", "fabs": "abs", "maximum": "max", "minimum": "min", "fmax": "max",
    "fmin": "min", "sqrt": "sqrt", "exp": "exp", "exp2": "exp", "expm1": "exp", "log": "log",
    "log2": "log", "log10": "log", "log1p": "log", "square": "square", "power": "pow",
    "float_power": "pow", "cbrt": "pow", "sin": "sin", "cos": "cos", "tanh": "tanh",
    "sign": "sign", "copysign": "sign", "floor": "floor", "ceil": "floor", "trunc": "floor",
    "rint": "floor", "greater": "compare", "greater_equal": "compare", "less": "compare",
    "less_equal": "compare", "equal": "compare", "not_equal": "compare", "logical_and": "compare",
    "logical_or": "compare", "logical_xor": "compare", "logical_not": "compare",
    "isnan": "compare", "isinf": "compare", "isfinite": "compare", "signbit": "compare",
    "heaviside": "compare",
}
REDUCE_FN = {"add": "sum", "multiply": "prod", "maximum": "max", "minimum": "min",
             "fmax": "max", "fmin": "min", "logical_and": "all", "logical_or": "any"}


# ---- helpers ------------------------------------------------------------------------------------
def unwrap(x):
    if isinstance(x, TracedArray):
        return x._value
    if isinstance(x, (list, tuple)):
        return type(x)(unwrap(e) for e in x) if not hasattr(x, "_fields") else \
            type(x)(*(unwrap(e) for e in x))
    if isinstance(x, dict):
        return {k: unwrap(v) for k, v in x.items()}
    return x


def _first_traced(objs):
    for o in objs:
        if isinstance(o, TracedArray):
            return o
        if isinstance(o, (list, tuple)):
            t = _first_traced(o)
            if t is not None:
                return t
    return None


def _traced_leaves(objs, acc):
    for o in objs:
        if isinstance(o, TracedArray):
            acc.append(o)
        elif isinstance(o, (list, tuple)):
            _traced_leaves(o, acc)
        elif isinstance(o, dict):
            _traced_leaves(list(o.values()), acc)
    return acc


def _arr(v) -> np.ndarray:
    return v if isinstance(v, np.ndarray) else np.asarray(v)


def _one(tr: Tracer, label, kind, inputs, value, attrs=None, parent=None) -> TracedArray:
    """Record a one-output op whose real result is `value`; return it traced."""
    value = _arr(value)
    (spec,) = tr.emit(label, kind, [tr.spec_of(i) for i in inputs],
                      [(value.shape, value.dtype)], attrs)
    return tr.result(value, spec, parent)


def _axes(axis, ndim) -> tuple[int, ...]:
    if axis is None:
        return tuple(range(ndim))
    if isinstance(axis, (tuple, list)):
        return tuple(int(a) % max(ndim, 1) for a in axis)
    return (int(axis) % max(ndim, 1),)


def _arg(args, kwargs, pos, name, default=None):
    if name in kwargs:
        return kwargs[name]
    return args[pos] if len(args) > pos else default


def _finish_out(tr: Tracer, out, result):
    """numpy's out= semantics: the op's result lives in `out` (traced or not)."""
    outs = out if isinstance(out, tuple) else (out,)
    res = result if isinstance(result, tuple) else (result,)
    ret = []
    for o, r in zip(outs, res):
        if o is None:
            ret.append(r)
            continue
        spec = r._current() if isinstance(r, TracedArray) else None
        if isinstance(o, TracedArray):
            if spec is not None:
                tr.write(o, spec)
            ret.append(o)
        else:
            if spec is not None:
                tr.shadow(o, spec)
                tr.escape("out", "traced result written into an untraced ndarray (out=); later "
                                 "numpy calls on untraced arrays only are not recorded")
            ret.append(o)
    return tuple(ret) if isinstance(result, tuple) else ret[0]


# ---- ufuncs -------------------------------------------------------------------------------------
def _gemm_attrs(ufunc_name: str, sa, sb) -> dict:
    if ufunc_name == "vecdot":
        lead = np.broadcast_shapes(sa[:-1], sb[:-1])
        return {"M": 1, "N": 1, "K": sa[-1], "batch": math.prod(lead)}
    if ufunc_name == "matvec":
        sb = tuple(sb) + (1,)
    elif ufunc_name == "vecmat":
        sa = tuple(sa[:-1]) + (1, sa[-1])
    a1, b1 = len(sa) == 1, len(sb) == 1
    if a1:
        sa = (1,) + tuple(sa)
    if b1:
        sb = tuple(sb) + (1,)
    M, K = sa[-2], sa[-1]
    N = sb[-1]
    lead = np.broadcast_shapes(tuple(sa[:-2]), tuple(sb[:-2]))
    batch = math.prod(lead)
    if len(sb) == 2 and batch > 1:  # a matrix shared by every row: one big GEMM
        M, batch = M * batch, 1
    return {"M": int(M), "N": int(N), "K": int(K), "batch": int(batch)}


def array_ufunc(tr: Tracer, ufunc, method: str, inputs, kwargs):
    out = kwargs.pop("out", None)
    raw_kwargs = unwrap(kwargs)  # where= may be traced too
    if out is not None:
        raw_kwargs["out"] = tuple(unwrap(o) for o in out)
    specs = [tr.spec_of(i) for i in inputs]  # before the call: in-place ops read the old value
    result = getattr(ufunc, method)(*[unwrap(i) for i in inputs], **raw_kwargs)
    name = ufunc.__name__
    if method == "at":
        return _ufunc_at(tr, ufunc, inputs, specs)
    results = result if isinstance(result, tuple) else (result,)
    results = tuple(_arr(r) for r in results)
    outs = [(r.shape, r.dtype) for r in results]
    if method == "__call__" and name in ("matmul", "vecdot", "matvec", "vecmat"):
        kind, attrs = "gemm", _gemm_attrs(name, np.shape(unwrap(inputs[0])),
                                          np.shape(unwrap(inputs[1])))
    elif method in ("__call__", "outer"):
        kind, attrs = "elementwise", {"fn": UFUNC_FN.get(name, name)}
    elif method in ("reduce", "reduceat"):
        x = _arr(unwrap(inputs[0]))
        axis = kwargs.get("axis", 0) if len(inputs) < 2 or method == "reduceat" else inputs[1]
        kind, attrs = "reduction", {"fn": REDUCE_FN.get(name, name), "axes": _axes(axis, x.ndim)}
        specs = specs[:1]
    elif method == "accumulate":
        kind, attrs = "elementwise", {"fn": "cum" + REDUCE_FN.get(name, name)}
        specs = specs[:1]
    else:  # pragma: no cover - numpy has no other methods
        kind, attrs = "copy", {"fn": f"{name}.{method}", "untraced": True}
    out_specs = tr.emit(name, kind, specs, outs, attrs)
    traced = tuple(tr.result(r, s) for r, s in zip(results, out_specs))
    res = traced if isinstance(result, tuple) else traced[0]
    if out is not None:
        return _finish_out(tr, out if len(out) > 1 else out[0], res)
    return res


def _index_specs(tr: Tracer, key) -> list:
    specs = []
    for k in (key if isinstance(key, tuple) else (key,)):
        if isinstance(k, TracedArray):
            specs.append(k._current())
        elif isinstance(k, np.ndarray) and k.ndim > 0:
            specs.append(tr.const(k))
        elif isinstance(k, list):
            specs.append(tr.fresh(np.asarray(k), "index"))
    return specs


def _ufunc_at(tr: Tracer, ufunc, inputs, specs):
    """np.add.at(x, idx, v) -> scatter_add (the real update already ran in place)."""
    target, key = inputs[0], inputs[1]
    tv = _arr(unwrap(target))
    sel = _arr(tv[unwrap(key)])
    old = specs[0] if specs[0] is not None else tr.const(tv)
    idx = _index_specs(tr, key)
    upd = specs[2] if len(specs) > 2 else None
    if upd is None or upd.shape != sel.shape:
        upd = tr.fresh(np.broadcast_to(_arr(unwrap(inputs[2])) if len(inputs) > 2 else
                                       np.ones(()), sel.shape), "at_values")
    if not idx:
        idx = [tr.fresh(np.zeros(sel.shape[:1], np.int64), "index")]
    n = idx[0].numel
    (spec,) = tr.emit(f"{ufunc.__name__}_at", "scatter_add", [old, upd, *idx],
                      [(tv.shape, tv.dtype)],
                      {"fn": UFUNC_FN.get(ufunc.__name__, ufunc.__name__),
                       "rows": int(tv.shape[0]) if tv.ndim else 1, "n": int(n),
                       "dim": int(sel.size // max(n, 1))})
    if isinstance(target, TracedArray):
        tr.write(target, spec)
    else:
        tr.shadow(target, spec)
        tr.escape("out", f"np.{ufunc.__name__}.at wrote traced values into an untraced ndarray; "
                         "later numpy calls on untraced arrays only are not recorded")
    return None


# ---- indexing -----------------------------------------------------------------------------------
def _is_basic(key) -> bool:
    for k in (key if isinstance(key, tuple) else (key,)):
        if k is None or k is Ellipsis or isinstance(k, (slice, int, np.integer)):
            continue
        if isinstance(k, (np.ndarray, TracedArray)) and k.ndim == 0 and k.dtype.kind in "iu":
            continue
        return False
    return True


def getitem(x: TracedArray, key):
    tr = x._tr
    raw = unwrap(key)
    val = x._value[raw]
    if _is_basic(key):
        return _one(tr, "slice", "view", [x], val, {}, parent=x)
    idx = _index_specs(tr, key)
    val = _arr(val)
    masks = [k for k in (raw if isinstance(raw, tuple) else (raw,))
             if isinstance(k, np.ndarray) and k.dtype == bool]
    n = int(sum(np.count_nonzero(m) for m in masks)) if masks else (idx[0].numel if idx else 1)
    attrs = {"rows": int(x.shape[0]) if x.ndim else 1, "n": n,
             "dim": int(val.size // max(n, 1)), "mask": bool(masks)}
    (spec,) = tr.emit("gather", "gather", [x._current(), *idx], [(val.shape, val.dtype)], attrs)
    return tr.result(val, spec)


def setitem(x: TracedArray, key, value) -> None:
    tr = x._tr
    raw = unwrap(key)
    basic = _is_basic(key)
    root = x._root if x._root is not None else x
    if basic and isinstance(value, TracedArray) and value._root is root:
        region = x._value[raw]
        if (isinstance(region, np.ndarray) and region.__array_interface__ ==
                value._value.__array_interface__):
            return  # `x[s] += v`: the in-place op already wrote this region of x
    old = x._current()
    vspec = tr.spec_of(value)
    idx = [] if basic else _index_specs(tr, key)
    x._value[raw] = unwrap(value)
    elements = int(np.size(x._value[raw]))
    (spec,) = tr.emit("setitem", "scatter", [old, vspec, *idx], [(x.shape, x.dtype)],
                      {"elements": elements, "indexing": "basic" if basic else "advanced"})
    tr.write(x, spec)


def astype(x: TracedArray, dtype, copy=True):
    dt = np.dtype(dtype)
    if dt == x.dtype and not copy:
        return x
    return _one(x._tr, "astype", "copy", [x], x._value.astype(dt), {"fn": "cast"})


# ---- numpy functions ----------------------------------------------------------------------------
HANDLERS: dict = {}


def handles(*funcs):
    def deco(fn):
        for f in funcs:
            if f is not None:
                HANDLERS[f] = fn
        return fn
    return deco


def array_function(tr: Tracer, func, args, kwargs):
    h = HANDLERS.get(func)
    if h is _h_static:
        return h(tr, func, args, kwargs)
    if h is None:
        return _opaque(tr, func, args, kwargs)
    out = kwargs.pop("out", None) if "out" in kwargs else None
    res = h(tr, func, args, kwargs)
    if out is not None:
        if isinstance(out, TracedArray):
            out._value[...] = res._value
        elif isinstance(out, np.ndarray):
            out[...] = unwrap(res)
        return _finish_out(tr, out, res)
    return res


def _opaque(tr: Tracer, func, args, kwargs):
    """A function the tracer does not model: run it, record a zero-flop copy op, report it."""
    name = f"np.{func.__name__}" if "numpy" in (func.__module__ or "") else func.__qualname__
    tr.unsupported_call(name)
    result = func(*unwrap(args), **unwrap(kwargs))
    ins = [t._current() for t in _traced_leaves(list(args) + list(kwargs.values()), [])]
    leaves = []

    def collect(r):
        if isinstance(r, np.ndarray):
            leaves.append(r)
        elif isinstance(r, (tuple, list)):
            for e in r:
                collect(e)
    collect(result)
    if not leaves:
        if result is not None:
            tr.escape("result", f"{name} returned a Python value computed from traced arrays")
        return result
    specs = tr.emit(func.__name__, "copy", ins, [(v.shape, v.dtype) for v in leaves],
                    {"fn": func.__name__, "untraced": True})
    wrapped = {id(v): tr.result(v, s) for v, s in zip(leaves, specs)}

    def rebuild(r):
        if isinstance(r, np.ndarray):
            return wrapped[id(r)]
        if isinstance(r, tuple) and hasattr(r, "_fields"):
            return type(r)(*(rebuild(e) for e in r))
        if isinstance(r, (tuple, list)):
            return type(r)(rebuild(e) for e in r)
        return r
    return rebuild(result)


def _reduce(tr, x, fn, axis, keepdims, value):
    xv = _arr(unwrap(x))
    return _one(tr, fn, "reduction", [x], value,
                {"fn": fn, "axes": _axes(axis, xv.ndim), "keepdims": bool(keepdims)})


@handles(np.shape, np.ndim, np.size, np.iscomplexobj, np.isrealobj)
def _h_static(tr, func, args, kwargs):
    """Shape and type queries: static in a trace, no op and no escape."""
    return func(*unwrap(args), **unwrap(kwargs))


_REDUCTIONS = {np.sum: "sum", np.mean: "mean", np.prod: "prod", np.max: "max", np.amax: "max",
               np.min: "min", np.amin: "min", np.any: "any", np.all: "all", np.argmax: "argmax",
               np.argmin: "argmin", np.nansum: "sum", np.nanmean: "mean", np.nanmax: "max",
               np.nanmin: "min", np.nanprod: "prod", np.count_nonzero: "count", np.ptp: "ptp",
               np.median: "median", np.nanargmax: "argmax", np.nanargmin: "argmin"}


@handles(*_REDUCTIONS)
def _h_reduction(tr, func, args, kwargs):
    value = func(*unwrap(args), **unwrap(kwargs))
    axis = _arg(args, kwargs, 1, "axis")
    return _reduce(tr, args[0], _REDUCTIONS[func], axis, kwargs.get("keepdims", False), value)


@handles(np.average)
def _h_average(tr, func, args, kwargs):
    value = func(*unwrap(args), **unwrap(kwargs))
    x, axis = args[0], _arg(args, kwargs, 1, "axis")
    w = _arg(args, kwargs, 2, "weights")
    if w is not None:
        xv = _arr(unwrap(x))
        prod = xv * _arr(unwrap(w))
        x = _one(tr, "mul", "elementwise", [x, w], prod, {"fn": "mul"})
    return _reduce(tr, x, "mean", axis, kwargs.get("keepdims", False), value)


@handles(np.std, np.var, np.nanstd, np.nanvar)
def _h_var(tr, func, args, kwargs):
    """Two passes, as numpy runs them: mean; (x - mean)^2; mean of that (; sqrt)."""
    value = _arr(func(*unwrap(args), **unwrap(kwargs)))
    x = args[0]
    xv = _arr(unwrap(x))
    axis = _arg(args, kwargs, 1, "axis")
    axes = _axes(axis, xv.ndim)
    mshape = tuple(1 if i in axes else d for i, d in enumerate(xv.shape))
    xs = tr.spec_of(x)
    (m,) = tr.emit("mean", "reduction", [xs], [(mshape, value.dtype)],
                   {"fn": "mean", "axes": axes, "keepdims": True})
    (d,) = tr.emit("sub", "elementwise", [xs, m], [(xv.shape, value.dtype)], {"fn": "sub"})
    (s,) = tr.emit("square", "elementwise", [d], [(xv.shape, value.dtype)], {"fn": "square"})
    (v,) = tr.emit("mean", "reduction", [s], [(value.shape, value.dtype)],
                   {"fn": "mean", "axes": axes, "keepdims": bool(kwargs.get("keepdims", False))})
    if func in (np.std, np.nanstd):
        (v,) = tr.emit("sqrt", "elementwise", [v], [(value.shape, value.dtype)], {"fn": "sqrt"})
    return tr.result(value, v)


@handles(np.cumsum, np.cumprod, np.nancumsum, np.nancumprod)
def _h_cum(tr, func, args, kwargs):
    value = func(*unwrap(args), **unwrap(kwargs))
    return _one(tr, func.__name__, "elementwise", [args[0]], value, {"fn": func.__name__})


# -- elementwise functions
@handles(np.clip)
def _h_clip(tr, func, args, kwargs):
    value = func(*unwrap(args), **unwrap(kwargs))
    ins = [args[0], _arg(args, kwargs, 1, "a_min"), _arg(args, kwargs, 2, "a_max"),
           kwargs.get("min"), kwargs.get("max")]
    return _one(tr, "clip", "elementwise", [i for i in ins if i is not None], value, {"fn": "clip"})


@handles(np.where)
def _h_where(tr, func, args, kwargs):
    if len(args) == 1:
        return _opaque_indices(tr, func, args, kwargs)
    value = func(*unwrap(args), **unwrap(kwargs))
    return _one(tr, "where", "elementwise", list(args), value, {"fn": "where"})


@handles(np.round, np.around)
def _h_round(tr, func, args, kwargs):
    value = func(*unwrap(args), **unwrap(kwargs))
    return _one(tr, "round", "elementwise", [args[0]], value, {"fn": "floor"})


@handles(np.nan_to_num)
def _h_nan_to_num(tr, func, args, kwargs):
    value = func(*unwrap(args), **unwrap(kwargs))
    return _one(tr, "nan_to_num", "elementwise", [args[0]], value, {"fn": "where"})


@handles(np.isclose)
def _h_isclose(tr, func, args, kwargs):
    value = func(*unwrap(args), **unwrap(kwargs))
    return _one(tr, "isclose", "elementwise", list(args[:2]), value, {"fn": "compare"})


@handles(np.triu, np.tril)
def _h_tri(tr, func, args, kwargs):
    value = func(*unwrap(args), **unwrap(kwargs))
    return _one(tr, func.__name__, "elementwise", [args[0]], value, {"fn": "mask"})


@handles(np.diff)
def _h_diff(tr, func, args, kwargs):
    value = func(*unwrap(args), **unwrap(kwargs))
    return _one(tr, "diff", "elementwise", [args[0]], value, {"fn": "sub"})


@handles(np.real, np.imag)
def _h_real(tr, func, args, kwargs):
    value = func(*unwrap(args), **unwrap(kwargs))
    x = args[0]
    if isinstance(x, TracedArray) and not np.may_share_memory(value, x._value):
        return _one(tr, func.__name__, "copy", [x], value, {"fn": func.__name__})
    return _one(tr, func.__name__, "view", [x], value, {}, parent=x)


# -- views and copies
_SHAPE_FUNCS = [np.reshape, np.transpose, np.ravel, np.squeeze, np.expand_dims, np.swapaxes,
                np.moveaxis, np.atleast_1d, np.atleast_2d, np.atleast_3d, np.broadcast_to,
                np.diagonal, np.flip, np.fliplr, np.flipud, np.rot90, np.diag,
                getattr(np, "matrix_transpose", None), getattr(np, "permute_dims", None),
                np.split, np.array_split, np.hsplit, np.vsplit, np.dsplit, np.roll, np.tile,
                np.repeat, np.pad, np.ascontiguousarray if hasattr(np.ascontiguousarray,
                                                                   "_implementation") else None]


@handles(*_SHAPE_FUNCS)
def _h_shape(tr, func, args, kwargs):
    """View when numpy's result aliases the input, else a copy (a transpose if it permutes)."""
    value = func(*unwrap(args), **unwrap(kwargs))
    x = args[0]
    if isinstance(value, (list, tuple)):
        return type(value)(_shape_result(tr, func, x, v) for v in value)
    return _shape_result(tr, func, x, value)


def _shape_result(tr, func, x, value):
    value = _arr(value)
    xv = _arr(unwrap(x))
    if value.ndim and xv.ndim and np.may_share_memory(value, xv):
        return _one(tr, func.__name__, "view", [x], value, {}, parent=x)
    if func in (np.transpose, np.swapaxes, np.moveaxis) and value.ndim >= 2:
        return _one(tr, func.__name__, "transpose", [x], value,
                    {"perm": tuple(range(value.ndim))[::-1]})
    return _one(tr, func.__name__, "copy", [x], value, {"fn": func.__name__})


@handles(np.copy)
def _h_copy(tr, func, args, kwargs):
    value = np.array(unwrap(args[0]), copy=True)
    return _one(tr, "copy", "copy", [args[0]], value, {"fn": "copy"})


@handles(np.zeros_like, np.ones_like, np.full_like)
def _h_fill(tr, func, args, kwargs):
    value = _arr(func(*unwrap(args), **unwrap(kwargs)))
    # a memset: an elementwise op with no inputs and no flops (fn "identity")
    (spec,) = tr.emit(func.__name__.replace("_like", ""), "elementwise", [],
                      [(value.shape, value.dtype)], {"fn": "identity", "fill": func.__name__})
    return tr.result(value, spec)


@handles(np.empty_like)
def _h_empty(tr, func, args, kwargs):
    value = _arr(func(*unwrap(args), **unwrap(kwargs)))
    return TracedArray(tr, value, tr.fresh(value, "empty"))


@handles(np.concatenate, np.stack, np.hstack, np.vstack, np.column_stack, np.dstack,
         getattr(np, "row_stack", None), np.append, getattr(np, "concat", None))
def _h_concat(tr, func, args, kwargs):
    value = _arr(func(*unwrap(args), **unwrap(kwargs)))
    parts = list(args[0]) if func is not np.append else [args[0], args[1]]
    axis = _arg(args, kwargs, 1 if func is not np.append else 2, "axis", 0)
    axis = 0 if axis is None else axis
    return _one(tr, func.__name__, "concat", parts, value,
                {"axis": int(axis) % max(value.ndim, 1)})


def _opaque_indices(tr, func, args, kwargs):
    return _opaque(tr, func, args, kwargs)


@handles(np.copyto, np.put, np.put_along_axis, np.place, np.putmask, np.fill_diagonal)
def _h_inplace(tr, func, args, kwargs):
    """Functions that write into their first argument: a `scatter` into its new version."""
    dst = args[0]
    dv = _arr(unwrap(dst))
    old = tr.spec_of(dst) if dv.ndim else None
    others = [tr.spec_of(a) for a in list(args[1:]) + list(kwargs.values())]
    func(*unwrap(args), **unwrap(kwargs))
    second = unwrap(args[1]) if len(args) > 1 else None
    if func in (np.put, np.put_along_axis):
        elements = int(np.size(second))
    elif func in (np.place, np.putmask):
        elements = int(np.count_nonzero(second))
    elif func is np.fill_diagonal:
        elements = min(dv.shape) if dv.ndim else 1
    else:
        where = kwargs.get("where", True)
        elements = dv.size if where is True else int(np.count_nonzero(unwrap(where)))
    (spec,) = tr.emit(func.__name__, "scatter", [old, *others], [(dv.shape, dv.dtype)],
                      {"elements": int(elements), "indexing": func.__name__})
    if isinstance(dst, TracedArray):
        tr.write(dst, spec)
    else:
        tr.shadow(dst, spec)
        tr.escape("out", f"np.{func.__name__} wrote traced values into an untraced ndarray; "
                         "later numpy calls on untraced arrays only are not recorded")
    return None


@handles(np.take, np.take_along_axis)
def _h_take(tr, func, args, kwargs):
    value = _arr(func(*unwrap(args), **unwrap(kwargs)))
    x, idx = args[0], args[1]
    ispec = tr.spec_of(idx) or tr.fresh(_arr(unwrap(idx)), "index")
    n = ispec.numel
    (spec,) = tr.emit("take", "gather", [tr.spec_of(x), ispec], [(value.shape, value.dtype)],
                      {"rows": int(np.shape(unwrap(x))[0]) if np.ndim(unwrap(x)) else 1,
                       "n": int(n), "dim": int(value.size // max(n, 1))})
    return tr.result(value, spec)


# matrix products, einsum, linalg and FFT handlers live in numpy_linalg (they register here)
from archsim.trace import numpy_linalg  # noqa: E402,F401,I001
