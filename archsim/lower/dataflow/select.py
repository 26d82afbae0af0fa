"""Subgraph selection: Graph -> DataflowPlan (the Kitsune compiler pass, without load balancing).

    plan = plan_dataflow(graph, cfg)

The rules (README.md explains why each is so):

1. Streaming-friendly ("sf") ops may join a pipeline: GEMMs (and convolutions), elementwise,
   copy/cast, concat, layernorm, softmax, attention (and their backward kinds), reductions, and
   gathers of *bounded rows* — a gather whose table is an activation produced by the graph
   (graph-edge gathers feeding MLPs). Not sf, run bulk-synchronously: gathers whose table is a
   parameter (embedding lookups: a gather across the whole table), scatter_add (every update
   must land before any row of the result is final: a whole-tensor barrier), transpose, pool,
   fft, linalg, the LookupFFN kinds, and optimizer updates (phase "optimizer": they read and
   write parameters and state in DRAM and produce no intermediate).
2. Views cost nothing and never break a pipeline: a view joins its producer's stage, or, when
   its producer is outside the pipeline, runs (as zero kernels) just before it.
3. Each edge producer -> consumer is classified by how the consumer reads that operand:
   "queue" (tile by tile, in order: activations into a GEMM's A operand, elementwise and row
   ops, attention queries), "split" (the consumer reduces over the streamed dimension: a
   weight-gradient GEMM (transA), attention K/V, a reduction over the row axis, layer-norm
   backward's parameter gradients) or "dram" (the consumer needs the whole tensor first: a
   GEMM's B operand unless batched, a gather's table, a broadcast operand).
4. Pipelines are contiguous: ops are visited in the graph's topological order; a run of sf ops
   ends at a non-view op that is not sf and depends on the run, at an op that reads a run
   member through a "dram" edge, and where the training phase changes (forward -> backward:
   a compiler gets them as two graphs, so saved activations go through DRAM). Non-sf ops that depend on nothing in the run are hoisted
   before it. Inside a run, the weakly connected components over queue/split edges are the
   pipelines (they share no other edge, so any order among them is valid). A component with a
   single non-view op stays bulk-synchronous (nothing to keep on chip).
5. Stages: an elementwise/copy op whose only in-pipeline producer is one op (not split) is
   fused into that op's stage (trivial epilogue fusion); every other op starts a stage. An op
   with a "split" input edge, and a GEMM whose vendor plan uses split-K, gets a parallel-reduce
   stage (`reduce=True`) after it, fed by a many-1 queue of partial tiles.
6. Queues: one per intermediate that crosses stages inside a pipeline; 1-1, or 1-many when
   several stages read it; tile_bytes is the producer's output tile — a GEMM's (tm x tn) C tile
   from the vendor plan, otherwise a block of whole rows of about 64 KiB — and tiles =
   ceil(bytes / tile_bytes) x repeat. Stage kind: "tensor" when it holds a bf16/fp16 GEMM,
   convolution or attention, else "simt".
7. Size: a pipeline has at most sm.count stages of each kind (every stage needs a CTA; an SM
   pairs one SIMT and one tensor CTA) and its queue rings fit 75 % of the L2 (the persisting
   carve-out); a component that does not fit is cut in two halves in topological order until
   each part fits.

Deterministic: everything follows the graph's deterministic topological order.
"""
from __future__ import annotations

import math

from archsim.graph import Graph, Op
from archsim.graph.tensor import TensorSpec
from archsim.lower import vendor
from archsim.lower.dataflow.plan import DataflowPlan, Pipeline, Queue, Stage

TILE_BYTES = 64 * 1024          # the paper's queue payload (about 64 KB tiles)
L2_QUEUE_FRACTION = 0.75        # A100/H100: up to 75 % of the L2 may be set aside as persisting
SPLIT_MAX = 8                   # partial tiles per output tile of a split reduction
TENSOR_DTYPES = ("bf16", "fp16", "fp8", "int8")

