"""Graph -> MeshProgram (modes `stepsync`, `event`): every operator tiled over a many-core mesh.

Each op becomes a blocked loop nest whose work items are spread over the tiles, one work item
per tile per step (UPCYCLE's method, papers.md section 2):

- **contractions** (gemm, conv2d/3d and their gradients, attention, the LSTM's GEMMs): the output
  is cut into `mb x nb` blocks (2D blocking of M x N; for a convolution M is the spatial extent
  N·P·Q, so an M block is a strip of output pixels, and N the output channels), the reduction
  into `kb` chunks (for a convolution, channel chunks times the filter window). A wave puts one
  output block on each tile; the wave then runs ceil(K / kb / splitk) steps, each tile reading
  one A block and one B block per step and keeping its accumulators. When there are fewer output
  blocks than tiles the reduction is split (`splitk` parts) and the partial sums are reduced in
  one extra step. Attention: a work item is a block of queries of one head; its B block is that
  head's K and V chunk, which every query block of the head shares (so it is multicast).
- **streams** (elementwise, norms, softmax, pooling, gathers, copies, everything else): the
  output is cut into chunks, one per tile per step; A is the chunk's inputs.

Block sizes are chosen by `choose_blocks`, a small documented cost model: among candidate
`mb x nb` (nb a multiple of the SIMD lanes), take the largest `kb` whose A and B blocks fit the
L1 operand budget (`lowering.operand_fraction` of L1: the rest holds the prefetch of the next
step and the outputs), split K if the blocks do not fill the tiles, and keep the candidate with
the fewest estimated cycles = steps x max(compute, L1 ports, operand bytes over one local port
plus the corner-to-corner latency of an idle mesh).

Placement maps the n-th work item of a wave to a tile: `affine` (row-major over the mesh) or
`hilbert` (the n-th tile along a generalized Hilbert curve, so consecutive items, which share
their A block, sit on neighbouring tiles and their multicast trees stay small).

Blocks are costed whole: an edge block is padded, as a simple tiled kernel would run it.

**Elementwise fusion** (`lowering.fuse_elementwise`, default on, as the paper's lowering: the
authors' traces hold only the convolutions, matmuls and LSTM cells, so every elementwise layer is
free there): an elementwise op whose main input is the output of a gemm or a forward convolution
(or of such an op with earlier elementwise ops already fused into it), read by no other op, runs
as that contraction's epilogue: the contraction writes the elementwise op's output instead of its
own, the intermediate tensor is neither written nor read back, and the elementwise op's other
inputs are read per output block when the block is finished (a residual: the block's own
elements; a per-channel vector such as a bias or batch-norm scale and shift: the block's `nb`
channels). Its lane operations are added to the contraction's vector instructions (spread over
the items that compute the block). At inference (a graph without gradients) ops whose inputs are
all parameters or constants are folded away before the run (batch-norm coefficient preparation:
BN folding), their outputs read as parameters.

**Convolution input addresses.** A convolution's A block (the input patch under a strip of
`mb` output pixels, `kb / window` channels) is one run of the patch's bytes in a channel-blocked
input layout (one plane of N x D x H x W pixels per chunk of `kb / window` channels, as a
compiler for a SIMD chip lays activations out); strip i of n starts i/n of the way into its
chunk's plane (`MeshOp.a_offsets`). So the strips of a chunk together touch its plane once, and
neighbouring strips share the lines of their overlap (the patch minus the strip's advance: the
filter halo), as patches do; the 2D shape of a patch (rows of the input) is not kept, only its
size and its place in the sweep. Without this, every patch was a disjoint run of the tensor
(wrapping round it), so an input larger than the LLC was read from HBM once per patch overlap
(a 3x3 convolution read its input about three times). Other A blocks tile their tensor as
disjoint runs.

May import archsim.graph and archsim.config only (this is a lowering; timing lives in
archsim.hw.manycore).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, replace
from functools import lru_cache

import numpy as np

from archsim.graph import Graph, Op
from archsim.graph.dtypes import dtype_bytes

REG_ROWS = 4      # register blocking of the inner kernel: rows of A held in registers
REG_VECS = 4      # ... and vectors of B (16 accumulators of a 32-register file) [asm]
ACC_BYTES = 4     # partial sums of a split reduction travel as 32-bit values

CONTRACTIONS = {"gemm", "conv2d", "conv3d", "conv2d_dgrad", "conv2d_wgrad", "conv3d_dgrad",
                "conv3d_wgrad", "attention", "attention_bwd"}


@dataclass(frozen=True)
class MeshOp:
    """One op tiled over the mesh. Bytes, instructions and MACs are per work item."""
    name: str
    kind: str
    dtype: str
    flops: int                    # the graph's flops for all repeats
    repeat: int
    cls: str                      # contraction | stream
    G: int                        # independent problems (batch of a batched GEMM, heads, groups)
    M: int
    N: int
    K: int
    mb: int
    nb: int
    kb: int
    splitk: int
    a_tensor: str
    b_tensor: str | None
    out_tensor: str
    b_shared: bool                # B blocks do not depend on g (weights)
    a_follows_k: bool             # A blocks change with the reduction chunk (not attention's Q)
    a_bytes: int
    b_bytes: int
    out_bytes: int
    macs: int                     # padded MACs (or ALU lane-ops for streams) of one item
    vector_ops: int               # vector instructions of one item
    l1_line_reads: int            # L1 line reads of one item
    reads: tuple[tuple[str, int, str], ...]   # (tensor, bytes, role) read by the op, once
    writes: tuple[tuple[str, int], ...]
    approximate: bool = False     # no kind-specific tiling (a stream stand-in)
    epilogue: tuple[tuple[str, int, bool], ...] = ()  # fused inputs: (tensor, bytes per output
    #                               block, per-channel), read when an output block is finished
    fused: tuple[str, ...] = ()   # names of the elementwise ops fused into this one
    a_conv: tuple | None = None   # conv input geometry for `a_offsets` (see the module doc)

    def a_offsets(self, keys: np.ndarray) -> np.ndarray:
        """Byte offset in the A tensor of the first byte of each A block `keys`: a forward
        convolution's patch starts at its strip's share of its channel chunk's plane (see the
        module doc); other ops' blocks are disjoint runs."""
        keys = np.asarray(keys, np.int64)
        if self.a_conv is None:
            return keys * self.a_bytes
        plane, = self.a_conv
        kbn = self.k_blocks
        kk = keys % kbn
        rest = keys // kbn
        bi = rest % self.i_blocks
        g = rest // self.i_blocks
        return (g * kbn + kk) * plane + (bi * plane) // self.i_blocks

    @property
    def i_blocks(self) -> int:
        return math.ceil(self.M / self.mb)

    @property
    def j_blocks(self) -> int:
        return math.ceil(self.N / self.nb)

    @property
    def k_blocks(self) -> int:
        return math.ceil(self.K / self.kb)

    @property
    def out_blocks(self) -> int:
        """Work items of one wave-step summed over the chip: output blocks x split parts."""
        return self.G * self.i_blocks * self.j_blocks * self.splitk

    @property
    def k_steps(self) -> int:
        return math.ceil(self.k_blocks / self.splitk)

    def waves(self, tiles: int) -> int:
        return math.ceil(self.out_blocks / tiles)

    def steps(self, tiles: int) -> int:
        """Steps of one repetition, the split-K reduction step included."""
        return self.waves(tiles) * (self.k_steps + (1 if self.splitk > 1 else 0))


