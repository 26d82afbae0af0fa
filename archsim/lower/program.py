"""Program: what the GPU runs for a Graph — kernels with CTA grids, resources and work, as data.

A Kernel says how many CTAs run, what each needs on an SM (threads, registers, shared memory),
how its work is cut into *work units* (a GEMM tile, a row block, a chunk of a stream; a
persistent kernel loops over several units per CTA), what each unit computes (tensor flops,
SIMT lane-instructions) and what memory it touches (Access records over the Program's
buffers). archsim.hw.gpu turns this into events; nothing here knows about time.
"""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Buffer:
    """A tensor placed in device memory."""
    name: str
    addr: int
    nbytes: int
    role: str = "activation"   # input | param | activation | index | workspace ...


@dataclass(frozen=True)
class Access:
    """Memory a kernel touches, in an order the L2 model replays chunk by chunk.

    kind:
      "stream"  contiguous [offset, offset + nbytes) of `buffer`, spread evenly over the work
                units in order; `passes` reads of each unit's slice (row kernels re-read rows)
      "rows"    `count` rows of `row_bytes` at uniformly random indices of a table of
                `table_rows` rows (gather / index_select); `seed` fixes them
      "gemm"    the tile loads of a GEMM (A, B panels per K-step, C tile at the end); the
                geometry is in Kernel.tile (a GemmTile)
    """
    kind: str
    buffer: str
    write: bool = False
    offset: int = 0
    nbytes: int = 0
    passes: int = 1
    row_bytes: int = 0
    table_rows: int = 0
    count: int = 0
    seed: int = 0


@dataclass(frozen=True)
class GemmTile:
    """The geometry of a GEMM kernel's tiles (also implicit-GEMM convolutions)."""
    M: int
    N: int
    K: int
    batch: int
    tm: int                       # tile rows
    tn: int                       # tile columns
    tk: int                       # K-step
    stages: int
    split: int                    # split-K factor
    esize: int                    # A/B element bytes
    c_esize: int                  # C element bytes (4 for a split-K fp32 workspace)
    a: str                        # buffer names
    b: str
    c: str
    persistent: bool
    a_ld: int                     # A's leading dimension (!= K: implicit-GEMM conv input)
    b_trans: bool                 # B stored [N, K]
    group_m: int                  # raster band height in M-tiles
    single_warpgroup: bool = False  # cuDNN xmma: one consumer warpgroup per CTA
    step_extra: float = 0.0       # cycles per K-step beyond the MMA and its barrier (a kernel
                                  # family's operand gather, e.g. cutlass sm80 stem convolutions)

    def summary(self) -> dict:
        return {"tm": self.tm, "tn": self.tn, "tk": self.tk, "stages": self.stages,
                "split": self.split}


@dataclass(frozen=True)
class AttentionTile:
    """The geometry of a fused (flash) attention kernel."""
    B: int
    H: int
    Hkv: int
    S: int
    Skv: int
    D: int
    q: str
    k: str
    v: str
    o: str
    bq: int                       # query rows per unit
    pack: int                     # query heads sharing one K/V head in one unit
    bkv: int                      # K/V rows per step
    causal: bool
    esize: int
    mma_factor: float = 1.0       # matrix products per step relative to the forward's two
                                  # (flash backward: 2.5 — QK^T recomputed, dV, dP, dQ, dK)
    unit_extra: float = 0.0       # cycles per unit outside the step loop (flash backward: the
                                  # K/V block's load, dK/dV epilogue and dQ flush)
    busiest_steps: float = 0.0    # steps the busiest CTA runs when units differ in length
                                  # (causal: vendor.causal_attention_schedule); 0: waves x steps
    total_steps: float = 0.0      # steps of all units (0: units x steps)

    def summary(self) -> dict:
        return {}


@dataclass(frozen=True)
class Kernel:
    name: str                      # a vendor-like kernel name (cuBLAS/cuDNN/PyTorch style)
    op: str                        # the graph op it belongs to
    op_kind: str
    model: str                     # hw model: gemm | stream | row | attention | gather | roofline
    grid: tuple[int, int, int]
    block: int                     # threads per CTA
    regs_per_thread: int
    smem: int                      # shared memory per CTA, bytes
    units: int                     # work units (tiles / row blocks); == CTAs unless persistent
    steps: int = 1                 # sequential steps per unit (K-steps of a GEMM tile)
    pipe: str = "simt"             # tensor | simt | memory
    dtype: str = "bf16"
    tensor_flops: int = 0          # total over the kernel
    simt_ops: int = 0              # SIMT lane-instructions, total
    dep_rounds: int = 1            # dependent memory round trips in one unit's life
    accesses: tuple[Access, ...] = ()
    tile: GemmTile | AttentionTile | None = None
    approximate: bool = False      # roofline fallback: no kernel-specific model
    l2_scale: float = 1.0          # L2 transaction bytes per byte requested (> 1: partial-
                                   # sector stores the L2 read-modify-writes, e.g. a transpose)
    dep_chain: float = 0.0         # dependent instructions per thread per unit (a sequential
                                   # per-thread chain, e.g. Welford updates); 0: the unit's
                                   # lane-instructions per lane
    load_inflight: int = 16        # bytes one thread keeps in flight per read stream (vector
                                   # width x independent loads issued before the first is
                                   # used): the SM's outstanding-miss limit scales with it
                                   # (16: the 16-B vector load that sm.miss_bytes_per_cycle
                                   # was calibrated on)
    tail_rounds: float = 0.0       # dependent memory round trips after the streaming phase
                                   # that no later work overlaps (a reduction's epilogue:
                                   # block reduce, partials store, fence + semaphore, final
                                   # read), added once at the kernel's end

    @property
    def ctas(self) -> int:
        return self.grid[0] * self.grid[1] * self.grid[2]


@dataclass(frozen=True)
class OpKernels:
    op: str
    kind: str
    flops: int
    kernels: tuple[Kernel, ...]


@dataclass(frozen=True)
class Program:
    name: str
    machine: str
    mode: str
    ops: tuple[OpKernels, ...]
    buffers: dict[str, Buffer]
    resident: tuple[str, ...] = ()   # buffers that a warm start finds in L2 (inputs, weights)

    @property
    def kernels(self) -> list[Kernel]:
        return [k for o in self.ops for k in o.kernels]