SF_KINDS = frozenset({
    "gemm", "conv2d", "conv3d", "conv2d_dgrad", "conv2d_wgrad", "conv3d_dgrad", "conv3d_wgrad",
    "elementwise", "copy", "concat", "layernorm", "layernorm_bwd", "softmax", "softmax_bwd",
    "attention", "attention_bwd", "reduction", "gather"})
TENSOR_KINDS = frozenset({"gemm", "conv2d", "conv3d", "conv2d_dgrad", "conv2d_wgrad",
                          "conv3d_dgrad", "conv3d_wgrad", "attention", "attention_bwd"})


# ---- classification -----------------------------------------------------------------------------

def is_sf(op: Op, edge_gathers: bool = True) -> bool:
    """May this op run inside a spatial pipeline? (rule 1; edge_gathers=False: no gather may)"""
    if op.attrs.get("phase") == "optimizer" or op.kind not in SF_KINDS:
        return False
    if op.kind == "copy" and op.attrs.get("autocast"):
        return False        # a weight cast (param -> bf16): no activation flows through it
    if op.kind == "gather":                # an embedding lookup is excluded
        return edge_gathers and op.inputs[0].role not in ("param", "state")
    return True


def edge_kind(op: Op, i: int) -> str:
    """How `op` reads its input number `i`: "queue", "split", "dram" or "order" (rule 3).
    "order": an input that only orders the op after its producer (a KV-cache write that a
    decode attention then reads from DRAM)."""
    k, a = op.kind, op.attrs
    t = op.inputs[i]
    if k == "gemm":
        if a.get("transA"):
            return "split" if i < 2 else "dram"          # dW = X^T dY: reduce over tokens
        if i == 0:
            return "queue"
        if i == 1 and a.get("batch", 1) > 1:
            return "queue"                                # batched: both operands per batch
        return "dram"                                     # B re-read by every row tile; bias
    if k in ("conv2d_wgrad", "conv3d_wgrad"):
        return "split"
    if k == "attention":        # every query tile reads all of K and V: they must exist whole
        return ("queue", "dram", "dram")[i] if i < 3 else "order"
    if k == "attention_bwd":    # q, k, v, o, dY: K and V whole again; dK, dV reduce over queries
        return "dram" if i in (1, 2) else "split"
    if k == "gather":
        return "dram" if i == 0 else "queue"
    if k == "reduction":
        return "split" if 0 in tuple(a.get("axes", ())) else "queue"
    if k == "layernorm_bwd":
        return "split" if len(op.outputs) > 1 else "queue"
    if k in ("elementwise", "copy") and op.outputs and _rows(t) < _rows(op.outputs[0]):
        return "dram"                                     # broadcast across rows (a bias)
    return "queue"


def _phase(op: Op) -> str:
    """Forward and backward are separate graphs to a compiler (AOTAutograd hands Dynamo
    backends one of each): a pipeline never spans both; saved activations go through DRAM."""
    return "backward" if op.attrs.get("phase") == "backward" else "forward"


def _rows(t: TensorSpec) -> int:
    """Rows of a tensor (every axis but the last): what a row-block tile is cut along."""
    return t.numel // t.shape[-1] if t.shape and t.shape[-1] else 1


def op_splits(op: Op, cfg) -> bool:
    """Does `op` run as partial tiles plus a parallel reduce when it is inside a pipeline?"""
    if any(edge_kind(op, i) == "split" for i in range(len(op.inputs))):
        return True
    if op.kind == "gemm":
        a = op.attrs
        plan = vendor.plan_gemm(a["M"], a["N"], a["K"], a.get("batch", 1), op.inputs[0].dtype, cfg)
        return plan.split_k > 1
    if op.kind == "attention":  # too few query tiles to fill the SMs: split K/V (flash-decoding)
        a = op.attrs
        units, _, _, _ = vendor.plan_attention(a["B"], a["H"], a["S"], cfg.sm.count,
                                               a.get("Hkv", a["H"]))
        return units < cfg.sm.count
    return False


