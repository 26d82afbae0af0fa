"""The Kitsune ring queue: a software queue between CTAs whose entries live in L2.

A queue carries one intermediate tensor tile by tile from a producer stage to its consumer
stage(s). Its state (`RingQueue`, plain data) is what the real queue keeps in its metadata
lines: how many entries producers have acquired for writing (`reserved`, the write sequence
number), how many they have released full (`produced`, the read sequence number consumers spin
on) and how many each consumer has released empty (`freed`). A producer's `wr_acquire` waits
until `reserved - min(freed) < capacity`; a consumer's `rd_acquire` waits until `produced`
covers the tile it needs. Nothing here knows time: the dataflow machine (executor.py) turns
acquire/release into events and books the payload on the GPU's crossbar, L2 slices and HBM.

Timing parameters (`QueueParams`) are in clock cycles and bytes per cycle so that one fit (on
the H200 measurement, benchmarks/kitsune_queues.py) carries to another GPU config through its
clock: `sync_cycles` is one handoff (acquire spin on the metadata line + payload fence +
CTA barrier + release atomic), `cta_bytes_per_cycle` what one CTA moves into or out of an
entry per cycle (interpolated over threads per CTA), `dram_factor` how much slower a CTA moves
an entry that spilled to HBM (its loads wait on DRAM latency), `l2_share` the part of the L2
bandwidth the queue traffic's access pattern gets, `capacity_frac` the part of the L2 the
queues may hold (the persisting-L2 region) before entries spill.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field


@dataclass(frozen=True)
class QueueParams:
    sync_cycles: float           # one handoff (acquire + fence + barrier + release), SM cycles
    cta_bpc_512: float           # bytes per cycle one 512-thread CTA moves through an entry
    cta_bpc_1024: float          # the same for a 1024-thread CTA
    dram_factor: float           # rate of a spilled entry relative to an L2-resident one
    l2_share: float              # share of cfg.l2.bandwidth queue payload traffic achieves
    capacity_frac: float         # share of cfg.l2.size usable by queues before they spill

    def cta_bpc(self, threads: int) -> float:
        """Per-CTA entry bandwidth, linear in threads between the two measured widths."""
        t = min(max(threads, 256), 1024)
        return self.cta_bpc_512 + (self.cta_bpc_1024 - self.cta_bpc_512) * (t - 512) / 512

    def sync_s(self, cfg) -> float:
        return self.sync_cycles / cfg.clocks.boost

    def cta_bw(self, cfg, threads: int) -> float:
        return self.cta_bpc(threads) * cfg.clocks.boost

    def capacity_bytes(self, cfg) -> float:
        return self.capacity_frac * cfg.l2.size


# Fitted by `python3 benchmarks/kitsune_queues.py` on the H200 measurement (1 and 66 pairs;
# 8 and 32 pairs held out); the script prints these values and the held-out error.
H200_FIT = QueueParams(sync_cycles=2015.1, cta_bpc_512=21.9, cta_bpc_1024=32.8,
                       dram_factor=0.34, l2_share=0.288, capacity_frac=0.5)


def spill_fraction(footprint: float, capacity: float) -> float:
    """Share of queue entries that do not fit the L2 region and go through HBM. Entries cycle
    through their rings, so once they outgrow the region they evict each other: the share
    rises from 0 at the region's size to all of them at twice its size. (Of three forms tried
    on the H200 data -- capacity/footprint kept, this ramp, an all-or-nothing cliff -- the
    ramp gives the lowest held-out error: 11.5 % mean against 12.7 % and 14.0 %.)"""
    if footprint <= capacity or footprint <= 0:
        return 0.0
    return min(1.0, (footprint - capacity) / capacity)


def need(m: int, q_tiles: int, stage_tiles: int) -> int:
    """Entries of a queue with q_tiles entries over the run that a stage with stage_tiles tiles
    has needed once its tile m is done (tile m of the consumer covers its share, rounded up)."""
    return min(q_tiles, math.ceil((m + 1) * q_tiles / stage_tiles)) if m >= 0 else 0


@dataclass
class RingQueue:
    """Runtime state of one ring queue (plain data, picklable)."""
    name: str
    src: int
    dst: tuple
    tile_bytes: int
    tiles: int
    capacity: int                # entries over all the rings of the queue
    topology: str = "1-1"
    reserved: int = 0            # entries acquired for writing (write sequence number)
    produced: int = 0            # entries released full, in order (read sequence number)
    freed: dict = field(default_factory=dict)   # consumer stage -> entries released empty
    max_occupancy: int = 0

    def __post_init__(self):
        self.freed = {d: 0 for d in self.dst}

    @property
    def occupancy(self) -> int:
        """Entries held: acquired by a producer and not yet released by every consumer."""
        return self.reserved - min(self.freed.values())

    def can_write(self, n: int) -> bool:
        return self.occupancy + n <= self.capacity

    def wr_acquire(self, n: int) -> None:
        if not self.can_write(n):
            raise RuntimeError(f"queue {self.name}: producer overran the ring")
        self.reserved += n
        self.max_occupancy = max(self.max_occupancy, self.occupancy)

    def release_full(self, upto: int) -> None:
        """Producers released every entry up to sequence number `upto` (in order)."""
        if upto > self.reserved or upto < self.produced:
            raise RuntimeError(f"queue {self.name}: release of unacquired entries")
        self.produced = upto

    def can_read(self, upto: int) -> bool:
        return self.produced >= upto

    def release_empty(self, consumer: int, upto: int) -> None:
        if upto > self.produced:
            raise RuntimeError(f"queue {self.name}: consumer released an entry never produced")
        self.freed[consumer] = max(self.freed[consumer], upto)
