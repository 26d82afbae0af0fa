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
from dataclasses import dataclass
from importlib import metadata
from typing import TYPE_CHECKING, Any, Callable

from archsim.errors import WorkloadError
from archsim.graph.spec import parse_spec

if TYPE_CHECKING:   # the registry itself stays importable without numpy and networkx
    from archsim.graph.graph import Graph

ENTRY_POINT_GROUP = "archsim.workloads"


@dataclass(frozen=True)
class Workload:
    name: str
    description: str
    builder: Callable[..., Graph]
    params: dict[str, Any]  # name -> default (inspect.Parameter.empty when required)
    module: str

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


def register_workload(name: str, description: str):
    """Decorator: register `fn(**params) -> Graph` under `name`."""

    def deco(fn: Callable[..., Graph]) -> Callable[..., Graph]:
        sig = inspect.signature(fn)
        params = {p.name: p.default for p in sig.parameters.values()
                  if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)}
        _REGISTRY[name] = Workload(name, description, fn, params, fn.__module__)
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


def build_workload(spec: str) -> Graph:
    """Parse `spec`, check its keywords against the workload's parameters, build the graph."""
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
    try:
        graph = wl.builder(**kwargs)
    except WorkloadError:
        raise
    except (TypeError, ValueError, KeyError, ZeroDivisionError) as exc:
        raise WorkloadError(f"workload {spec!r}: {exc}") from None
    for op in graph.ops:  # a machine runs no kernel on nothing: say so instead of dividing by 0
        empty = [t.name for t in op.inputs + op.outputs if t.numel == 0 and op.kind != "view"]
        if empty:
            raise WorkloadError(f"workload {spec!r}: op {op.name} has empty tensor(s) "
                                f"{', '.join(empty)}: every dimension must be positive")
    graph.attrs.setdefault("spec", spec)
    graph.attrs.setdefault("workload", name)
    graph.attrs.setdefault("params", dict(kwargs))
    return graph
