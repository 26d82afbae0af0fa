"""Plan accounting of off-chip traffic: what a plan keeps on chip, in compulsory bytes.

The baseline is the graph's compulsory traffic run op by op (`Op.bytes`: every distinct input
read once, every output written once; views move nothing) — what a bulk-synchronous execution
must move without help from the L2. A group of ops that runs together (a pipeline, or a
vertically fused kernel) saves, for every intermediate produced and consumed inside it:
- each inside consumer's read of it (it arrives through a queue or stays in registers/SMEM);
- its write, unless it must land in DRAM (read outside the group, or a graph output).
A pipeline whose ring queues (entries x tile_bytes) exceed the L2's persisting carve-out
spills its largest queues to DRAM: their bytes are written and read back again.

This is accounting from the plan, not a simulation: the L2 of a real BSP run already keeps
some intermediates (the simulated BSP traffic is lower than the compulsory bytes), so cuts
computed here are upper bounds of what the simulated dataflow machine shows on the same graph.
"""
from __future__ import annotations

from dataclasses import dataclass

from archsim.graph import Graph
from archsim.lower.dataflow.plan import DataflowPlan
from archsim.lower.dataflow.select import L2_QUEUE_FRACTION, edge_kind


@dataclass(frozen=True)
class Traffic:
    """Compulsory DRAM bytes op by op (`baseline`), and with the groups' intermediates kept
    on chip (`with_groups` = baseline - kept + spilled)."""
    baseline: int
    kept: int
    spilled: int

    @property
    def with_groups(self) -> int:
        return self.baseline - self.kept + self.spilled

    @property
    def cut(self) -> float:
        """Fractional reduction of off-chip traffic against the baseline."""
        return (self.kept - self.spilled) / self.baseline if self.baseline else 0.0


def _root_of(graph: Graph):
    root: dict[str, str] = {}
    for op in graph.topo_ops():
        if op.kind == "view":
            src = op.inputs[0].name
            root[op.outputs[0].name] = root.get(src, src)
    return lambda n: root.get(n, n)


def baseline_bytes(graph: Graph) -> int:
    return sum(op.bytes for op in graph.ops if op.kind != "view")


def kept_bytes(graph: Graph, groups, onchip_edge) -> int:
    """Bytes a set of op groups keeps off DRAM. `groups`: iterable of sets of op names;
    `onchip_edge(consumer_op, input_index)` says whether that read can come from on chip when
    its producer is in the consumer's group."""
    root = _root_of(graph)
    producer = {}
    for op in graph.ops:
        if op.kind != "view":
            for t in op.outputs:
                producer[t.name] = op.name
    readers: dict[str, set[str]] = {}
    for op in graph.ops:
        if op.kind == "view":
            continue
        for t in op.inputs:
            readers.setdefault(root(t.name), set()).add(op.name)
    kept = 0
    for group in groups:
        members = [graph.op(n) for n in group if graph.op(n).kind != "view"]
        names = {o.name for o in members}
        needs_dram: set[str] = set()
        for op in members:
            seen: set[str] = set()
            for i, t in enumerate(op.inputs):
                r = root(t.name)
                if t.name in seen:
                    continue
                seen.add(t.name)
                if producer.get(r) in names:
                    if onchip_edge(op, i):
                        kept += t.nbytes * op.repeat
                    else:
                        needs_dram.add(r)
        for op in members:
            for t in op.outputs:
                users = readers.get(t.name, set())
                if users and users <= names and t.name not in needs_dram:
                    kept += t.nbytes * op.repeat
    return kept


def plan_traffic(graph: Graph, plan: DataflowPlan, cfg) -> Traffic:
    """Compulsory traffic of `graph` op by op, and what `plan`'s pipelines keep on chip."""
    groups = [set(p.ops) for p in plan.pipelines]
    kept = kept_bytes(graph, groups,
                      lambda op, i: edge_kind(op, i) not in ("dram", "order"))
    budget = L2_QUEUE_FRACTION * cfg.l2.size
    spilled = 0
    for p in plan.pipelines:
        foot = sorted(((q.entries * q.tile_bytes, q) for q in p.queues), key=lambda x: -x[0])
        total = sum(f for f, _ in foot)
        for f, q in foot:
            if total <= budget:
                break
            total -= f
            spilled += q.nbytes * (1 + len(q.dst))   # written once, read by every consumer
    return Traffic(baseline_bytes(graph), kept, spilled)