@dataclass(frozen=True)
class MeshProgram:
    name: str
    machine: str
    ops: tuple[MeshOp, ...]
    rows: int
    cols: int
    placement: str


# ------------------------------------------------------------------------------- placement

def _sgn(v: int) -> int:
    return (v > 0) - (v < 0)


def _gilbert(x, y, ax, ay, bx, by, out):
    """Generalized Hilbert curve over the rectangle spanned by (ax, ay) and (bx, by) from (x, y)
    (Červený's 'gilbert2d' construction; visits every cell once, neighbour to neighbour when
    the sides are even)."""
    w, h = abs(ax + ay), abs(bx + by)
    dax, day, dbx, dby = _sgn(ax), _sgn(ay), _sgn(bx), _sgn(by)
    if h == 1:
        for _ in range(w):
            out.append((x, y))
            x, y = x + dax, y + day
        return
    if w == 1:
        for _ in range(h):
            out.append((x, y))
            x, y = x + dbx, y + dby
        return
    ax2, ay2, bx2, by2 = ax // 2, ay // 2, bx // 2, by // 2
    w2, h2 = abs(ax2 + ay2), abs(bx2 + by2)
    if 2 * w > 3 * h:
        if w2 % 2 and w > 2:
            ax2, ay2 = ax2 + dax, ay2 + day
        _gilbert(x, y, ax2, ay2, bx, by, out)
        _gilbert(x + ax2, y + ay2, ax - ax2, ay - ay2, bx, by, out)
    else:
        if h2 % 2 and h > 2:
            bx2, by2 = bx2 + dbx, by2 + dby
        _gilbert(x, y, bx2, by2, ax2, ay2, out)
        _gilbert(x + bx2, y + by2, ax, ay, bx - bx2, by - by2, out)
        _gilbert(x + (ax - dax) + (bx2 - dbx), y + (ay - day) + (by2 - dby),
                 -bx2, -by2, -(ax - ax2), -(ay - ay2), out)


