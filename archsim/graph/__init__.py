"""Workload IR: TensorSpec, Op, Graph; cost functions per op kind; workload specs and registry."""
from archsim.graph.builder import GraphBuilder
from archsim.graph.dtypes import DTYPE_BYTES, dtype_bytes
from archsim.graph.graph import Graph
from archsim.graph.op import ELEMENTWISE_FLOPS, KINDS, Op, register_kind
from archsim.graph.registry import (Workload, build_workload, get_workload, register_workload,
                                    workloads)
from archsim.graph.spec import format_spec, parse_spec
from archsim.graph.tensor import TensorSpec

__all__ = ["DTYPE_BYTES", "ELEMENTWISE_FLOPS", "Graph", "GraphBuilder", "KINDS", "Op",
           "TensorSpec", "Workload", "build_workload", "dtype_bytes", "format_spec",
           "get_workload", "parse_spec", "register_kind", "register_workload", "workloads"]
