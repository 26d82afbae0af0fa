"""The workload registry: named, parameterised graph builders.

A workload registers itself where it is defined:

    @register_workload("gemm", "one matrix product C = A B")
    def gemm(M: int, N: int, K: int, dtype: str = "bf16") -> Graph: ...

Parameters, their defaults and the one-line description come from the function itself;
`archsim list workloads` reads them from here. Workload libraries outside archsim's core (the
top-level `workloads` package, third-party packages) are loaded through the Python entry-point
group `archsim.workloads`, so the core never imports them.
"""
from __future__ import annotations

import difflib
import inspect
import math
import types
import typing
from dataclasses import dataclass, field
from importlib import metadata
from typing import TYPE_CHECKING, Any, Callable

from archsim.errors import WorkloadError
from archsim.graph.spec import parse_spec

if TYPE_CHECKING:   # the registry itself stays importable without numpy and networkx
    from archsim.graph.graph import Graph

ENTRY_POINT_GROUP = "archsim.workloads"


# Every parameter is checked against its annotation and a range before a builder runs. Integers
# default to [0, MAX_INT] and floats to finite values of magnitude <= MAX_FLOAT; a workload
# narrows them with `bounds=` (e.g. stride >= 1). Graph size is bounded later, from the graph
# (archsim.graph.work), so these ranges only keep values physical and builders' arithmetic safe.
MAX_INT = 2**40
MAX_FLOAT = 1e15
HOST_BYTES_LIMIT = 8 * 2**30
"""Host memory a workload builder may allocate (traced numpy workloads run real numpy code):
past it, `build_workload` refuses before the builder runs (raise it with max_host_bytes=)."""
HOST_FLOPS_LIMIT = 2e11
"""Host arithmetic a builder may do (a traced solver really runs): about a minute of numpy on
one busy core; past it, `build_workload` refuses before the builder runs."""


@dataclass(frozen=True)
class Workload:
    name: str
    description: str
    builder: Callable[..., Graph]
    params: dict[str, Any]  # name -> default (inspect.Parameter.empty when required)
    module: str
    types: dict[str, Any] = field(default_factory=dict)  # name -> annotation
    bounds: dict[str, tuple] = field(default_factory=dict)  # name -> (lo, hi), inclusive
    host_bytes: Callable[..., float] | None = None  # estimate of what the builder allocates
    host_flops: Callable[..., float] | None = None  # estimate of the builder's own arithmetic

    def signature(self) -> str:
        parts = []
        for k, d in self.params.items():
            parts.append(k if d is inspect.Parameter.empty else f"{k}={d!r}")
        return f"{self.name}(" + ", ".join(parts) + ")"


_REGISTRY: dict[str, Workload] = {}
_LAZY: dict[str, str] = {}          # workload name -> module that registers it when imported
# the op kinds as workloads (archsim.graph.op_workloads registers each next to its builder)
_LAZY.update({n: "archsim.graph.op_workloads" for n in (
    "gemm", "add", "mul", "gelu", "relu", "elementwise", "mul_add", "softmax", "layernorm",
    "reduce", "attention", "conv2d", "gather", "scatter_add", "copy", "transpose", "pool")})
_plugins_loaded = False


def register_lazy(index: dict[str, str]) -> None:
    """Declare workloads by name without importing them: `{name: module}`. The module is
    imported (and registers the workload itself) the first time the name is asked for, so
    finding one workload does not import every library's dependencies (scipy, solvers...)."""
    _LAZY.update(index)


def workload_names() -> list[str]:
    """Every workload name, built-in and lazy, without importing the lazy modules."""
    load_plugins()
    return sorted(set(_REGISTRY) | set(_LAZY))


