"""Vertical fusion (`lower(graph, cfg, mode="fused")`): producer -> consumer chains in one kernel.

What TensorRT, AStitch and Welder do to a forward graph, on the same GPU model as mode bsp:

    groups = fusion_groups(graph, cfg)     # pure, testable: which ops share a kernel
    program = lower_fused(graph, cfg)      # the Program the BSP machine runs
    lower_fused(graph, cfg, gemm_chains=False)  # epilogues only: no back-to-back GEMMs

Rules (`fusion_groups`), visiting ops in the graph's topological order:
- Only forward ops fuse (training: the backward and the optimizer run as in bsp, as a compiler
  that fuses inference graphs leaves them).
- A group starts at a GEMM (no split-K: the fused epilogue needs each output tile complete on
  one CTA) or at a streaming op (elementwise, copy, concat, layernorm, softmax, a reduction not
  over the row axis). An op joins the group of the one group member whose result it reads if
  - it reads exactly one tensor made inside the group, and no other input it reads depends on
    the group (so the group stays one convex kernel), and
  - it works row by row on the same rows: an elementwise/copy op (an epilogue); a layernorm or
    softmax whose row fits in shared memory with the GEMM tile (ROW_TILE rows x the row in fp32
    within the SM's shared memory); a GEMM reading the group's result as its A operand when
    two intermediate row blocks (ROW_TILE x K, bf16, double-buffered) and the GEMM's whole
    weight (K x N) fit in shared memory together (a back-to-back GEMM keeps its weights
    resident while row blocks of the first product stream through, as Bolt's persistent MLP
    kernels and Welder do: 128-wide MLPs fuse, 256-wide ones do not, on an A100 (164 KiB) as
    on the paper's 192 KB or an H200's 228 KB). No prologue fusion: a stream op feeding a
    GEMM ends its group.
- An intermediate made and read only inside a group is never written to or read from DRAM; one
  also read outside the group is still written once.

Lowering (`lower_fused`): ops outside groups lower exactly as in bsp. A group becomes one kernel
at its first op: a GEMM group keeps the head GEMM's tiles and geometry (its C tile stays on chip,
`c_esize = 0`, when nothing outside needs it), adds the members' flops (GEMMs) and SIMT work
(epilogues, norms: the lane-instructions bsp would issue for them, serialised after the main
loop) as extra K-steps, reads the members' other inputs (weights, residuals,
norm parameters) as streams and writes the results the rest of the graph reads as streams. A
stream group is one stream (or row) kernel with the same reads and writes. The members keep their
Program rows with no kernels, so per-op flops still add up.
"""
from __future__ import annotations

import heapq
import math
from dataclasses import replace

from archsim.graph import Graph, Op
from archsim.lower import bsp, vendor
from archsim.lower.program import Access, Kernel, OpKernels, Program

ROW_TILE = 128                  # rows of a GEMM tile whose whole rows a fused row op needs
STREAM_KINDS = frozenset({"elementwise", "copy", "concat", "layernorm", "softmax", "reduction"})
ROW_KINDS = frozenset({"layernorm", "softmax", "reduction"})


def _forward(op: Op) -> bool:
    return op.attrs.get("phase", "forward") == "forward"


def _row_fits(width: int, cfg) -> bool:
    """A ROW_TILE-row block of `width` fp32 accumulators fits in one SM's shared memory."""
    return ROW_TILE * width * 4 <= cfg.sm.shared_memory


def _weights_fit(op: Op, cfg) -> bool:
    """A back-to-back GEMM: two ROW_TILE-row blocks of its A operand (double-buffered: the next
    block streams in while the current one is multiplied, as every GEMM main loop does) and its
    whole B (weights) fit in one SM's shared memory together."""
    a, es = op.attrs, op.inputs[0].itemsize
    return (2 * ROW_TILE * a["K"] + a["K"] * a["N"]) * es <= cfg.sm.shared_memory


def _gemm_plan(op: Op, cfg):
    a = op.attrs
    return vendor.plan_gemm(a["M"], a["N"], a["K"], a.get("batch", 1), op.inputs[0].dtype, cfg,
                            splits=(1,))


