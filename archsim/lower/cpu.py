"""Graph -> CpuProgram (mode `cpu`): each op becomes a parallel loop over the cores.

A CpuTask records what the CPU model needs to time a tiled SIMD loop nest: its flops and element
type, the tensors it reads and writes with the bytes it touches in each, how many independent
work items it can be split into (its parallelism), and its loop class (gemm: blocked for cache
reuse; elementwise: streaming; reduction; other: gathers, FFTs, factorisations). Views are not
tasks: they move no data.
"""
from __future__ import annotations

import math
import zlib
from dataclasses import dataclass, field

from archsim.graph import Graph, Op

GEMM_LIKE = {"gemm", "conv2d", "conv3d", "attention", "attention_bwd", "conv2d_dgrad",
             "conv2d_wgrad", "conv3d_dgrad", "conv3d_wgrad"}
STREAMING = {"elementwise", "copy", "transpose", "concat", "pool", "softmax", "layernorm",
             "softmax_bwd", "layernorm_bwd"}
# LookupFFN's row kinds: the gather-add and its backward (score gradient: gather_dot; table
# gradient: scatter_add_rows, its rows' read-modify-write costed as their reads plus the
# gradient tensor's write) walk the rows the codes draw in the same loop order
ROW_KINDS = ("gather_add", "gather_dot", "scatter_add_rows")
CHUNK_ELEMENTS = 4096  # elements per work item of a streaming loop (a few pages)
GEMM_TILE = 64         # output tile edge of a blocked GEMM work item


# ---------------------------------------------------------------- what a loop touches, as data
# A task's work items are numbered 0..items-1; each access says which addresses item i touches.
# The CPU model (archsim.hw.cpu.streams) turns a block of items into cache-line accesses.

@dataclass(frozen=True)
class Stream:
    """Contiguous [base, base + nbytes) split evenly over the items, in order; each item reads
    its slice `passes` times, row by row (`row_bytes`; 0 = the whole slice at once), as
    softmax and layernorm re-read each row."""
    base: int
    nbytes: int
    write: bool = False
    passes: int = 1
    row_bytes: int = 0
    stream_store: bool = False      # non-temporal stores (memcpy): no allocation in any cache


@dataclass(frozen=True)
class Whole:
    """Every item reads all of [base, base + nbytes): a broadcast operand (bias, scale)."""
    base: int
    nbytes: int


@dataclass(frozen=True)
class GemmTiles:
    """Blocked GEMM C[b] = A[b] x B[b]: item -> (b, m-tile, n-tile), n fastest; an item reads
    its A rows [tm x K] and its B columns [K x tn] (K rows of tn elements, N apart) and writes
    its C tile. `a_bytes` < M*K*esize marks an implicit GEMM (convolution): the tile's A rows
    map to the same fraction of the input tensor. `b_batched`: B has a batch dimension."""
    a: int
    b: int
    c: int
    batch: int
    M: int
    N: int
    K: int
    esize: int
    tm: int
    tn: int
    a_bytes: int
    b_batched: bool = False
    tk: int = 256                   # K elements per step of an item (the library's K block)

    @property
    def tiles(self) -> tuple[int, int]:
        return math.ceil(self.M / self.tm), math.ceil(self.N / self.tn)


@dataclass(frozen=True)
class AttentionBlocks:
    """Fused attention over [B, H, S, D] tensors: item -> (b, h, query block of `tq` rows);
    it reads its Q rows, all of its head's K and V (`Skv` rows; `kv_heads` < heads: shared),
    and writes its output rows."""
    q: int
    k: int
    v: int
    o: int
    B: int
    H: int
    S: int
    Skv: int
    D: int
    kv_heads: int
    esize: int
    tq: int


@dataclass(frozen=True)
class Rows:
    """`count` rows of `row_bytes` at seeded uniform random indices of a `table_rows`-row table
    (gather / scatter), split evenly over the items."""
    base: int
    row_bytes: int
    table_rows: int
    count: int
    seed: int
    write: bool = False
    indices: object = field(default=None, compare=False, hash=False, repr=False)
    # the row indices actually drawn, in access order (an op's attrs["indices"]: a 1-D integer
    # array or sequence of `count` rows) — when given they replace the seeded random draw