@lru_cache(maxsize=16)
def hilbert_order(rows: int, cols: int) -> np.ndarray:
    """Tile ids (y * cols + x) in generalized-Hilbert order over a rows x cols mesh."""
    cells: list[tuple[int, int]] = []
    if cols >= rows:
        _gilbert(0, 0, cols, 0, 0, rows, cells)
    else:
        _gilbert(0, 0, 0, rows, cols, 0, cells)
    order = np.array([y * cols + x for x, y in cells], dtype=np.int64)
    order.setflags(write=False)
    return order


def place(n_items: int, rows: int, cols: int, placement: str) -> np.ndarray:
    """Tile of each of the first n_items work items of a wave (n_items <= rows * cols)."""
    if n_items > rows * cols:
        raise ValueError(f"{n_items} work items in one wave of a {rows}x{cols} mesh")
    if placement == "affine":
        return np.arange(n_items, dtype=np.int64)
    if placement == "hilbert":
        return hilbert_order(rows, cols)[:n_items]
    raise ValueError(f"unknown placement {placement!r} (affine, hilbert)")


def wave_items(op: MeshOp, wave: int, tiles: int) -> tuple[np.ndarray, ...]:
    """The output blocks of one wave, in placement order: arrays g, bi, bj, part.

    Items are enumerated with bj fastest, then the split part, then bi, then g, so consecutive
    items share an A block (same g, bi) and land on neighbouring tiles under `hilbert`."""
    lo = wave * tiles
    n = np.arange(lo, min(lo + tiles, op.out_blocks), dtype=np.int64)
    bj = n % op.j_blocks
    rest = n // op.j_blocks
    part = rest % op.splitk
    rest //= op.splitk
    bi = rest % op.i_blocks
    g = rest // op.i_blocks
    return g, bi, bj, part


# ------------------------------------------------------------------------------- blocking