def _can_head(op: Op, cfg) -> bool:
    if not _forward(op):
        return False
    if op.kind == "gemm":
        return _gemm_plan(op, cfg) is not None
    if op.kind == "copy" and op.attrs.get("autocast"):
        return False
    if op.kind == "reduction":
        return 0 not in tuple(op.attrs.get("axes", ()))
    return op.kind in STREAM_KINDS


def fusion_groups(graph: Graph, cfg, gemm_chains: bool = True) -> list[tuple[str, ...]]:
    """Groups of >= 2 ops that run as one kernel, head first, members in topological order.
    gemm_chains=False: epilogue fusion only (TensorRT-style), no back-to-back GEMMs."""
    ops = graph.topo_ops()
    index = {op.name: i for i, op in enumerate(ops)}
    root: dict[str, str] = {}
    producer: dict[str, Op] = {}
    for op in ops:
        if op.kind == "view":
            src = op.inputs[0].name
            root[op.outputs[0].name] = root.get(src, src)
        else:
            for t in op.outputs:
                producer[t.name] = op
    group_of: dict[str, int] = {}
    groups: list[list[Op]] = []
    for op in ops:
        if op.kind == "view" or not _forward(op):
            continue
        made_in: dict[int, list[int]] = {}   # group -> indices of the inputs it made
        for i, t in enumerate(op.inputs):
            p = producer.get(root.get(t.name, t.name))
            if p is not None and p.name in group_of:
                made_in.setdefault(group_of[p.name], []).append(i)
        joined = False
        for gid in sorted(made_in, reverse=True):          # the latest group first
            g = groups[gid]
            reads = {root.get(op.inputs[i].name, op.inputs[i].name) for i in made_in[gid]}
            if len(reads) == 1 and _joins(op, made_in[gid][0], g, cfg, gemm_chains) and \
                    _convex(op, g, index, producer, root):
                g.append(op)
                group_of[op.name] = gid
                joined = True
                break
        if not joined and _can_head(op, cfg):
            groups.append([op])
            group_of[op.name] = len(groups) - 1
    return [tuple(o.name for o in g) for g in groups if len(g) > 1]


def _joins(op: Op, i: int, group: list[Op], cfg, gemm_chains: bool) -> bool:
    head = group[0]
    if not op.outputs or (op.kind == "copy" and op.attrs.get("autocast")):
        return False
    if op.kind in ("elementwise", "copy"):     # pointwise on the group's data: an epilogue
        return op.outputs[0].numel == op.inputs[i].numel
    if i != 0:
        return False
    if op.kind == "gemm":
        a = op.attrs
        return (gemm_chains and head.kind == "gemm" and i == 0 and a.get("batch", 1) == 1
                and _weights_fit(op, cfg))
    if op.kind in ("layernorm", "softmax"):
        return _row_fits(op.inputs[0].shape[-1], cfg)
    if op.kind == "reduction":
        return head.kind != "gemm" and 0 not in tuple(op.attrs.get("axes", ()))
    if op.kind == "concat":
        return head.kind != "gemm"
    return False


def _convex(op: Op, group: list[Op], index, producer, root) -> bool:
    """No input of `op` made outside the group depends on the group (the group would have to
    wait for an op that waits for it). Ops before the group's head cannot: only later ones are
    searched (a weight cast placed between two fused GEMMs depends on nothing in the group)."""
    names = {o.name for o in group}
    start = index[group[0].name]
    stack = [p for t in op.inputs
             if (p := producer.get(root.get(t.name, t.name))) is not None and p.name not in names]
    seen: set[str] = set()
    while stack:
        p = stack.pop()
        if p.name in seen or index[p.name] < start:
            continue
        if p.name in names:
            return False
        seen.add(p.name)
        stack.extend(q for t in p.inputs
                     if (q := producer.get(root.get(t.name, t.name))) is not None)
    return True


# ---- lowering -----------------------------------------------------------------------------------