Access = Stream | Whole | GemmTiles | AttentionBlocks | Rows


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
    gemm_mnk: tuple[int, int, int] | None     # the equivalent GEMM (gemm-class loops)
    accesses: tuple = ()                      # Access records: the addresses items touch
    fn: str = ""                              # an elementwise op's function (its cost table key)
    elements: int = 0                         # output elements of one execution
    fresh_bytes: int = 0                      # bytes of pages the program first touches here


@dataclass(frozen=True)
class CpuProgram:
    name: str
    tasks: tuple[CpuTask, ...]
    buffers: dict = field(default_factory=dict, hash=False)   # tensor -> (address, bytes)
    resident: tuple[str, ...] = ()       # inputs and weights a warm start finds in the caches


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
    if op.kind in ROW_KINDS:
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


PAGE = 4096            # tensors are placed page-aligned
HEAP_BASE = 1 << 32    # first address of the simulated heap
WHOLE_LIMIT = 64 << 10  # a smaller broadcast operand is read whole by every work item
GEMM_TILES = (1024, 512, 256, 128, 64, 32, 16)
ATTN_QBLOCK = 64       # query rows per attention work item
PASSES = {"softmax": 3, "layernorm": 2, "softmax_bwd": 2, "layernorm_bwd": 3}


class Allocator:
    """Places tensors in one flat address space the way a caching allocator does: page-aligned
    blocks; an intermediate's block is freed after its last reader and reused by the next
    allocation of the same rounded size (so a traced loop's iterations reuse their buffers, as
    PyTorch's CPU allocator and glibc malloc do). Graph inputs, weights and outputs stay."""

    def __init__(self):
        self.top = HEAP_BASE
        self.free: dict[int, list[int]] = {}
        self.addr: dict[str, int] = {}
        self.free_names: set[str] = set()
        self.fresh: dict[str, int] = {}     # tensor -> bytes of never-used pages it was given

    def alloc(self, name: str, nbytes: int) -> int:
        size = max(PAGE, -(-nbytes // PAGE) * PAGE)
        pool = self.free.get(size)
        if pool:
            a = pool.pop()
        else:
            a, self.top = self.top, self.top + size
            self.fresh[name] = size
        self.addr[name] = a
        return a

    def release(self, name: str, nbytes: int) -> None:
        size = max(PAGE, -(-nbytes // PAGE) * PAGE)
        self.free.setdefault(size, []).append(self.addr[name])


def gemm_tiles(batch: int, M: int, N: int, cores: int) -> tuple[int, int]:
    """Output tile (tm, tn) of a blocked GEMM's work item: the largest tile (powers of two,
    16..1024, tm*tn <= 512*512) that still gives every core a work item, preferring square;
    the smallest tile when the product is too small for that. A blocked library (oneDNN's
    brgemm, BLIS) splits C into such blocks over threads and runs K inside the block."""
    best = None
    for tm in GEMM_TILES:
        for tn in GEMM_TILES:
            if tm * tn > 512 * 512:
                continue
            tm_, tn_ = min(tm, max(M, 1)), min(tn, max(N, 1))
            items = batch * math.ceil(M / tm_) * math.ceil(N / tn_)
            key = (items >= cores, tm_ * tn_ if items >= cores else items, -abs(tm_ - tn_))
            if best is None or key > best[0]:
                best = (key, (tm_, tn_))
    return best[1]


def _seed(name: str) -> int:
    return zlib.crc32(name.encode())


def _accesses(op: Op, cls: str, addr: dict[str, int], items: int, mnk, cores: int):
    """The Access records of one op and its work-item count."""
    ins, outs = op.inputs, op.outputs
    out_bytes = sum(t.nbytes for t in outs)
    if op.kind == "gemm" and len(ins) >= 2:
        a = op.attrs
        batch, M, N, K = a.get("batch", 1), a["M"], a["N"], a["K"]
        tm, tn = gemm_tiles(batch, M, N, cores)
        s = ins[0].itemsize
        g = GemmTiles(addr[ins[0].name], addr[ins[1].name], addr[outs[0].name], batch, M, N, K,
                      s, tm, tn, ins[0].nbytes, ins[1].numel >= batch * K * N and batch > 1)
        extra = tuple(Whole(addr[t.name], t.nbytes) for t in ins[2:] if t.nbytes <= WHOLE_LIMIT)
        gm, gn = g.tiles
        return (g,) + extra, batch * gm * gn
    if op.kind.startswith("conv") and "P" in op.attrs and len(ins) >= 2 and mnk:
        M, N, K = mnk
        tm, tn = gemm_tiles(1, M, N, cores)
        g = GemmTiles(addr[ins[0].name], addr[ins[1].name], addr[outs[0].name], 1, M, N, K,
                      ins[0].itemsize, tm, tn, ins[0].nbytes)
        gm, gn = g.tiles
        return (g,), gm * gn
    if op.kind == "attention" and len(ins) >= 3 and "S" in op.attrs:
        a = op.attrs
        B, H, S, D = a["B"], a["H"], a["S"], a["D"]
        Skv, Hkv = a.get("Skv", S), a.get("Hkv", H)
        tq = min(ATTN_QBLOCK, S)
        at = AttentionBlocks(addr[ins[0].name], addr[ins[1].name], addr[ins[2].name],
                             addr[outs[0].name], B, H, S, Skv, D, Hkv, ins[0].itemsize, tq)
        return (at,), B * H * math.ceil(S / tq)
    if op.kind in ROW_KINDS and len(ins) >= 3:
        return _gather_add_accesses(op, addr), items
    if op.kind == "gather" and len(ins) >= 2:
        table, idx = ins[0], ins[1]
        rows = max(1, idx.numel)
        row_bytes = max(1, table.nbytes // max(table.shape[0], 1))
        idx_attr = op.attrs.get("indices")
        if idx_attr is not None:
            rows = len(idx_attr)
        acc = (Rows(addr[table.name], row_bytes, max(table.shape[0], 1), rows, _seed(op.name),
                    indices=idx_attr),
               Stream(addr[idx.name], idx.nbytes),
               Stream(addr[outs[0].name], outs[0].nbytes, write=True))
        return acc, items
    if op.kind in ("scatter_add", "scatter") and len(ins) >= 2:
        target, rest = ins[0], ins[1:]
        upd = rest[0]
        row_bytes = max(1, target.nbytes // max(target.shape[0], 1))
        rows = max(1, upd.nbytes // row_bytes)
        acc = [Rows(addr[target.name], row_bytes, max(target.shape[0], 1), rows, _seed(op.name)),
               Rows(addr[target.name], row_bytes, max(target.shape[0], 1), rows, _seed(op.name),
                    write=True)]
        acc += [Stream(addr[t.name], t.nbytes) for t in rest]
        return tuple(acc), items
    # streaming, row-wise and everything else: inputs split over the items (small broadcast
    # operands read whole), outputs written in the same split
    big = max([t.numel for t in outs] + [t.numel for t in ins] + [1])
    passes = PASSES.get(op.kind, 1)
    row = outs[0].shape[-1] * outs[0].itemsize if outs and outs[0].shape and passes > 1 else 0
    acc, seen = [], set()
    for t in ins:
        if t.name in seen:
            continue
        seen.add(t.name)
        if t.numel < big and t.nbytes <= WHOLE_LIMIT:
            acc.append(Whole(addr[t.name], t.nbytes))
        else:
            acc.append(Stream(addr[t.name], t.nbytes, passes=passes if t.numel == big else 1,
                              row_bytes=row if t.numel == big else 0))
    nt = op.kind == "copy"
    for t in outs:
        acc.append(Stream(addr[t.name], t.nbytes, write=True, stream_store=nt))
    return tuple(acc), items


def lower_cpu(graph: Graph, cfg=None) -> CpuProgram:
    cores = cfg.cores.count if cfg is not None else 16
    ops = [op for op in graph.topo_ops()]
    last_use: dict[str, int] = {}
    for i, op in enumerate(ops):
        for t in op.inputs:
            last_use[t.name] = i
    keep = {t.name for t in graph.graph_inputs()}
    produced = {t.name for op in ops for t in op.outputs}
    consumed = {t.name for op in ops for t in op.inputs}
    keep |= produced - consumed               # graph outputs
    alloc = Allocator()
    alias: dict[str, str] = {}                # view -> the tensor whose memory it is
    view_used: dict[str, int] = {}
    for t in graph.graph_inputs():
        alloc.alloc(t.name, t.nbytes)
    tasks = []
    for i, op in enumerate(ops):
        for t in op.inputs:                   # tensors no op produced (weights, inputs)
            if t.name not in alloc.addr and t.name not in alias:
                alloc.alloc(t.name, t.nbytes)
        if op.kind == "view":
            # a view aliases its source; views smaller than it (q, k, v of a fused qkv output)
            # take consecutive slices of it
            for t in op.outputs:
                src = op.inputs[0].name
                root = alias.get(src, src)
                alias[t.name] = root
                off = view_used.get(src, 0)
                if off + t.nbytes > op.inputs[0].nbytes:
                    off = 0
                view_used[src] = off + t.nbytes
                alloc.addr[t.name] = alloc.addr[src] + off
            continue
        inplace = op.attrs.get("inplace") or {}
        fresh = 0
        for t in op.outputs:
            src = inplace.get(t.name) if isinstance(inplace, dict) else None
            if src is not None and src in alloc.addr and t.nbytes <= _nbytes(graph, src):
                # written over its input (numpy's out=, an optimizer's update): same memory
                root = alias.get(src, src)
                alias[t.name] = root
                alloc.addr[t.name] = alloc.addr[src]
                if t.name in keep:            # a graph output written over its input
                    keep.add(root)
                continue
            if t.name not in alloc.addr:
                alloc.alloc(t.name, t.nbytes)
                fresh += alloc.fresh.get(t.name, 0)
        cls = loop_class(op.kind)
        reads, writes = _touched(op)
        out_elems = max((t.numel for t in op.outputs), default=1)
        mnk = _gemm_mnk(op) if cls == "gemm" else None
        if mnk:
            items = math.ceil(mnk[0] / GEMM_TILE) * math.ceil(mnk[1] / GEMM_TILE)
        else:
            items = math.ceil(max(out_elems, op.inputs[0].numel if op.inputs else 1) / CHUNK_ELEMENTS)
        items = max(1, items)
        acc, items = _accesses(op, cls, alloc.addr, items, mnk, cores)
        tasks.append(CpuTask(op.name, op.kind, op.dtype, cls, op.flops // op.repeat, op.repeat,
                             reads, writes, max(1, items), mnk, acc,
                             fn=str(op.attrs.get("fn", "")) if op.kind == "elementwise" else "",
                             elements=out_elems, fresh_bytes=fresh))
        # free what this op read last (a view's memory belongs to its source)
        for t in op.inputs:
            name = alias.get(t.name, t.name)
            if last_use.get(t.name) == i and name not in keep and t.name not in keep \
                    and name in produced and _last(name, alias, last_use) <= i:
                if name in alloc.addr and name not in alloc.free_names:
                    alloc.release(name, _nbytes(graph, name))
                    alloc.free_names.add(name)
    sizes = graph.tensors
    buffers = {n: (a, sizes[n].nbytes) for n, a in alloc.addr.items() if n in sizes}
    resident = tuple(t.name for t in graph.graph_inputs())
    return CpuProgram(graph.name, tuple(tasks), buffers, resident)


def _last(name: str, alias: dict[str, str], last_use: dict[str, int]) -> int:
    """The last op reading `name` directly or through any view of it."""
    return max([last_use.get(name, -1)] + [last_use.get(v, -1) for v, s in alias.items() if s == name])


def _nbytes(graph: Graph, name: str) -> int:
    return graph.tensors[name].nbytes


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


def _gather_add_accesses(op: Op, addr: dict[str, int]) -> tuple:
    """A LookupFFN gather-add's addresses, by loop order. Token-major ('token'): every lookup
    fetches its row, spread over all h tables (h x 2^tau rows), and the caches decide what
    hits. Table-major tiled ('table'): a tile of tokens sweeps one table at a time, so each
    table is its own row stream of the distinct rows per (tile, table) (`tile_rows` in all).
    Rows are drawn uniformly at random (seeded), not the codes' exact rows."""
    a = op.attrs
    table, codes, scores = op.inputs[:3]
    h, rows = a["tables"], a["rows"]
    row_bytes = a["dim"] * table.itemsize
    base = addr[table.name]
    seed = _seed(op.name)
    if a.get("order") == "table":
        per = max(1, a["tile_rows"] // h)
        acc = [Rows(base + j * rows * row_bytes, row_bytes, rows, per, seed + j)
               for j in range(h)]
    else:
        acc = [Rows(base, row_bytes, h * rows, max(1, a["lookups"]), seed)]
    acc += [Stream(addr[t.name], t.nbytes) for t in (codes, scores) + tuple(op.inputs[3:])]
    acc.append(Stream(addr[op.outputs[0].name], op.outputs[0].nbytes, write=True))
    return tuple(acc)
