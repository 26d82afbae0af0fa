"""The dataflow plan: what the Kitsune compiler pass decides, as plain frozen data.

A `DataflowPlan` splits a graph into spatial `Pipeline`s (contiguous subgraphs whose ops run at
once on shared SMs, passing tiles through ring queues held in L2) and ops left to run
bulk-synchronously. `order` is the execution order: ("bsp", op name) or ("pipeline", index).

Producers of plans: the subgraph selection pass (archsim.lower.dataflow.select). Consumers:
the load balancer (CTA allocation per stage, an integer program) and the dataflow machine
(archsim.hw.dataflow), which finds each stage's kernels in the BSP Program by op name.
Nothing here knows about time.
"""
from __future__ import annotations

from dataclasses import dataclass

PIPE_TYPES = ("tensor", "simt")           # the grid scheduler's two arbiters
TOPOLOGIES = ("1-1", "1-many", "many-1")  # point-to-point, multicast, reduction tree


@dataclass(frozen=True)
class Stage:
    """One pipeline stage: graph ops fused into one kernel (trivial epilogue fusion)."""
    name: str
    ops: tuple[str, ...]          # graph op names, producer first; the BSP Program's OpKernels.op
    kind: str                     # "tensor" | "simt": the arbiter its CTAs go through
    tiles: int                    # tiles the stage processes over the run
    reduce: bool = False          # a parallel-reduce stage added by splitting a reduction

    def __post_init__(self):
        if self.kind not in PIPE_TYPES:
            raise ValueError(f"stage {self.name}: kind {self.kind!r} not in {PIPE_TYPES}")
        if not self.ops or self.tiles < 1:
            raise ValueError(f"stage {self.name}: needs at least one op and one tile")


@dataclass(frozen=True)
class Queue:
    """A ring queue carrying one intermediate tensor between stages, tile by tile."""
    name: str
    tensor: str                   # the intermediate it carries (never written to DRAM unless spilled)
    src: int                      # producing stage (index into Pipeline.stages)
    dst: tuple[int, ...]          # consuming stages; more than one: multicast
    topology: str                 # one of TOPOLOGIES
    tile_bytes: int               # payload of one entry
    tiles: int                    # entries passed over the run
    entries: int = 2              # ring depth (the paper's double buffering)

    def __post_init__(self):
        if self.topology not in TOPOLOGIES:
            raise ValueError(f"queue {self.name}: topology {self.topology!r} not in {TOPOLOGIES}")
        if self.tile_bytes <= 0 or self.tiles < 1 or self.entries < 1 or not self.dst:
            raise ValueError(f"queue {self.name}: needs tile_bytes > 0, tiles >= 1, entries >= 1 "
                             f"and a consumer")

    @property
    def nbytes(self) -> int:
        """Payload bytes passed through the queue over the run (counted once per producer)."""
        return self.tile_bytes * self.tiles


@dataclass(frozen=True)
class Pipeline:
    name: str
    stages: tuple[Stage, ...]
    queues: tuple[Queue, ...]
    dram_in: tuple[str, ...]      # tensors the pipeline reads from DRAM (inputs, weights)
    dram_out: tuple[str, ...]     # tensors it leaves in DRAM (read later, or graph outputs)

    @property
    def ops(self) -> tuple[str, ...]:
        return tuple(o for s in self.stages for o in s.ops)


@dataclass(frozen=True)
class DataflowPlan:
    graph: str
    pipelines: tuple[Pipeline, ...]
    bsp_ops: tuple[str, ...]      # ops run kernel by kernel, outside every pipeline
    order: tuple[tuple[str, object], ...]   # ("bsp", op name) | ("pipeline", index), in order

    @property
    def covered(self) -> int:
        """Ops inside pipelines (the paper's Table 2 "coverage"); a split op's reduce stage
        names the op again and is not counted twice."""
        return sum(len(s.ops) for p in self.pipelines for s in p.stages if not s.reduce)


@dataclass(frozen=True)
class Allocation:
    """The load balancer's answer for one pipeline: CTAs per stage and the throughput it expects."""
    pipeline: str
    ctas: tuple[int, ...]         # a_i, per stage
    throughput: float             # tiles per second of the slowest stage (the ILP's T)
