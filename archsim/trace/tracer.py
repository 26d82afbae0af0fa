"""Tracer and TracedArray: run numpy code on real values and record what it computed.

A TracedArray carries the *real* numpy value alongside its TensorSpec. Every numpy call that
touches a traced array (ufuncs through NEP-13 `__array_ufunc__`, functions through NEP-18
`__array_function__`, indexing, operators, methods) computes the real result with numpy and
appends one record (kind, input specs, output specs, attrs) to its Tracer. Because values are
real, Python code that branches on data still runs exactly as it would untraced, and the trace
is what actually ran for those inputs.

Values that leave the trace as Python objects (bool(), float(), int(), .item(), .tolist(),
np.asarray / np.array / __array__, str() / print / format) are *escapes*: recorded with
their source line and reported (or, with strict=True, raised). Shape queries (.shape, len(), iteration over the
first axis) are not escapes: shapes are static in a trace.

Aliasing is followed: a basic slice, reshape or transpose that numpy returns as a view is a
zero-cost `view` op whose array remembers its root; an in-place write into a view (out=, a
slice assignment, `v += 1`) gives the root a new version through a zero-cost `view` op with
attrs["alias"]="update", and other views of that root re-derive from the new version when they
are next read (attrs["alias"]="refresh"). So the dataflow in the graph is what the memory did.
"""
from __future__ import annotations

import linecache
import math
import os
import sys
import weakref
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.lib.mixins import NDArrayOperatorsMixin

from archsim.errors import UserError
from archsim.graph.dtypes import NUMPY_NAMES
from archsim.graph.tensor import TensorSpec


class TraceError(UserError):
    """A trace cannot be taken (bad target, mixed tracers, use after the trace ended)."""


class TraceEscapeError(TraceError):
    """strict=True and a traced value left the trace (bool(), float(), np.asarray, ...)."""


class TraceWarning(UserWarning):
    """Summary of the escapes and unsupported calls of a non-strict trace."""


# ---- dtypes -------------------------------------------------------------------------------------
_BY_SIZE = {"f": {2: "fp16", 4: "fp32", 8: "fp64"}, "c": {8: "fp32", 16: "fp64"},
            "i": {1: "int8", 2: "int16", 4: "int32", 8: "int64"},
            "u": {1: "uint8", 2: "int16", 4: "int32", 8: "int64"}, "b": {1: "bool"}}


def graph_dtype(dt) -> str:
    """Our dtype name for a numpy dtype; types we lack map to one of the same size.

    Complex maps as archsim.graph.dtypes.NUMPY_NAMES says (complex128 -> fp64), so complex
    tensors count half their bytes until the graph grows complex dtypes.
    """
    hit = _DTYPE_CACHE.get(dt)
    if hit is None:
        d = np.dtype(dt)
        hit = NUMPY_NAMES.get(d.name) or _BY_SIZE.get(d.kind, {}).get(d.itemsize, "fp64")
        _DTYPE_CACHE[dt] = hit
    return hit


_DTYPE_CACHE: dict = {}  # numpy dtype -> our name (a pure function's memo, not state)


# ---- source locations ---------------------------------------------------------------------------
_TRACE_DIR = os.path.dirname(os.path.abspath(__file__))
_SKIP = tuple(os.path.dirname(os.path.abspath(m.__file__)) for m in (np,))


def _skip_dirs() -> tuple[str, ...]:
    dirs = [_TRACE_DIR, *_SKIP]
    for mod in ("scipy", "uarray"):
        m = sys.modules.get(mod)
        if m is not None and getattr(m, "__file__", None):
            dirs.append(os.path.dirname(os.path.abspath(m.__file__)))
    return tuple(dirs)


@dataclass(frozen=True)
class Site:
    file: str
    line: int
    function: str

    @property
    def short(self) -> str:
        parts = self.file.replace(os.sep, "/").split("/")
        return "/".join(parts[-2:]) + f":{self.line}"

    @property
    def code(self) -> str:
        return linecache.getline(self.file, self.line).strip()


def user_site(skip: tuple[str, ...]) -> Site:
    """The innermost frame outside the tracer, numpy and scipy: the user's line."""
    f = sys._getframe(1)
    while f is not None:
        fn = f.f_code.co_filename
        if not (fn.startswith(skip) or fn.startswith("<__array_function__")):
            return Site(fn, f.f_lineno, f.f_code.co_name)
        f = f.f_back
    return Site("<unknown>", 0, "?")


@dataclass
class Record:
    """One traced op before graph construction (see aggregate.py)."""

    name: str
    kind: str
    inputs: tuple[TensorSpec, ...]
    outputs: tuple[TensorSpec, ...]
    attrs: dict


