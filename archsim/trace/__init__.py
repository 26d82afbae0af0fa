"""The numpy tracer: run ordinary numpy code on traced arrays and get a Graph.

    from archsim.trace import trace
    graph = trace(conjugate_gradient, A, b, iters=100)      # arrays in args are traced

Key types: TracedArray (a real numpy value + its TensorSpec; NEP-13/18), Tracer (records ops,
escapes), trace / trace_callable (the API; the CLI's `archsim trace module:function`).
See README.md. The ONNX / torch importers live in archsim.trace.importers (optional extras)
and are imported lazily.
"""
from archsim.trace import numpy_api  # noqa: F401  (registers the `scatter` op kind)
from archsim.trace.api import resolve_callable, trace, trace_callable
from archsim.trace.tracer import (TracedArray, TraceError, TraceEscapeError, Tracer,
                                  TraceWarning)

__all__ = ["TraceError", "TraceEscapeError", "TraceWarning", "TracedArray", "Tracer",
           "importers", "resolve_callable", "trace", "trace_callable"]


def __getattr__(name: str):
    if name == "importers":  # optional extras: imported only when asked for
        import importlib
        return importlib.import_module("archsim.trace.importers")
    raise AttributeError(f"module 'archsim.trace' has no attribute {name!r}")