def register_workload(name: str, description: str, *, bounds: dict[str, tuple] | None = None,
                      host_bytes: Callable[..., float] | None = None,
                      host_flops: Callable[..., float] | None = None):
    """Decorator: register `fn(**params) -> Graph` under `name`.

    Parameters are type-checked against `fn`'s annotations. `bounds` maps a parameter to an
    inclusive (lo, hi) range (either may be None) replacing the default range; `host_bytes`,
    called with every parameter (defaults filled in), estimates the host memory the builder
    allocates, so a traced numpy workload too large for the machine is refused before it runs;
    `host_flops` likewise estimates the arithmetic the builder does (a traced solver really
    runs its iterations), so one that would take hours to trace is refused too.
    """

    def deco(fn: Callable[..., Graph]) -> Callable[..., Graph]:
        sig = inspect.signature(fn)
        params = {p.name: p.default for p in sig.parameters.values()
                  if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)}
        try:
            hints = typing.get_type_hints(fn)
        except Exception:  # noqa: BLE001 - an unresolvable annotation: fall back to the defaults
            hints = {}
        annotated = {k: hints.get(k, type(d) if d not in (inspect.Parameter.empty, None) else Any)
                 for k, d in params.items()}
        unknown = set(bounds or {}) - set(params)
        if unknown:
            raise ValueError(f"register_workload({name!r}): bounds for unknown parameter(s) "
                             f"{sorted(unknown)}")
        _REGISTRY[name] = Workload(name, description, fn, params, fn.__module__, annotated,
                                   dict(bounds or {}), host_bytes, host_flops)
        return fn

    return deco


def load_plugins() -> list[str]:
    """Import every module named in the `archsim.workloads` entry-point group (once)."""
    global _plugins_loaded
    loaded = []
    if _plugins_loaded:
        return loaded
    _plugins_loaded = True
    for ep in sorted(metadata.entry_points(group=ENTRY_POINT_GROUP), key=lambda e: e.name):
        try:
            ep.load()
            loaded.append(ep.name)
        except ImportError as exc:  # a broken plugin must not hide the built-in workloads
            import warnings
            warnings.warn(f"archsim: workload plugin {ep.name!r} failed to load: {exc}")
    return loaded


def _import_lazy(name: str) -> None:
    import importlib
    mod = _LAZY.get(name)
    if mod is not None and name not in _REGISTRY:
        importlib.import_module(mod)
        if name not in _REGISTRY:
            raise WorkloadError(f"workload {name!r}: module {mod} was expected to register it")


def workloads() -> dict[str, Workload]:
    """Every workload with its parameters (imports every lazy module)."""
    import archsim.graph.op_workloads  # noqa: F401  (the op kinds as workloads)
    load_plugins()
    for name in sorted(_LAZY):
        _import_lazy(name)
    return dict(sorted(_REGISTRY.items()))


def get_workload(name: str) -> Workload:
    load_plugins()
    if name in _LAZY:
        _import_lazy(name)
    reg = _REGISTRY
    if name not in reg:
        close = difflib.get_close_matches(name, workload_names(), n=3)
        hint = f"; did you mean {', '.join(close)}?" if close else "; see `archsim list workloads`"
        raise WorkloadError(f"unknown workload {name!r}{hint}")
    return reg[name]


def _check_value(wl: Workload, key: str, value: Any) -> None:
    """WorkloadError unless `value` fits parameter `key`'s annotation and range."""
    tp = wl.types.get(key, Any)
    members = typing.get_args(tp) if typing.get_origin(tp) in (typing.Union, types.UnionType) \
        else (tp,)
    if value is None and type(None) in members:
        return
    members = [m for m in members if m is not type(None)]
    if Any in members or not members:
        return

    def fits(m):
        if m is bool:
            return type(value) is bool
        if m is int:
            return type(value) is int
        if m is float:
            return type(value) in (int, float)
        if m is str:
            return type(value) is str
        origin = typing.get_origin(m) or m
        return isinstance(origin, type) and isinstance(value, origin) and type(value) is not bool

    where = f"workload {wl.name}: parameter {key}"
    if not any(fits(m) for m in members):
        want = " or ".join(getattr(m, "__name__", str(m)) for m in members)
        hint = " (remove the quotes)" if isinstance(value, str) and _numeric(value) else ""
        raise WorkloadError(f"{where} expects {want}, found {value!r} "
                            f"({type(value).__name__}){hint}")
    if type(value) in (int, float):
        if isinstance(value, float) and not math.isfinite(value):
            raise WorkloadError(f"{where} must be finite, found {value!r}")
        lo, hi = wl.bounds.get(key, (0, MAX_INT) if type(value) is int
                               else (-MAX_FLOAT, MAX_FLOAT))
        if (lo is not None and value < lo) or (hi is not None and value > hi):
            rng = f"{lo if lo is not None else '-inf'} .. {hi if hi is not None else 'inf'}"
            raise WorkloadError(f"{where} must be in {rng}, found {value!r}")
    elif type(value) is str and len(value) > 200:
        raise WorkloadError(f"{where}: a string of {len(value)} characters is not a valid value")


