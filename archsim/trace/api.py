"""`trace(fn, *args, **kwargs) -> Graph` and `trace_callable("module:function", kwargs)`."""
from __future__ import annotations

import dataclasses
import importlib
import inspect
import warnings
from contextlib import ExitStack
from typing import Any, Callable

import numpy as np

from archsim.errors import UserError
from archsim.graph.graph import Graph
from archsim.trace.aggregate import to_graph
from archsim.trace.tracer import TracedArray, Tracer, TraceWarning


def _arg_names(fn: Callable, args: tuple, kwargs: dict) -> tuple[list[str], dict[str, str]]:
    try:
        bound = inspect.signature(fn).bind_partial(*args, **kwargs)
        names = list(bound.arguments)
        pos = [names[i] if i < len(names) else f"arg{i}" for i in range(len(args))]
    except (TypeError, ValueError):
        pos = [f"arg{i}" for i in range(len(args))]
    return pos, {k: k for k in kwargs}


def _wrap(tr: Tracer, v: Any, name: str) -> Any:
    """Arrays (also inside lists, tuples and dicts, one level deep) become traced inputs."""
    if isinstance(v, np.ndarray):
        return tr.wrap(v, name)
    if isinstance(v, (list, tuple)) and any(isinstance(e, np.ndarray) for e in v):
        return type(v)(tr.wrap(e, f"{name}{i}") if isinstance(e, np.ndarray) else e
                       for i, e in enumerate(v))
    if isinstance(v, dict) and any(isinstance(e, np.ndarray) for e in v.values()):
        return {k: tr.wrap(e, f"{name}.{k}") if isinstance(e, np.ndarray) else e
                for k, e in v.items()}
    return v


def _outputs(obj: Any, acc: list, depth: int = 0) -> list:
    if depth > 4:
        return acc
    if isinstance(obj, TracedArray):
        acc.append(obj._current().name)
    elif isinstance(obj, (list, tuple)):
        for e in obj:
            _outputs(e, acc, depth + 1)
    elif isinstance(obj, dict):
        for e in obj.values():
            _outputs(e, acc, depth + 1)
    elif dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        for f in dataclasses.fields(obj):
            _outputs(getattr(obj, f.name, None), acc, depth + 1)
    return acc


def run_traced(tr: Tracer, fn: Callable, args: tuple, kwargs: dict) -> Any:
    """Call fn with its array arguments wrapped, inside tracing contexts (scipy.fft backend)."""
    pos, _ = _arg_names(fn, args, kwargs)
    targs = tuple(_wrap(tr, a, n) for a, n in zip(args, pos))
    tkw = {k: _wrap(tr, v, k) for k, v in kwargs.items()}
    with ExitStack() as stack:
        try:
            import scipy.fft

            from archsim.trace.numpy_linalg import ScipyFftBackend
            stack.enter_context(scipy.fft.set_backend(ScipyFftBackend, coerce=False, only=False))
        except ImportError:  # pragma: no cover - scipy is a dependency
            pass
        with np.errstate(all="ignore"):
            return fn(*targs, **tkw)


def finish(tr: Tracer, result: Any = None, *, aggregate: bool = True, warn: bool = True,
           attrs: dict | None = None) -> Graph:
    """End the trace and build its Graph; escapes go to graph.attrs and one warning."""
    tr.active = False
    g_attrs = {"traced": True, "strict": tr.strict,
               "outputs": _outputs(result, []),
               "escapes": [i.as_dict() for i in tr.escapes.values()],
               "unsupported": [i.as_dict() for i in tr.unsupported.values()]}
    g_attrs.update(attrs or {})
    graph = to_graph(tr, aggregate, g_attrs)
    summary = tr.report()
    if summary:
        graph.attrs["trace_report"] = summary
        if warn:
            warnings.warn(TraceWarning(summary), stacklevel=3)
    return graph


def trace(fn: Callable, *args, aggregate: bool = True, strict: bool = False,
          name: str | None = None, **kwargs) -> Graph:
    """Run fn(*args, **kwargs) with its numpy-array arguments traced; return the Graph.

    aggregate: fold identical loop iterations into attrs["repeat"] (exact totals).
    strict: raise TraceEscapeError at the first escape or untraced numpy call instead of
    recording it. name: the graph's name (default: the function's).
    """
    tr = Tracer(name or getattr(fn, "__name__", "trace"), strict=strict)
    try:
        result = run_traced(tr, fn, args, kwargs)
    finally:
        tr.active = False
    return finish(tr, result, aggregate=aggregate,
                  attrs={"source": f"{getattr(fn, '__module__', '?')}:"
                                   f"{getattr(fn, '__qualname__', '?')}"})


def resolve_callable(target: str) -> Callable:
    """'package.module:function' (or 'module:Class.method') -> the callable; UserError if not."""
    if not isinstance(target, str) or ":" not in target:
        raise UserError(f"trace target {target!r}: expected 'module:function', "
                        "e.g. 'workloads.science:conjugate_gradient'")
    mod_name, _, attr = target.partition(":")
    try:
        obj: Any = importlib.import_module(mod_name)
    except ModuleNotFoundError as exc:
        raise UserError(f"trace target {target!r}: no module named {exc.name!r}") from None
    except ImportError as exc:
        raise UserError(f"trace target {target!r}: importing {mod_name!r} failed: {exc}") from None
    for part in attr.split("."):
        if not part or not hasattr(obj, part):
            public = sorted(n for n in dir(obj) if not n.startswith("_")
                            and callable(getattr(obj, n, None)))[:20]
            raise UserError(f"trace target {target!r}: {mod_name!r} has no attribute {attr!r}; "
                            f"callables there: {', '.join(public) or '(none)'}")
        obj = getattr(obj, part)
    if not callable(obj):
        raise UserError(f"trace target {target!r} is not callable")
    return obj


def trace_callable(target: str, kwargs: dict | None = None, *, aggregate: bool = True,
                   strict: bool = False, name: str | None = None) -> Graph:
    """Trace 'module:function' called with `kwargs` (the CLI's `archsim trace`).

    Numpy arrays among the kwargs are traced inputs. A function that makes its own arrays
    from plain parameters is a *setup*: it may return (fn, args) or (fn, args, kwargs), and
    fn(*args, **kwargs) is traced with the array arguments traced. If nothing at all was
    traced, UserError says so (arrays a function creates itself cannot be traced).
    """
    fn = resolve_callable(target)
    kwargs = dict(kwargs or {})
    tr = Tracer(name or target.split(":")[-1], strict=strict)
    try:
        result = run_traced(tr, fn, (), kwargs)
    except TypeError as exc:
        if "argument" in str(exc) and not tr.records:
            raise UserError(f"trace target {target!r}: {exc}") from None
        raise
    if (not tr.records and isinstance(result, tuple) and 2 <= len(result) <= 3
            and callable(result[0]) and isinstance(result[1], (tuple, list))):
        inner_kwargs = dict(result[2]) if len(result) == 3 else {}
        tr.name = name or getattr(result[0], "__name__", tr.name)
        result = run_traced(tr, result[0], tuple(result[1]), inner_kwargs)
    tr.active = False
    if not tr.records:
        raise UserError(f"trace target {target!r}: nothing was traced — the function made all "
                        "its arrays itself. Pass arrays as arguments, or return (fn, args) from "
                        "a setup function so fn(*args) is traced.")
    return finish(tr, result, aggregate=aggregate, attrs={"source": target, "params": kwargs})
