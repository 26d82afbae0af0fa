"""Graph: a workload as ops over tensors; edges producer -> consumer between op names.

The edges are kept as plain sets (the topological order is Kahn's algorithm on a heap keyed
by insertion order, the same order as networkx's lexicographical_topological_sort); `Graph.nx`
builds a networkx DiGraph on demand, so building and running a workload does not import
networkx (about 0.2 s of every run).
"""
from __future__ import annotations

import heapq
from collections.abc import Iterator

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
        self._succ: dict[str, dict[str, str]] = {}   # op -> {consumer op: first tensor}
        self._npred: dict[str, int] = {}              # op -> distinct producer ops

    @property
    def nx(self):
        """The dependency graph as a networkx DiGraph (built on demand)."""
        import networkx as nx
        g = nx.DiGraph()
        g.add_nodes_from(self._ops)
        for a, outs in self._succ.items():
            for b, t in outs.items():
                g.add_edge(a, b, tensor=t)
        return g

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
        self._succ[op.name] = {}
        self._npred[op.name] = 0
        for t in op.inputs:
            src = self._producer.get(t.name)
            if src is not None:
                outs = self._succ[src]
                if op.name not in outs:
                    self._npred[op.name] += 1
                # networkx kept the last tensor's name on a repeated edge
                outs[op.name] = t.name
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
        """Ready ops in insertion order first (Kahn's algorithm on a heap of insertion index)."""
        npred = dict(self._npred)
        order = self._order
        heap = [order[n] for n, k in npred.items() if k == 0]
        heapq.heapify(heap)
        names = list(self._ops)
        out = []
        while heap:
            n = names[heapq.heappop(heap)]
            out.append(self._ops[n])
            for m in self._succ[n]:
                npred[m] -= 1
                if npred[m] == 0:
                    heapq.heappush(heap, order[m])
        return out

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