def stage_kind(ops: list[Op]) -> str:
    for op in ops:
        if op.kind in TENSOR_KINDS and op.inputs[0].dtype in TENSOR_DTYPES:
            return "tensor"
    return "simt"


def tile_bytes(t: TensorSpec, producer: Op | None, cfg) -> int:
    """Bytes of one tile of `t` as its producer emits it (rule 6)."""
    if producer is not None and producer.kind == "gemm" and t is producer.outputs[0]:
        a = producer.attrs
        plan = vendor.plan_gemm(a["M"], a["N"], a["K"], a.get("batch", 1),
                                producer.inputs[0].dtype, cfg)
        tb = min(plan.tile_m, a["M"]) * min(plan.tile_n, a["N"]) * t.itemsize
        tb *= max(1, TILE_BYTES // max(tb, 1))     # whole C tiles per entry, up to ~64 KiB
        return max(1, min(tb, t.nbytes))
    row = (t.shape[-1] if t.shape else 1) * t.itemsize
    rows = max(1, t.numel // max(t.shape[-1], 1)) if t.shape else 1
    per = 1 << max(0, int(math.floor(math.log2(max(1, TILE_BYTES // max(row, 1))))))
    return max(1, min(per, rows) * row)


def tiles_of(t: TensorSpec, tb: int, repeat: int) -> int:
    return max(1, math.ceil(t.nbytes / tb)) * max(1, repeat)


# ---- the pass -----------------------------------------------------------------------------------

class _Views:
    """Resolves a tensor read through views to the tensor that holds its data."""

    def __init__(self, graph: Graph):
        self.root: dict[str, str] = {}
        for op in graph.topo_ops():
            if op.kind == "view":
                src = op.inputs[0].name
                self.root[op.outputs[0].name] = self.root.get(src, src)

    def __call__(self, name: str) -> str:
        return self.root.get(name, name)


def plan_dataflow(graph: Graph, cfg, edge_gathers: bool = True,
                  keep_out=None) -> DataflowPlan:
    """The Kitsune pass on `graph` for GPU `cfg` (see the module docstring for the rules).

    edge_gathers=False keeps every gather out of pipelines, graph-edge gathers too (the
    selection the paper's op coverage points to; Table 2 reports both). keep_out(op) -> True
    runs that op bulk-synchronously as if it were not sf (what-ifs: which ops a compiler
    leaves out)."""
    ops = graph.topo_ops()
    root = _Views(graph)
    producer: dict[str, Op] = {}
    for op in ops:
        for t in op.outputs:
            producer[t.name] = op
    tensors = graph.tensors
    readers: dict[str, set[str]] = {}     # tensor (through views) -> the ops that read it
    for op in ops:
        for t in op.inputs:
            readers.setdefault(root(t.name), set()).add(op.name)

    def real_producer(tname: str) -> Op | None:
        return producer.get(root(tname)) if root(tname) in producer and \
            producer[root(tname)].kind != "view" else None

    # rule 4: runs of sf ops, hoisting independent non-sf ops, broken at dependent non-sf ops
    # and at dram edges into the run
    runs: list[tuple[list[Op], list[Op]]] = []          # (hoisted bsp ops, run ops) in order
    hoisted: list[Op] = []
    run: list[Op] = []
    in_run: set[str] = set()

    def close() -> None:
        nonlocal hoisted, run, in_run
        if run or hoisted:
            runs.append((hoisted, run))
        hoisted, run, in_run = [], [], set()

    for op in ops:
        if op.kind == "view":
            src = root(op.inputs[0].name)
            p = producer.get(src)
            if p is not None and p.name in in_run:
                run.append(op)
                in_run.add(op.name)
            else:
                hoisted.append(op)
            continue
        preds = [(i, real_producer(t.name)) for i, t in enumerate(op.inputs)]
        dep_in_run = [(i, p) for i, p in preds if p is not None and p.name in in_run]
        if not is_sf(op, edge_gathers) or (keep_out is not None and keep_out(op)):
            if dep_in_run:
                close()
                runs.append(([op], []))
            else:
                hoisted.append(op)
            continue
        if any(edge_kind(op, i) == "dram" for i, _ in dep_in_run) or \
                (run and _phase(op) != _phase(run[-1])):
            close()
        run.append(op)
        in_run.add(op.name)
    close()

    pipelines: list[Pipeline] = []
    bsp_ops: list[str] = []
    order: list[tuple[str, object]] = []
    for hoist, members in runs:
        for h in hoist:
            bsp_ops.append(h.name)
            order.append(("bsp", h.name))
        todo = list(reversed(_components(members, real_producer, root)))
        while todo:
            comp = todo.pop()
            real = [o for o in comp if o.kind != "view"]
            if len(real) < 2:
                for o in comp:
                    bsp_ops.append(o.name)
                    order.append(("bsp", o.name))
                continue
            p = _pipeline(f"p{len(pipelines)}", comp, graph, cfg, real_producer, root, tensors,
                          readers)
            if not _fits(p, cfg):
                todo.extend(reversed(_halves(comp, real, real_producer)))
                continue
            order.append(("pipeline", len(pipelines)))
            pipelines.append(p)
    return DataflowPlan(graph.name, tuple(pipelines), tuple(bsp_ops), tuple(order))


def _fits(p: Pipeline, cfg) -> bool:
    """Rule 7: every stage gets at least one CTA, and an SM holds one CTA of each pipe type, so a
    pipeline has at most sm.count stages of each kind; its queue rings fit the L2's persisting
    carve-out."""
    for kind in ("tensor", "simt"):
        if sum(1 for st in p.stages if st.kind == kind) > cfg.sm.count:
            return False
    return sum(q.entries * q.tile_bytes for q in p.queues) <= L2_QUEUE_FRACTION * cfg.l2.size


def _halves(comp: list[Op], real: list[Op], real_producer) -> list[list[Op]]:
    """A component cut in two at the middle of its (topologically ordered) ops; a view goes
    with the op that made its data. The first half cannot depend on the second."""
    first = {o.name for o in real[:len(real) // 2]}

    def in_first(o: Op) -> bool:
        if o.kind != "view":
            return o.name in first
        p = real_producer(o.inputs[0].name)
        return p is not None and p.name in first
    return [[o for o in comp if in_first(o)], [o for o in comp if not in_first(o)]]


def _components(members: list[Op], real_producer, root) -> list[list[Op]]:
    """Weakly connected components of a run over its queue/split/order edges (views attach to
    their producer), each in topological order, ordered by their first op."""
    if not members:
        return []
    names = [o.name for o in members]
    parent = {n: n for n in names}

    def find(n):
        while parent[n] != n:
            parent[n] = parent[parent[n]]
            n = parent[n]
        return n

    inside = set(names)
    for op in members:
        if op.kind == "view":
            p = real_producer(op.inputs[0].name)
            if p is not None and p.name in inside:
                parent[find(op.name)] = find(p.name)
            continue
        for i, t in enumerate(op.inputs):
            p = real_producer(t.name)
            if p is not None and p.name in inside and edge_kind(op, i) != "dram":
                parent[find(op.name)] = find(p.name)
    groups: dict[str, list[Op]] = {}
    for op in members:
        groups.setdefault(find(op.name), []).append(op)
    return list(groups.values())   # dict order: by each component's first member


def _pipeline(name: str, comp: list[Op], graph: Graph, cfg, real_producer, root,
              tensors: dict, readers: dict[str, set[str]]) -> Pipeline:
    inside = {o.name for o in comp}
    stage_ops: list[list[Op]] = []
    stage_of: dict[str, int] = {}        # op -> its (main) stage
    out_stage: dict[str, int] = {}       # op -> stage that emits its result (reduce stage if split)
    reduce_of: dict[int, int] = {}       # main stage -> its reduce stage
    split_ops: set[str] = set()
    for op in comp:
        if op.kind == "view":
            p = real_producer(op.inputs[0].name)
            s = stage_of[p.name]
            stage_ops[s].append(op)
            stage_of[op.name] = s
            out_stage[op.name] = out_stage[p.name]
            continue
        in_preds = {p.name for i, t in enumerate(op.inputs)
                    if (p := real_producer(t.name)) is not None and p.name in inside
                    and edge_kind(op, i) != "order"}
        splits = op_splits(op, cfg)
        if (op.kind in ("elementwise", "copy") and not splits and len(in_preds) == 1
                and next(iter(in_preds)) not in split_ops):
            s = stage_of[next(iter(in_preds))]
            stage_ops[s].append(op)
            stage_of[op.name] = out_stage[op.name] = s
            continue
        stage_ops.append([op])
        s = len(stage_ops) - 1
        stage_of[op.name] = out_stage[op.name] = s
        if splits:
            split_ops.add(op.name)
            stage_ops.append([op])
            reduce_of[s] = len(stage_ops) - 1
            out_stage[op.name] = reduce_of[s]
    reduce_stages = set(reduce_of.values())

    # queues: every intermediate crossing stages; the many-1 partial queues of split ops
    consumers: dict[str, list[int]] = {}      # root tensor -> consuming stages (in order)
    for op in comp:
        if op.kind == "view":
            continue
        for i, t in enumerate(op.inputs):
            p = real_producer(t.name)
            if p is None or p.name not in inside or edge_kind(op, i) in ("dram", "order"):
                continue
            src, dst = out_stage[p.name], stage_of[op.name]
            if src == dst:
                continue
            lst = consumers.setdefault(root(t.name), [])
            if dst not in lst:
                lst.append(dst)
    queues: list[Queue] = []
    for tname, dsts in consumers.items():
        t = tensors[tname]
        p = real_producer(tname)
        tb = tile_bytes(t, p, cfg)
        queues.append(Queue(f"{name}.q{len(queues)}", tname, out_stage[p.name], tuple(sorted(dsts)),
                            "1-many" if len(dsts) > 1 else "1-1", tb, tiles_of(t, tb, p.repeat)))
    for s, r in sorted(reduce_of.items()):
        op = stage_ops[s][0]
        out = op.outputs[0]
        tb = min(tile_bytes(out, op, cfg) * 4 // max(out.itemsize, 1), max(out.numel * 4, 1))
        partial_tiles = tiles_of(out, tile_bytes(out, op, cfg), op.repeat) * SPLIT_MAX
        queues.append(Queue(f"{name}.q{len(queues)}", f"{out.name}#partials", s, (r,), "many-1",
                            max(tb, 1), partial_tiles))

    stages = []
    for s, members in enumerate(stage_ops):
        real = [o for o in members if o.kind != "view"] or members
        last = real[-1]
        t = last.outputs[0] if last.outputs else None
        tiles = tiles_of(t, tile_bytes(t, last, cfg), last.repeat) if t is not None else 1
        if s in reduce_stages:
            stages.append(Stage(f"{name}.s{s}.reduce", (members[0].name,), "simt", tiles,
                                reduce=True))
        else:
            stages.append(Stage(f"{name}.s{s}", tuple(o.name for o in members),
                                stage_kind(real), tiles))

    # DRAM in/out: what the pipeline reads from outside, and what must land in DRAM
    produced = {root(t.name) for o in comp for t in o.outputs}
    dram_in: list[str] = []
    dram_out: list[str] = []
    outside_readers = {r for r, users in readers.items() if not users <= inside}
    for op in comp:
        if op.kind == "view":
            continue
        for i, t in enumerate(op.inputs):
            r = root(t.name)
            if r not in produced and r not in dram_in:
                dram_in.append(r)
            elif r in produced and edge_kind(op, i) in ("dram", "order") and r not in dram_out:
                dram_out.append(r)
    read_inside = {root(t.name) for o in comp for t in o.inputs}
    for op in comp:
        if op.kind == "view":
            continue
        for t in op.outputs:
            r = root(t.name)
            if (r in outside_readers or r not in read_inside) and r not in dram_out:
                dram_out.append(r)
    return Pipeline(name, tuple(stages), tuple(queues), tuple(dram_in), tuple(dram_out))