@dataclass
class Incident:
    """An escape or an unsupported call at one source line, with how often it happened."""

    kind: str
    detail: str
    site: Site
    count: int = 0

    def as_dict(self) -> dict:
        return {"kind": self.kind, "detail": self.detail, "where": self.site.short,
                "file": self.site.file, "line": self.site.line, "function": self.site.function,
                "code": self.site.code, "count": self.count}


class Tracer:
    """Records ops on traced arrays. One tracer per trace; no global state.

    `wrap(value, name)` makes a traced input; `records` is the raw (unaggregated) op list;
    `escapes` / `unsupported` are incidents keyed by (kind, file, line).
    """

    def __init__(self, name: str = "trace", strict: bool = False):
        self.name = name
        self.strict = strict
        self.records: list[Record] = []
        self.producer: dict[str, tuple[int, int]] = {}  # tensor -> (record index, output pos)
        self.specs: dict[str, TensorSpec] = {}
        self.ephemeral: set[str] = set()  # producer-less tensors matched by shape (consts, empty)
        self.escapes: dict[tuple, Incident] = {}
        self.unsupported: dict[tuple, Incident] = {}
        self.active = True
        self._consts: dict[int, tuple[Any, TensorSpec]] = {}
        self._names: dict[str, int] = {}
        self._skip = _skip_dirs()

    # ---- naming ------------------------------------------------------------------------------
    def _unique(self, base: str) -> str:
        n = self._names.get(base, 0)
        self._names[base] = n + 1
        return base if n == 0 else f"{base}_{n}"

    def _spec(self, name: str, shape, dtype, role: str = "activation") -> TensorSpec:
        spec = TensorSpec(name, tuple(int(d) for d in shape), graph_dtype(dtype), role)
        self.specs[name] = spec
        return spec

    # ---- inputs ------------------------------------------------------------------------------
    def wrap(self, value, name: str = "x", role: str = "input") -> "TracedArray":
        """A traced input holding a copy of `value` (in-place ops never touch the caller's)."""
        self._check_active()
        value = np.array(value, copy=True)
        spec = self._spec(self._unique(name), value.shape, value.dtype, role)
        return TracedArray(self, value, spec)

    def fresh(self, value: np.ndarray, base: str) -> TensorSpec:
        """A producer-less tensor created inside the trace (np.empty_like, untraced constants)."""
        spec = self._spec(self._unique(base), value.shape, value.dtype,
                          "index" if value.dtype.kind in "biu" else "input")
        self.ephemeral.add(spec.name)
        return spec

    def const(self, arr: np.ndarray) -> TensorSpec:
        """The tensor of an untraced ndarray read by a traced op (one per live array object)."""
        key = id(arr)
        hit = self._consts.get(key)
        if hit is not None and hit[0]() is arr:
            return hit[1]
        spec = self.fresh(arr, "const")
        try:
            ref = weakref.ref(arr)
        except TypeError:  # pragma: no cover - ndarrays are weak-referenceable
            ref = (lambda a=arr: a)
        self._consts[key] = (ref, spec)
        return spec

    def shadow(self, arr: np.ndarray, spec: TensorSpec) -> None:
        """An untraced ndarray now holds `spec`'s data (a traced op wrote into it via out=)."""
        self._consts[id(arr)] = (weakref.ref(arr), spec)

    def spec_of(self, x) -> TensorSpec | None:
        """The tensor an operand stands for; None for immediates (Python and 0-d scalars)."""
        if isinstance(x, TracedArray):
            if x._tr is not self:
                raise TraceError("an operation mixes arrays from two different traces")
            return x._current()
        if isinstance(x, np.ndarray) and x.ndim > 0:
            return self.const(x)
        if isinstance(x, (list, tuple)) and x and not all(np.isscalar(e) for e in x):
            return None
        return None

    # ---- recording ---------------------------------------------------------------------------
    def _check_active(self) -> None:
        if not self.active:
            raise TraceError(f"trace {self.name!r} has ended; a TracedArray was used after it "
                             "(use .value for the real numpy value)")

    def emit(self, label: str, kind: str, inputs, outs, attrs: dict | None = None
             ) -> list[TensorSpec]:
        """Record one op; `outs` is a list of (shape, numpy dtype); returns the output specs."""
        self._check_active()
        idx = len(self.records)
        name = f"{label}_{idx}"
        specs = []
        for i, (shape, dt) in enumerate(outs):
            tname = f"{name}:out" if len(outs) == 1 else f"{name}:out{i}"
            specs.append(self._spec(tname, shape, dt))
            self.producer[tname] = (idx, i)
        attrs = dict(attrs or {})
        attrs["src"] = user_site(self._skip).short
        ins = tuple(s for s in inputs if s is not None)
        self.records.append(Record(name, kind, ins, tuple(specs), attrs))
        return specs

    def result(self, value, spec: TensorSpec, parent: "TracedArray | None" = None
               ) -> "TracedArray":
        """Wrap an op's real result; a view of `parent`'s memory remembers its root."""
        value = np.asarray(value) if not isinstance(value, np.ndarray) else value
        root = None
        if parent is not None and value.ndim > 0 and np.may_share_memory(value, parent._value):
            root = parent._root if parent._root is not None else parent
        return TracedArray(self, value, spec, root)

    def write(self, target: "TracedArray", spec: TensorSpec) -> None:
        """`target`'s memory now holds `spec`: new version; a view's root is updated too."""
        target._spec = spec
        root = target._root
        if root is None:
            target._version += 1
            return
        old = root._current()
        (merged,) = self.emit("alias", "view", (old, spec), [(old.shape, root._value.dtype)],
                              {"alias": "update"})
        root._spec = merged
        root._version += 1
        target._root_version = root._version

    # ---- escapes -----------------------------------------------------------------------------
    def incident(self, table: dict, kind: str, detail: str) -> None:
        site = user_site(self._skip)
        key = (kind, site.file, site.line)
        inc = table.get(key)
        if inc is None:
            inc = table[key] = Incident(kind, detail, site)
        inc.count += 1

    def escape(self, kind: str, detail: str) -> None:
        if self.strict:
            site = user_site(self._skip)
            raise TraceEscapeError(f"{site.short}: {detail} — the value leaves the trace "
                                   f"({kind}); `{site.code}`. Trace with strict=False to record "
                                   "escapes instead of failing.")
        self.incident(self.escapes, kind, detail)

    def unsupported_call(self, name: str) -> None:
        if self.strict:
            site = user_site(self._skip)
            raise TraceEscapeError(f"{site.short}: {name} is not traced op by op (recorded as an "
                                   f"opaque copy); `{site.code}`. Trace with strict=False to "
                                   "allow it.")
        self.incident(self.unsupported, name, f"{name} recorded as an opaque copy op (no flops)")

    def report(self) -> str:
        """A human summary of escapes and unsupported calls (empty when there are none)."""
        lines = []
        for title, table in (("escapes", self.escapes), ("untraced numpy calls", self.unsupported)):
            if not table:
                continue
            total = sum(i.count for i in table.values())
            lines.append(f"trace {self.name!r}: {total} {title} at {len(table)} site(s):")
            for inc in sorted(table.values(), key=lambda i: -i.count)[:10]:
                lines.append(f"  {inc.site.short} ×{inc.count}: {inc.detail}   `{inc.site.code}`")
            if len(table) > 10:
                lines.append(f"  ... and {len(table) - 10} more site(s) (graph.attrs)")
        return "\n".join(lines)