def lower_fused(graph: Graph, cfg, tuner=None, gemm_chains: bool = True) -> Program:
    """The Program of mode "fused": bsp lowering with each fusion group as one kernel."""
    groups = fusion_groups(graph, cfg, gemm_chains)
    head_of = {g[0]: g for g in groups}
    member = {n for g in groups for n in g[1:]}
    mem = bsp._Memory()
    mem.tuner = tuner
    for t in graph.graph_inputs():
        mem.of(t)
    readers: dict[str, set[str]] = {}
    root: dict[str, str] = {}
    for op in graph.topo_ops():
        if op.kind == "view":        # a view reads nothing: its readers read the data
            src = op.inputs[0].name
            root[op.outputs[0].name] = root.get(src, src)
            continue
        for t in op.inputs:
            readers.setdefault(root.get(t.name, t.name), set()).add(op.name)
    out: list[OpKernels] = []
    for op in _schedule(graph, groups):
        if op.kind == "view":
            src = mem.of(op.inputs[0])
            mem.alias[op.outputs[0].name] = src
            out.append(OpKernels(op.name, op.kind, 0, ()))
            continue
        if op.name in member:
            out.append(OpKernels(op.name, op.kind, op.flops, ()))
            continue
        if op.name in head_of:
            g = [graph.op(n) for n in head_of[op.name]]
            k = _group_kernel(g, cfg, mem, readers, root)
            out.append(OpKernels(op.name, op.kind, op.flops, (k,) * max(1, op.repeat)))
            continue
        fn = bsp._LOWERERS.get(op.kind, bsp._roofline)
        out.append(OpKernels(op.name, op.kind, op.flops,
                             tuple(fn(op, cfg, mem)) * max(1, op.repeat)))
    resident = tuple(mem.alias.get(t.name, t.name) for t in graph.graph_inputs())
    return Program(graph.name, cfg.name, "fused", tuple(out), dict(mem.buffers), resident)


def _schedule(graph: Graph, groups: list[tuple[str, ...]]) -> list[Op]:
    """The graph's ops in a topological order of the graph with each group contracted to one
    node (a fused kernel runs when all its members' outside inputs are ready), members right
    after their head; ties go to the op first in the graph's own order. Views are transparent:
    each runs (launching nothing) with the node that made the data it aliases. Groups are
    convex, so the contracted graph has no cycle."""
    ops = graph.topo_ops()
    index = {op.name: i for i, op in enumerate(ops)}
    node = {n: g[0] for g in groups for n in g}          # op -> its node (the group's head)
    members = {g[0]: g for g in groups}
    root: dict[str, str] = {}
    producer: dict[str, str] = {}
    after: dict[str | None, list[Op]] = {}               # node -> views of its data
    for op in ops:
        if op.kind == "view":
            src = op.inputs[0].name
            root[op.outputs[0].name] = r = root.get(src, src)
            p = producer.get(r)
            after.setdefault(node.get(p, p) if p else None, []).append(op)
        else:
            for t in op.outputs:
                producer[t.name] = op.name
    succ: dict[str, set[str]] = {}
    npred: dict[str, int] = {}
    for op in ops:
        if op.kind == "view":
            continue
        v = node.get(op.name, op.name)
        npred.setdefault(v, 0)
        for t in op.inputs:
            p = producer.get(root.get(t.name, t.name))
            if p is None:
                continue
            u = node.get(p, p)
            if u != v and v not in succ.setdefault(u, set()):
                succ[u].add(v)
                npred[v] += 1
    heap = [(index[v], v) for v, k in npred.items() if k == 0]
    heapq.heapify(heap)
    out: list[Op] = list(after.get(None, ()))
    while heap:
        _, v = heapq.heappop(heap)
        # the node's ops and the views of its data, in the graph's order (a member may read a
        # view of an earlier member's result)
        chunk = [graph.op(n) for n in members.get(v, (v,))] + after.get(v, [])
        out.extend(sorted(chunk, key=lambda o: index[o.name]))
        for w in sorted(succ.get(v, ())):
            npred[w] -= 1
            if npred[w] == 0:
                heapq.heappush(heap, (index[w], w))
    return out


