"""Workload IR: TensorSpec, Op, Graph; cost functions per op kind; workload specs and registry.

Names are imported on first use (PEP 562), so `archsim.graph.registry` can be imported and
asked for workload names without importing numpy and networkx.
"""
import importlib

_WHERE = {
    "GraphBuilder": "builder", "DTYPE_BYTES": "dtypes", "dtype_bytes": "dtypes",
    "Graph": "graph", "ELEMENTWISE_FLOPS": "op", "KINDS": "op", "Op": "op",
    "register_kind": "op", "Workload": "registry", "build_workload": "registry",
    "get_workload": "registry", "register_workload": "registry", "workloads": "registry",
    "format_spec": "spec", "parse_spec": "spec", "TensorSpec": "tensor",
}

__all__ = sorted(_WHERE)


def __getattr__(name):
    mod = _WHERE.get(name)
    if mod is None:
        raise AttributeError(f"module 'archsim.graph' has no attribute {name!r}")
    value = getattr(importlib.import_module(f"archsim.graph.{mod}"), name)
    globals()[name] = value
    return value


def __dir__():
    return sorted(set(globals()) | set(_WHERE))