class TracedArray(NDArrayOperatorsMixin):
    """A numpy array under trace: a real value plus the TensorSpec of its current version.

    Use it as an ndarray. `.value` is the real numpy value (an explicit, unrecorded way out)
    and `.spec` the tensor it stands for in the graph.
    """

    __slots__ = ("_tr", "_value", "_spec", "_root", "_root_version", "_version", "__weakref__")

    def __init__(self, tracer: Tracer, value: np.ndarray, spec: TensorSpec,
                 root: "TracedArray | None" = None):
        self._tr = tracer
        self._value = value
        self._spec = spec
        self._root = root
        self._root_version = root._version if root is not None else 0
        self._version = 0

    # ---- identity ----------------------------------------------------------------------------
    @property
    def value(self) -> np.ndarray:
        return self._value

    @property
    def spec(self) -> TensorSpec:
        return self._current()

    def _current(self) -> TensorSpec:
        root = self._root
        if root is not None and root._version != self._root_version:
            # our memory changed through the root (or another view): re-derive from its version
            (self._spec,) = self._tr.emit("alias", "view", (root._current(),),
                                          [(self._value.shape, self._value.dtype)],
                                          {"alias": "refresh"})
            self._root_version = root._version
        return self._spec

    # ---- shape (static in a trace: not escapes) ----------------------------------------------
    shape = property(lambda self: self._value.shape)
    ndim = property(lambda self: self._value.ndim)
    size = property(lambda self: self._value.size)
    dtype = property(lambda self: self._value.dtype)
    itemsize = property(lambda self: self._value.itemsize)
    nbytes = property(lambda self: self._value.nbytes)
    strides = property(lambda self: self._value.strides)

    def __len__(self) -> int:
        return len(self._value)

    def __iter__(self):
        for i in range(len(self._value)):
            yield self[i]

    def __repr__(self) -> str:  # no values: safe for debuggers, not an escape
        return (f"TracedArray({self._spec.name}, shape={self._value.shape}, "
                f"dtype={self._value.dtype})")

    def __str__(self) -> str:  # print(x) shows the real values, as untraced code would
        self._escape("format", "str()/print()")
        return str(self._value)

    # ---- NEP-13 / NEP-18 ---------------------------------------------------------------------
    def __array_ufunc__(self, ufunc, method, *inputs, **kwargs):
        from archsim.trace import numpy_api
        return numpy_api.array_ufunc(self._tr, ufunc, method, inputs, kwargs)

    def __array_function__(self, func, types, args, kwargs):
        from archsim.trace import numpy_api
        return numpy_api.array_function(self._tr, func, args, kwargs)

    # ---- escapes -----------------------------------------------------------------------------
    def _escape(self, kind: str, what: str) -> None:
        self._tr.escape(kind, f"{what} of {self._spec.dtype}{list(self._value.shape)} "
                              f"tensor {self._spec.name}")

    def __array__(self, dtype=None, copy=None):
        self._escape("asarray", "np.asarray/np.array/__array__")
        v = self._value
        if dtype is not None:
            v = v.astype(dtype, copy=bool(copy))
        elif copy:
            v = v.copy()
        return v

    def __bool__(self) -> bool:
        self._escape("bool", "bool()")
        return bool(self._value)

    def __float__(self) -> float:
        self._escape("float", "float()")
        return float(self._value)

    def __int__(self) -> int:
        self._escape("int", "int()")
        return int(self._value)

    def __index__(self) -> int:
        self._escape("index", "use as a Python integer (__index__)")
        return self._value.__index__()

    def __complex__(self) -> complex:
        self._escape("complex", "complex()")
        return complex(self._value)

    def __format__(self, fmt: str) -> str:
        self._escape("format", f"format(..., {fmt!r})")
        return format(self._value[()] if self._value.ndim == 0 else self._value, fmt)

    def item(self, *args):
        self._escape("item", ".item()")
        return self._value.item(*args)

    def tolist(self):
        self._escape("tolist", ".tolist()")
        return self._value.tolist()

    __hash__ = None  # mutable, like ndarray

    # ---- indexing ----------------------------------------------------------------------------
    def __getitem__(self, key):
        from archsim.trace import numpy_api
        return numpy_api.getitem(self, key)

    def __setitem__(self, key, value) -> None:
        from archsim.trace import numpy_api
        numpy_api.setitem(self, key, value)

    # ---- ndarray methods, through the numpy functions ------------------------------------------
    @property
    def T(self):
        return np.transpose(self)

    @property
    def mT(self):
        return np.swapaxes(self, -1, -2)

    @property
    def real(self):
        return np.real(self)

    @property
    def imag(self):
        return np.imag(self)

    def reshape(self, *shape, order="C"):
        shape = shape[0] if len(shape) == 1 and isinstance(shape[0], (tuple, list)) else shape
        return np.reshape(self, shape, order=order)

    def transpose(self, *axes):
        axes = axes[0] if len(axes) == 1 and isinstance(axes[0], (tuple, list)) else axes
        return np.transpose(self, axes or None)

    def astype(self, dtype, order="K", casting="unsafe", subok=True, copy=True):
        from archsim.trace import numpy_api
        return numpy_api.astype(self, dtype, copy)

    def copy(self, order="C"):
        return np.copy(self, order=order)

    __copy__ = copy

    def __deepcopy__(self, memo):
        return np.copy(self)

    def flatten(self, order="C"):
        return np.copy(np.ravel(self, order=order))

    def fill(self, value) -> None:
        self[...] = value

    def sort(self, axis=-1, kind=None, order=None) -> None:
        self[...] = np.sort(self, axis=axis, kind=kind, order=order)

    def view(self, *args, **kwargs):
        raise TraceError("TracedArray.view(dtype) is not supported by the tracer")

    def __getattr__(self, name: str):
        # remaining ndarray methods are the numpy functions of the same name
        fn = _METHOD_FUNCS.get(name)
        if fn is None:
            raise AttributeError(f"TracedArray has no attribute {name!r} (ndarray.{name} is not "
                                 "supported by archsim.trace)")
        return lambda *a, **k: fn(self, *a, **k)


_METHOD_FUNCS = {
    "sum": np.sum, "mean": np.mean, "prod": np.prod, "max": np.max, "min": np.min,
    "any": np.any, "all": np.all, "argmax": np.argmax, "argmin": np.argmin, "std": np.std,
    "var": np.var, "cumsum": np.cumsum, "cumprod": np.cumprod, "dot": np.dot, "ravel": np.ravel,
    "squeeze": np.squeeze, "swapaxes": np.swapaxes, "clip": np.clip, "conj": np.conjugate,
    "conjugate": np.conjugate, "round": np.round, "nonzero": np.nonzero, "diagonal": np.diagonal,
    "trace": np.trace, "argsort": np.argsort, "repeat": np.repeat,
    "take": np.take, "ptp": np.ptp, "searchsorted": np.searchsorted, "put": np.put,
}


def numel(shape) -> int:
    return math.prod(shape)
