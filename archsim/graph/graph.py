"""Graph: a workload as ops over tensors, on a networkx DiGraph of op names."""
from __future__ import annotations

from collections.abc import Iterator

import networkx as nx

from archsim.graph.op import Op
from archsim.graph.tensor import TensorSpec


class Graph:
    """Ops in insertion order; edges from an op producing a tensor to every op reading it.

    `topo_ops()` is deterministic: among ready ops, the one inserted first comes first.
    """

    def __init__(self, name: str = "graph", attrs: dict | None = None):
        self.name = name
        self.attrs: dict = dict(attrs or {})
        self._ops: dict[str, Op] = {}
        self._order: dict[str, int] = {}
        self._producer: dict[str, str] = {}
        self._tensors: dict[str, TensorSpec] = {}
        self.nx = nx.DiGraph()

    # ---- building -------------------------------------------------------------------------
    def add_op(self, op: Op) -> Op:
        if op.name in self._ops:
            raise ValueError(f"graph {self.name}: duplicate op name {op.name!r}")
        for t in op.inputs + op.outputs:
            known = self._tensors.get(t.name)
            if known is not None and (known.shape, known.dtype) != (t.shape, t.dtype):
                raise ValueError(f"graph {self.name}: tensor {t.name!r} used as {t.shape}/{t.dtype}"
                                 f" but declared {known.shape}/{known.dtype}")
            self._tensors.setdefault(t.name, t)
        self._ops[op.name] = op
        self._order[op.name] = len(self._order)
        self.nx.add_node(op.name)
        for t in op.inputs:
            src = self._producer.get(t.name)
            if src is not None:
                self.nx.add_edge(src, op.name, tensor=t.name)
        for t in op.outputs:
            if t.name in self._producer:
                raise ValueError(f"graph {self.name}: tensor {t.name!r} produced twice")
            self._producer[t.name] = op.name
        return op

    # ---- reading --------------------------------------------------------------------------
    def __len__(self) -> int:
        return len(self._ops)

    def __iter__(self) -> Iterator[Op]:
        return iter(self.topo_ops())

    def op(self, name: str) -> Op:
        return self._ops[name]

    @property
    def ops(self) -> list[Op]:
        """Ops in insertion order."""
        return list(self._ops.values())

    @property
    def tensors(self) -> dict[str, TensorSpec]:
        return dict(self._tensors)

    def topo_ops(self) -> list[Op]:
        order = nx.lexicographical_topological_sort(self.nx, key=lambda n: self._order[n])
        return [self._ops[n] for n in order]

    def producer(self, tensor: str) -> Op | None:
        name = self._producer.get(tensor)
        return self._ops[name] if name is not None else None

    def consumers(self, tensor: str) -> list[Op]:
        return [op for op in self._ops.values() if any(t.name == tensor for t in op.inputs)]

    def graph_inputs(self) -> list[TensorSpec]:
        """Tensors read but produced by no op (inputs, parameters, state)."""
        return [t for n, t in self._tensors.items() if n not in self._producer]

    def params(self) -> list[TensorSpec]:
        return [t for t in self._tensors.values() if t.role == "param"]

    @property
    def flops(self) -> int:
        return sum(op.flops for op in self._ops.values())

    @property
    def bytes(self) -> int:
        """Sum of per-op compulsory bytes (what a one-kernel-per-op execution must move)."""
        return sum(op.bytes for op in self._ops.values())

    def count_by_kind(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for op in self._ops.values():
            out[op.kind] = out.get(op.kind, 0) + 1
        return dict(sorted(out.items()))

    def summary(self) -> str:
        return (f"{self.name}: {len(self)} ops, {self.flops / 1e9:.3f} GFLOP, "
                f"{self.bytes / 1e6:.3f} MB compulsory")