def _group_kernel(group: list[Op], cfg, mem, readers, root) -> Kernel:
    head = group[0]
    names = {o.name for o in group}
    made = {t.name for o in group for t in o.outputs}
    # member kernels as bsp would launch them alone: their work, summed into the fused kernel
    if head.kind == "gemm":
        a = head.attrs
        base = bsp._gemm_kernels(head, cfg, mem, a["M"], a["N"], a["K"], a.get("batch", 1),
                                 mem.of(head.inputs[0]), mem.of(head.inputs[1]),
                                 mem.of(head.outputs[0]), head.inputs[0].dtype,
                                 tuple(mem.of(t) for t in head.inputs[2:]),
                                 plan=_gemm_plan(head, cfg))[0]
    else:
        base = bsp._LOWERERS.get(head.kind, bsp._roofline)(head, cfg, mem)[0]
    simt = base.simt_ops
    extra_flops = 0
    model = base.model
    dep = base.dep_rounds
    for o in group[1:]:
        if o.kind == "gemm":
            extra_flops += 2 * o.attrs["M"] * o.attrs["N"] * o.attrs["K"] * o.attrs.get("batch", 1)
            epi = o.attrs.get("epilogue")
            if epi and epi != "identity":
                simt += o.outputs[0].numel * vendor.elementwise_ops(epi)
            continue
        ks = bsp._LOWERERS.get(o.kind, bsp._roofline)(o, cfg, mem)
        simt += sum(k.simt_ops for k in ks)
        dep = max(dep, max((k.dep_rounds for k in ks), default=1))
        if o.kind in ROW_KINDS and model == "stream":
            model = "row"

    def needed(tname: str) -> bool:        # read outside the group, or a graph output
        users = readers.get(tname, set())
        return not users or not users <= names

    head_out = head.outputs[0].name
    reads: list[Access] = []
    seen: set[str] = set()
    for o in group:
        for t in o.inputs:
            r = root.get(t.name, t.name)
            if r in made or r in seen:
                continue
            seen.add(r)
            if o is head and head.kind == "gemm":
                continue                          # the head's own A/B/bias accesses
            reads.append(Access("stream", mem.of(t), nbytes=t.nbytes))
    writes = [Access("stream", mem.of(t), write=True, nbytes=t.nbytes)
              for o in group for t in o.outputs
              if needed(t.name) and not (head.kind == "gemm" and t.name == head_out)]
    name = "fused_" + "_".join(o.kind for o in group)
    if head.kind == "gemm":
        t = base.tile
        tile = t if needed(head_out) else replace(t, c_esize=0)   # C stays on chip
        per_step = 2 * t.tm * t.tn * t.tk
        units = max(base.units, 1)
        extra_steps = math.ceil(extra_flops / units / per_step) if extra_flops else 0
        # the GEMM model times a kernel by its K-steps; the members' SIMT work (epilogues, norms)
        # runs after the main loop on the SM's lanes: charged as the K-steps it lasts
        if base.pipe == "tensor":
            step_cycles = per_step / cfg.sm.tensor_flops_per_cycle.get(base.dtype, 4096)
        else:
            step_cycles = per_step / 2 / cfg.sm.simt_lanes
        extra_simt = simt - base.simt_ops
        if extra_simt > 0:
            extra_steps += math.ceil(extra_simt / units / (cfg.sm.simt_lanes * step_cycles))
        return replace(base, name=name, simt_ops=simt, steps=base.steps + extra_steps,
                       tensor_flops=base.tensor_flops + (extra_flops if base.pipe == "tensor"
                                                         else 0),
                       accesses=base.accesses + tuple(reads) + tuple(writes), tile=tile)
    return replace(base, name=name, model=model, simt_ops=simt, dep_rounds=dep,
                   accesses=tuple(reads) + tuple(writes), approximate=False)


bsp.MODES["fused"] = lower_fused