def _numeric(text: str) -> bool:
    try:
        float(text)
        return True
    except ValueError:
        return False


def build_workload(spec: str, *, max_host_bytes: float = HOST_BYTES_LIMIT) -> Graph:
    """Parse `spec`, check its keywords against the workload's parameters, build the graph.

    Every value is checked against its parameter's type and range before the builder runs; a
    workload whose `host_bytes` estimate exceeds `max_host_bytes` is refused before it
    allocates anything. Errors are WorkloadErrors naming the parameter.
    """
    name, kwargs = parse_spec(spec)
    wl = get_workload(name)
    for k in kwargs:
        if k not in wl.params:
            close = difflib.get_close_matches(k, list(wl.params), n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise WorkloadError(f"workload {name}: unknown parameter {k!r}{hint}; "
                                f"parameters: {wl.signature()}")
    missing = [k for k, d in wl.params.items() if d is inspect.Parameter.empty and k not in kwargs]
    if missing:
        raise WorkloadError(f"workload {name}: missing parameter(s) {', '.join(missing)}; "
                            f"usage: {wl.signature()}")
    for k, v in kwargs.items():
        _check_value(wl, k, v)
    full = {k: d for k, d in wl.params.items() if d is not inspect.Parameter.empty} | kwargs
    work = _host_estimate(spec, wl.host_flops, full)
    if work > HOST_FLOPS_LIMIT:
        raise WorkloadError(
            f"workload {spec!r} would run about {work:.2g} flops of numpy on the host while "
            f"it is traced (limit {HOST_FLOPS_LIMIT:.2g}, about a minute); choose fewer "
            f"iterations or a smaller size")
    need = _host_estimate(spec, wl.host_bytes, full)
    if need > max_host_bytes:
        raise WorkloadError(
            f"workload {spec!r} would allocate about {need / 2**30:,.1f} GiB of host memory "
            f"while it is built (limit {max_host_bytes / 2**30:,.1f} GiB); choose smaller "
            f"parameters")
    try:
        graph = wl.builder(**kwargs)
    except WorkloadError:
        raise
    except MemoryError:
        raise WorkloadError(f"workload {spec!r}: building it needs more memory than this machine "
                            f"has; choose smaller parameters") from None
    except RecursionError:
        raise WorkloadError(f"workload {spec!r}: nested too deeply to build") from None
    except (TypeError, ValueError, KeyError, IndexError, ArithmeticError) as exc:
        raise WorkloadError(f"workload {spec!r}: {type(exc).__name__}: {exc}") from None
    for op in graph.ops:  # a machine runs no kernel on nothing: say so instead of dividing by 0
        empty = [t.name for t in op.inputs + op.outputs
                 if (t.numel <= 0 or any(d <= 0 for d in t.shape)) and op.kind != "view"]
        if empty:
            raise WorkloadError(f"workload {spec!r}: op {op.name} has empty tensor(s) "
                                f"{', '.join(empty)}: every dimension must be positive")
    graph.attrs.setdefault("spec", spec)
    graph.attrs.setdefault("workload", name)
    graph.attrs.setdefault("params", dict(kwargs))
    return graph


def _host_estimate(spec: str, estimate, params: dict) -> float:
    """A workload's own estimate of host work (flops or bytes) for `params`; 0 without one."""
    if estimate is None:
        return 0.0
    try:
        return float(estimate(**params))
    except (ArithmeticError, ValueError, TypeError) as exc:
        raise WorkloadError(f"workload {spec!r}: {exc}") from None
