"""Graph -> CpuProgram (mode `cpu`): each op becomes a parallel loop over the cores.

A CpuTask records what the CPU model needs to time a tiled SIMD loop nest: its flops and element
type, the tensors it reads and writes with the bytes it touches in each, how many independent
work items it can be split into (its parallelism), and its loop class (gemm: blocked for cache
reuse; elementwise: streaming; reduction; other: gathers, FFTs, factorisations). Views are not
tasks: they move no data.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

from archsim.graph import Graph, Op

GEMM_LIKE = {"gemm", "conv2d", "conv3d", "attention", "attention_bwd", "conv2d_dgrad",
             "conv2d_wgrad", "conv3d_dgrad", "conv3d_wgrad"}
STREAMING = {"elementwise", "copy", "transpose", "concat", "pool", "softmax", "layernorm",
             "softmax_bwd", "layernorm_bwd"}
CHUNK_ELEMENTS = 4096  # elements per work item of a streaming loop (a few pages)
GEMM_TILE = 64         # output tile edge of a blocked GEMM work item


@dataclass(frozen=True)
class CpuTask:
    op: str
    kind: str
    dtype: str
    cls: str                                  # gemm | elementwise | reduction | other
    flops: int                                # of one execution
    repeat: int
    reads: tuple[tuple[str, int], ...]        # (tensor, bytes touched) of one execution
    writes: tuple[tuple[str, int], ...]
    items: int                                # independent work items (parallelism)
    gemm_mnk: tuple[int, int, int] | None     # for the blocked-traffic estimate


@dataclass(frozen=True)
class CpuProgram:
    name: str
    tasks: tuple[CpuTask, ...]


def loop_class(kind: str) -> str:
    if kind in GEMM_LIKE:
        return "gemm"
    if kind in STREAMING:
        return "elementwise"
    if kind == "reduction":
        return "reduction"
    return "other"


def _gemm_mnk(op: Op) -> tuple[int, int, int]:
    a = op.attrs
    if op.kind == "gemm":
        return a["batch"] * a["M"], a["N"], a["K"]
    if op.kind.startswith("conv") and "P" in a:
        spatial = a.get("Z", 1) * a["P"] * a["Q"]
        return a["N"] * spatial, a["K"], a["C"] // a.get("groups", 1) * a["R"] * a["S"] * a.get("T", 1)
    # attention and backward kinds: an equivalent square-ish product with the same flops
    side = max(1, round((max(op.flops // max(op.repeat, 1), 2) / 2) ** (1 / 3)))
    return side, side, side


def _touched(op: Op) -> tuple[tuple[tuple[str, int], ...], tuple[tuple[str, int], ...]]:
    """Bytes touched per tensor. A gather reads only its rows; a scatter touches only its rows."""
    writes = tuple((t.name, t.nbytes) for t in op.outputs)
    if op.kind == "gather_add":
        return gather_add_reads(op), writes
    if op.kind == "gather":
        table, idx = op.inputs[0], op.inputs[1]
        return ((table.name, op.outputs[0].nbytes), (idx.name, idx.nbytes)), writes
    if op.kind in ("scatter_add", "scatter") and len(op.inputs) >= 2:
        target, rest = op.inputs[0], op.inputs[1:]
        upd = rest[0].nbytes
        return ((target.name, upd),) + tuple((t.name, t.nbytes) for t in rest), \
            ((op.outputs[0].name, upd),)
    seen: dict[str, int] = {}
    for t in op.inputs:
        seen[t.name] = t.nbytes
    return tuple(seen.items()), writes


def lower_cpu(graph: Graph, cfg=None) -> CpuProgram:
    tasks = []
    for op in graph.topo_ops():
        if op.kind == "view":
            continue
        cls = loop_class(op.kind)
        reads, writes = _touched(op)
        out_elems = max((t.numel for t in op.outputs), default=1)
        mnk = _gemm_mnk(op) if cls == "gemm" else None
        if mnk:
            items = math.ceil(mnk[0] / GEMM_TILE) * math.ceil(mnk[1] / GEMM_TILE)
        else:
            items = math.ceil(max(out_elems, op.inputs[0].numel if op.inputs else 1) / CHUNK_ELEMENTS)
        tasks.append(CpuTask(op.name, op.kind, op.dtype, cls, op.flops // op.repeat, op.repeat,
                             reads, writes, max(1, items), mnk))
    return CpuProgram(graph.name, tuple(tasks))


def gather_add_reads(op: Op) -> tuple[tuple[str, int], ...]:
    """Bytes a LookupFFN gather-add reads, by loop order (kernel mapping for kind gather_add).

    The table tensor is read twice in this record: first the distinct rows the codes draw
    (compulsory), then the re-reads — which hit if the table set stayed resident after the
    first touch. Token-major ('token'): every lookup fetches its row, so the re-reads are
    lookups − distinct rows. Table-major tiled ('table'): a tile of tokens sweeps one table at
    a time, and a row drawn twice within a tile is still in the core's private cache, so only
    the distinct rows per (tile, table) leave the core: tile_rows − distinct rows.
    """
    a = op.attrs
    table = op.inputs[0]
    row = a["dim"] * table.itemsize
    fetched = a["tile_rows"] if a.get("order") == "table" else a["lookups"]
    reads = [(table.name, a["rows_drawn"] * row),
             (table.name, max(0, fetched - a["rows_drawn"]) * row)]
    return tuple(reads) + tuple((t.name, t.nbytes) for t in op.inputs[1:])