@dataclass(frozen=True)
class MachineShape:
    """What the tiling cost model needs of the machine (from a ManycoreConfig)."""
    tiles: int
    vector_bytes: int
    macs_per_lane: int
    dot_width: dict
    vector_issue: int
    l1_size: int
    l1_read_ports: int
    line: int
    operand_budget: int
    link_bytes_per_cycle: int
    step_latency: int = 0         # cycles a step's fetch takes on an idle mesh (corner to corner)
    patches_in_place: bool = True  # lowering.conv_patches == "in_place"

    @classmethod
    def from_config(cls, cfg) -> "MachineShape":
        return cls(cfg.tiles.tiles, cfg.tiles.vector_bits // 8, cfg.tiles.macs_per_lane,
                   dict(cfg.tiles.dot_width), cfg.tiles.vector_issue, cfg.l1.size,
                   cfg.l1.read_ports, cfg.line, int(cfg.l1.size * cfg.lowering.operand_fraction),
                   cfg.noc.link_bytes_per_cycle,
                   (cfg.tiles.rows + cfg.tiles.cols) * cfg.noc.hop_latency + cfg.l2.latency
                   + cfg.llc.latency,
                   getattr(cfg.lowering, "conv_patches", "in_place") == "in_place")

    def lanes(self, dtype: str) -> int:
        return max(1, self.vector_bytes // dtype_bytes(dtype))

    def ttk(self, dtype: str) -> int:
        return int(self.dot_width.get(dtype, 1))


def item_compute(shape: MachineShape, dtype: str, mb: int, nb: int, kb: int,
                 a_bytes: int, b_bytes: int, mac_factor: float = 1.0) -> tuple[int, int, int]:
    """(padded MACs, vector MAC instructions, L1 line reads) of one mb x nb x kb block product.

    The inner kernel keeps REG_ROWS x REG_VECS accumulator vectors in registers: it streams the
    B block once per REG_ROWS rows of A and the A block once per REG_VECS vectors of B. A
    dot-product engine of width ttk sums ttk products of the reduction per lane."""
    V = shape.lanes(dtype)
    ttk = shape.ttk(dtype)
    vecs = math.ceil(nb / V)
    instr = math.ceil(mb * math.ceil(kb / ttk) * vecs * mac_factor / shape.macs_per_lane)
    macs = int(mb * kb * vecs * V * mac_factor)
    line = shape.line
    reads = math.ceil(mb / REG_ROWS) * math.ceil(b_bytes / line) + \
        math.ceil(vecs / REG_VECS) * math.ceil(a_bytes / line)
    return macs, instr, reads


def item_cycles(shape: MachineShape, instr: int, l1_reads: int) -> float:
    return max(instr / shape.vector_issue, l1_reads / shape.l1_read_ports)


def choose_blocks(shape: MachineShape, dtype: str, G: int, M: int, N: int, K: int,
                  a_fn, b_fn, k_quantum: int = 1, mac_factor: float = 1.0,
                  split_ok: bool = True) -> tuple[int, int, int, int]:
    """(mb, nb, kb, splitk) minimising estimated cycles (see the module doc).

    a_fn(mb, kb) and b_fn(kb, nb) give the bytes of an A and a B block; kb is a multiple of
    k_quantum (a convolution's filter window) or all of K."""
    V = shape.lanes(dtype)
    T = shape.tiles
    best = None
    nb_cands = sorted({min(V * f, V * math.ceil(N / V)) for f in (1, 2, 4, 8)})
    mb_cands = sorted({min(m, M) for m in (1, 2, 4, 8, 16, 32, 64, 128, 256)})
    for nb in nb_cands:
        for mb in mb_cands:
            # the largest kb (a multiple of k_quantum, at most K) whose blocks fit the budget
            kb = min(K, max(k_quantum, K))
            lo, hi = 1, max(1, math.ceil(K / k_quantum))
            if a_fn(mb, k_quantum) + b_fn(k_quantum, nb) > shape.operand_budget:
                continue
            while lo < hi:
                mid = (lo + hi + 1) // 2
                if a_fn(mb, min(K, mid * k_quantum)) + b_fn(min(K, mid * k_quantum), nb) \
                        <= shape.operand_budget:
                    lo = mid
                else:
                    hi = mid - 1
            kb = min(K, lo * k_quantum)
            blocks = G * math.ceil(M / mb) * math.ceil(N / nb)
            k_blocks = math.ceil(K / kb)
            splitk = max(1, min(k_blocks, T // blocks)) if (split_ok and blocks < T) else 1
            waves = math.ceil(blocks * splitk / T)
            k_steps = math.ceil(k_blocks / splitk)
            a, b = a_fn(mb, kb), b_fn(kb, nb)
            _, instr, reads = item_compute(shape, dtype, mb, nb, kb, a, b, mac_factor)
            step = max(item_cycles(shape, instr, reads),
                       (a + b) / shape.link_bytes_per_cycle + shape.step_latency)
            cost = waves * k_steps * step
            if splitk > 1:  # one reduction step: read splitk partial blocks, add them
                cost += waves * splitk * mb * nb * ACC_BYTES / shape.link_bytes_per_cycle
            key = (cost, -mb * nb * kb)
            if best is None or key < best[0]:
                best = (key, (mb, nb, kb, splitk))
    if best is None:  # nothing fits: the smallest block, one K quantum (L1 will thrash)
        return 1, min(V, N), min(K, k_quantum), 1
    return best[1]


# ------------------------------------------------------------------------------- ops

def _read_tensors(op: Op) -> tuple[tuple[str, int, str], ...]:
    seen: dict[str, tuple[str, int, str]] = {}
    for t in op.inputs:
        nbytes = t.nbytes
        if op.kind == "gather" and t is op.inputs[0]:
            nbytes = op.outputs[0].nbytes     # a gather reads only the selected rows
        seen[t.name] = (t.name, nbytes, t.role)
    return tuple(seen.values())


def _conv_dims(op: Op) -> dict:
    a = op.attrs
    spatial_out = a.get("Z", 1) * a["P"] * a["Q"]
    window = a.get("T", 1) * a["R"] * a["S"]
    g = a.get("groups", 1)
    return dict(spatial_out=spatial_out, window=window, groups=g, C=a["C"] // g, K=a["K"] // g,
                N=a["N"], Q=a["Q"], stride=a.get("stride", 1), R=a["R"], S=a["S"],
                depth=a.get("T", 1))


def _patch_bytes(mb: int, c_chunk: int, Q: int, stride: int, R: int, S: int, depth: int,
                 isz: int) -> int:
    """Input bytes under a strip of mb output pixels (row-major, Q per row) for c_chunk input
    channels: the strip's rows widened by the filter halo, never more than im2col's."""
    rows_out = math.ceil(mb / Q)
    cols_out = min(mb, Q)
    rows_in = (rows_out - 1) * stride + R
    cols_in = (cols_out - 1) * stride + S
    return min(mb * R * S, rows_in * cols_in) * depth * c_chunk * isz


def lower_op(op: Op, shape: MachineShape) -> MeshOp:
    isz = dtype_bytes(op.dtype)
    reads = _read_tensors(op)
    writes = tuple((t.name, t.nbytes) for t in op.outputs)
    out_name = op.outputs[0].name if op.outputs else op.name
    common = dict(name=op.name, kind=op.kind, dtype=op.dtype, flops=op.flops, repeat=op.repeat,
                  reads=reads, writes=writes, out_tensor=out_name)
    kind = op.kind
    if kind == "gemm":
        a = op.attrs
        G, M, N, K = a.get("batch", 1), a["M"], a["N"], a["K"]
        A, B = op.inputs[0], op.inputs[1]
        b_shared = B.numel == K * N
        return _contraction(common, shape, G, M, N, K, A.name, B.name, b_shared,
                            lambda mb, kb: mb * kb * isz, lambda kb, nb: kb * nb * isz)
    if kind in ("conv2d", "conv3d"):
        d = _conv_dims(op)
        M, N, K = d["N"] * d["spatial_out"], d["K"], d["C"] * d["window"]
        mop = _contraction(
            common, shape, d["groups"], M, N, K, op.inputs[0].name, op.inputs[1].name, True,
            lambda mb, kb: _patch_bytes(mb, max(1, kb // d["window"]), d["Q"], d["stride"],
                                        d["R"], d["S"], d["depth"], isz),
            lambda kb, nb: kb * nb * isz, k_quantum=d["window"])
        if not shape.patches_in_place:
            return mop
        a = op.attrs
        plane = d["N"] * a.get("D", 1) * a["H"] * a["W"] * max(1, mop.kb // d["window"]) * isz
        return replace(mop, a_conv=(plane,))
    if kind in ("conv2d_dgrad", "conv3d_dgrad"):
        # dX = dY (*) W^T: an implicit GEMM over input pixels (M = N·H·W), C outputs, K·window
        d = _conv_dims(op)
        spatial_in = op.attrs.get("D", 1) * op.attrs["H"] * op.attrs["W"]
        M, N, K = d["N"] * spatial_in, d["C"], d["K"] * d["window"]
        return _contraction(common, shape, d["groups"], M, N, K, op.inputs[0].name,
                            op.inputs[1].name, True, lambda mb, kb: mb * kb * isz,
                            lambda kb, nb: kb * nb * isz, k_quantum=d["window"])
    if kind in ("conv2d_wgrad", "conv3d_wgrad"):
        # dW[K, C·window] = dY^T X: M = K, N = C·window, reduction over every output pixel
        d = _conv_dims(op)
        M, N, K = d["K"], d["C"] * d["window"], d["N"] * d["spatial_out"]
        return _contraction(common, shape, d["groups"], M, N, K, op.inputs[1].name,
                            op.inputs[0].name, False, lambda mb, kb: mb * kb * isz,
                            lambda kb, nb: kb * nb * isz)
    if kind in ("attention", "attention_bwd"):
        a = op.attrs
        G, S, D, Skv = a["B"] * a["H"], a["S"], a["D"], a.get("Skv", a["S"])
        factor = 2.0 * (2.5 if kind == "attention_bwd" else 1.0)  # QK^T and PV (x2.5 backward)
        causal = 0.5 if a.get("causal") and S == Skv else 1.0
        return _contraction(common, shape, G, S, D, Skv, op.inputs[0].name, op.inputs[1].name,
                            False, lambda mb, kb: mb * D * isz, lambda kb, nb: 2 * kb * D * isz,
                            mac_factor=factor * causal, a_follows_k=False, split_ok=False,
                            n_full=True)
    return _stream(common, op, shape)


def _contraction(common, shape, G, M, N, K, a_name, b_name, b_shared, a_fn, b_fn,
                 k_quantum=1, mac_factor=1.0, a_follows_k=True, split_ok=True,
                 n_full=False) -> MeshOp:
    dtype = common["dtype"]
    if n_full:  # attention: one item covers the head dimension whole
        V = shape.lanes(dtype)
        nb = V * math.ceil(N / V)
        best = None
        for mb in sorted({min(m, M) for m in (1, 2, 4, 8, 16, 32, 64, 128)}):
            kb = K
            while kb > 1 and a_fn(mb, kb) + b_fn(kb, nb) > shape.operand_budget:
                kb = math.ceil(kb / 2)
            blocks = G * math.ceil(M / mb)
            a, b = a_fn(mb, kb), b_fn(kb, nb)
            _, instr, reads = item_compute(shape, dtype, mb, nb, kb, a, b, mac_factor)
            step = max(item_cycles(shape, instr, reads),
                       (a + b) / shape.link_bytes_per_cycle + shape.step_latency)
            cost = (math.ceil(blocks / shape.tiles) * math.ceil(K / kb) * step, -mb)
            if best is None or cost < best[0]:
                best = (cost, (mb, nb, kb, 1))
        mb, nb, kb, splitk = best[1]
    else:
        mb, nb, kb, splitk = choose_blocks(shape, dtype, G, M, N, K, a_fn, b_fn, k_quantum,
                                           mac_factor, split_ok)
    a_bytes, b_bytes = a_fn(mb, kb), b_fn(kb, nb)
    macs, instr, reads = item_compute(shape, dtype, mb, nb, kb, a_bytes, b_bytes, mac_factor)
    return MeshOp(**common, cls="contraction", G=G, M=M, N=N, K=K, mb=mb, nb=nb, kb=kb,
                  splitk=splitk, a_tensor=a_name, b_tensor=b_name, b_shared=b_shared,
                  a_follows_k=a_follows_k, a_bytes=a_bytes, b_bytes=b_bytes,
                  out_bytes=mb * nb * dtype_bytes(dtype), macs=macs, vector_ops=instr,
                  l1_line_reads=reads)


def _stream(common, op: Op, shape: MachineShape) -> MeshOp:
    """Chunks of the output, one per tile per step; A is the chunk's share of every input."""
    out_elems = max([t.numel for t in op.outputs] + [1])
    elems = out_elems if op.kind == "gather" else \
        max(out_elems, max([t.numel for t in op.inputs] + [1]))
    in_bytes = sum(r[1] for r in common["reads"])
    out_bytes = sum(w[1] for w in common["writes"])
    per_elem = (in_bytes + out_bytes) / elems
    V = shape.lanes(op.dtype)
    by_budget = max(V, int(shape.operand_budget / max(per_elem, 1e-9)) // V * V)
    chunk = min(by_budget, V * math.ceil(math.ceil(elems / shape.tiles) / V))
    chunk = max(1, min(chunk, elems))
    a_bytes = math.ceil(in_bytes * chunk / elems)
    o_bytes = math.ceil(out_bytes * chunk / elems)
    lane_ops_per_elem = (op.flops / max(op.repeat, 1)) / elems
    instr = math.ceil(math.ceil(chunk / V) * max(lane_ops_per_elem, 1.0))
    reads = math.ceil(a_bytes / shape.line)
    approximate = op.kind not in ("elementwise", "softmax", "layernorm", "pool", "copy",
                                  "transpose", "concat", "gather", "reduction", "softmax_bwd",
                                  "layernorm_bwd")
    a_name = op.inputs[0].name if op.inputs else common["out_tensor"]
    return MeshOp(**common, cls="stream", G=1, M=elems, N=1, K=1, mb=chunk, nb=1, kb=1,
                  splitk=1, a_tensor=a_name, b_tensor=None, b_shared=False, a_follows_k=True,
                  a_bytes=a_bytes, b_bytes=0, out_bytes=o_bytes,
                  macs=int(math.ceil(chunk * lane_ops_per_elem)), vector_ops=instr,
                  l1_line_reads=reads, approximate=approximate)


FUSE_INTO = ("gemm", "conv2d", "conv3d")   # contractions that take an elementwise epilogue


def _is_inference(graph: Graph) -> bool:
    return not any(t.role in ("grad", "state") for op in graph.topo_ops() for t in op.inputs)


def fusion_plan(graph: Graph) -> tuple[dict, set]:
    """(groups, constants): groups maps the name of each contraction that takes an epilogue to
    the elementwise ops fused into it, in order; constants are the tensors of ops folded away at
    inference (every input a parameter or a constant). See the module doc."""
    ops = graph.topo_ops()
    consts: set = set()
    if _is_inference(graph):
        for op in ops:
            if op.inputs and all(t.role == "param" or t.name in consts for t in op.inputs):
                consts.update(t.name for t in op.outputs)
    n_readers: dict[str, int] = {}
    for op in ops:
        for name in {t.name for t in op.inputs}:
            n_readers[name] = n_readers.get(name, 0) + 1
    head: dict[str, str] = {}      # tensor -> contraction whose (fused) output it is
    groups: dict[str, list] = {}
    for op in ops:
        if op.kind in FUSE_INTO and len(op.outputs) == 1 and op.inputs:
            head[op.outputs[0].name] = op.name
            continue
        if op.kind != "elementwise" or len(op.outputs) != 1:
            continue
        out = op.outputs[0]
        main = next((t for t in op.inputs if t.name in head and t.numel == out.numel
                     and n_readers.get(t.name) == 1), None)
        if main is None:
            continue
        p = head[main.name]
        prod = graph.op(p)
        if prod.repeat != op.repeat or out.dtype != main.dtype:
            continue
        channels = out.shape[-1] if out.shape else 1
        if any(t is not main and t.numel not in (out.numel, channels) for t in op.inputs):
            continue
        groups.setdefault(p, []).append(op.name)
        del head[main.name]
        head[out.name] = p
    return groups, consts


def _fuse(mop: MeshOp, prod: Op, elems: list, shape: MachineShape, consts: set) -> MeshOp:
    """`mop` (the lowered contraction `prod`) with the elementwise ops `elems` as its epilogue."""
    inside = {t.name for e in [prod] + elems for t in e.outputs}
    last = elems[-1].outputs[0]
    blk_elems = mop.mb * mop.nb
    V = shape.lanes(mop.dtype)
    epi, reads, flops, instr = [], list(mop.reads), mop.flops, 0
    seen = {r[0] for r in reads}
    for e in elems:
        flops += e.flops
        out = e.outputs[0]
        instr += math.ceil(blk_elems / V) * max(1.0, e.flops / max(e.repeat, 1) / out.numel)
        for t in e.inputs:
            if t.name in inside or t.name in seen:
                continue
            seen.add(t.name)
            per_channel = t.numel != out.numel
            nbytes = (mop.nb if per_channel else blk_elems) * dtype_bytes(t.dtype)
            role = "param" if t.name in consts else t.role
            reads.append((t.name, t.nbytes, role))
            epi.append((t.name, nbytes, per_channel))
    # the epilogue runs once per output block; spread it over the block's items
    per_item = math.ceil(instr / (mop.splitk * mop.k_steps))
    return replace(mop, name=mop.name, flops=flops, reads=tuple(reads),
                   writes=((last.name, last.nbytes),), out_tensor=last.name,
                   out_bytes=blk_elems * dtype_bytes(last.dtype),
                   vector_ops=mop.vector_ops + per_item, epilogue=tuple(epi),
                   fused=tuple(e.name for e in elems))


def lower_mesh(graph: Graph, cfg) -> MeshProgram:
    """The MeshProgram of a graph on a `kind: manycore` machine (views move no data: skipped;
    elementwise epilogues fused and constants folded when `lowering.fuse_elementwise`)."""
    shape = MachineShape.from_config(cfg)
    fuse = getattr(cfg.lowering, "fuse_elementwise", False)
    groups, consts = fusion_plan(graph) if fuse else ({}, set())
    member = {e: p for p, es in groups.items() for e in es}
    last = {es[-1]: p for p, es in groups.items()}
    ops = []
    for op in graph.topo_ops():
        if op.kind == "view" or (op.outputs and all(t.name in consts for t in op.outputs)):
            continue
        if op.name in groups:
            continue                 # emitted where its last fused op stood (its inputs are ready)
        if op.name in member:
            if op.name in last:
                p = graph.op(last[op.name])
                ops.append(_fuse(lower_op(p, shape), p, [graph.op(e) for e in groups[p.name]],
                                 shape, consts))
            continue
        mop = lower_op(op, shape)
        if consts and any(r[0] in consts for r in mop.reads):
            mop = replace(mop, reads=tuple((n, b, "param" if n in consts else role)
                                           for n, b, role in mop.reads))
        ops.append(mop)
    return MeshProgram(graph.name, cfg.name, tuple(ops), cfg.tiles.rows, cfg.tiles.cols,
                       cfg.lowering.placement)


__all__ = ["CONTRACTIONS", "MachineShape", "MeshOp", "MeshProgram",
           "choose_blocks", "fusion_plan", "hilbert_order", "item_compute", "lower_mesh", "lower_op", "place",
           "wave_items"]
