"""The GPU L2: the shared cache component (archsim.hw.cache) configured as an A100/H100 L2.

`GpuL2` holds one `Cache` (Cython) or `PyCache` (its pure-Python twin) with the L2's geometry
and policy, and speaks in bytes (scaled back from address sampling) the way the GPU model
counts them. Nothing here simulates a line: the tag state, the partitions, the stream
generators (GEMM tile panels, strided tiles, per-CTA ranges, gathered rows) are the cache
component's. What it decides:

- geometry: a power-of-two set count per partition with the associativity absorbing the
  rest, so the capacity is exact (60 MiB of 128-B lines at 16 ways: 32768 sets x 15 ways);
- policy: LRU, 32-B sectors, write-back, write-allocate without fetch (whole-sector stores),
  no prefetch; `partitions` halves with near replicas (README of archsim.hw.cache);
- sampling: S = 2^k lines simulated 1 in S by the low bits of the line address ("low"), so a
  strided tile skips rows in O(1); set index XOR-folded by 13 and 26 bits of the sampled line
  address (these choices reproduce the GPU L2 of wave 1 access for access);
- counters in bytes: requested, hit (requested minus fetched), miss (fetched from DRAM),
  writeback (dirty victims), write, flush_writeback, far_hit.
"""
from __future__ import annotations

import os

from archsim.hw.cache import Cache, PyCache

# `archsim run --engine python` (ARCHSIM_ENGINE=python, as archsim.engine reads it) runs the
# whole GPU on pure Python, the L2 included: the twin, which gives the same report
_DEFAULT = PyCache if (os.environ.get("ARCHSIM_ENGINE", "auto") or "auto") == "python" else Cache

INDEX_SHIFTS = (13, 26)
# L2 slices per partition (8 on an H200's two partitions): each line is served by one slice, by
# an XOR-fold of its address (Cache._slice); the machine's l2[s] bandwidth servers take each
# chunk's bytes in the proportions its lines went to the slices
SLICES_PER_PARTITION = 4


def l2_geometry(size: int, line: int, ways: int, partitions: int, sample: int):
    """(sets before sampling, ways, sample, partitions) of a GPU L2: a power-of-two set count
    (the associativity absorbs the rest, so the capacity is exact), 1/S of the sets kept for
    address sampling, partitions reduced until they divide the sampled set count."""
    lines = size // line
    sets = 1
    while sets * 2 * ways <= lines:
        sets *= 2
    if lines % (sets * 2) == 0 and abs(lines // (sets * 2) - ways) <= abs(lines // sets - ways):
        sets *= 2
    sets = min(sets, max(lines, 1))
    ways = max(1, lines // sets)
    bits = 0
    while (1 << bits) < max(1, sample) and (sets >> (bits + 1)) >= 1:
        bits += 1
    sample = 1 << bits
    nsets = sets >> bits
    partitions = max(1, int(partitions))
    while partitions > 1 and nsets % partitions:
        partitions -= 1
    if (nsets // partitions) & (nsets // partitions - 1):
        raise ValueError("L2 sets per partition must be a power of two")
    return sets, ways, sample, partitions


class GpuL2:
    """The L2 of a GPU model: a `Cache` (or `PyCache`: `impl=PyCache`) and its byte counters."""

    def __init__(self, size: int, line: int, sector: int, ways: int, partitions: int = 1,
                 sample: int = 1, *, impl=None):
        sets, ways, sample, partitions = l2_geometry(size, line, ways, partitions, sample)
        cls = impl or _DEFAULT
        self.cache = cls(sets * ways * line, line, ways, sector=sector, replacement="lru",
                         write_back=True, write_allocate=True, write_fetch=False,
                         prefetch="none", hash_index=True, sample=sample,
                         partitions=partitions, index_shifts=INDEX_SHIFTS, sample_select="low",
                         slices=SLICES_PER_PARTITION)
        self.nslices = partitions * SLICES_PER_PARTITION
        self.line, self.sector, self.ways, self.sample = line, sector, ways, sample
        self.partitions = partitions
        self.nsets = self.cache.nsets
        self.flush_wb = 0      # sectors written back by flushes (not by evictions)
        c = self.cache
        # the bulk streams are the cache component's own methods
        self.gemm_chunk, self.rows_chunk, self.access_units = (
            c.gemm_chunk, c.rows_chunk, c.access_units)

    def access(self, addr: int, nbytes: int, write: bool = False, side: int = 0) -> None:
        self.cache.access(addr, nbytes, write, side=side)

    def access_strided(self, addr: int, seg: int, stride: int, count: int,
                       write: bool = False, side: int = 0) -> None:
        self.cache.access_strided(addr, seg, stride, count, write, side=side)

    def sectors(self) -> tuple[int, int, int, int]:
        """(requested, hit, miss, write-back) sectors so far (simulated, unscaled)."""
        c = self.cache
        return (c.accesses, c.accesses - c.fetches, c.fetches, c.writebacks - self.flush_wb)

    def slice_sectors(self):
        """(requested, fetched) sectors per slice so far (int64 arrays, partitions x slices)."""
        return self.cache.slice_counts()

    def counters(self) -> dict:
        """Counters in bytes, scaled back to the whole cache."""
        c, k = self.cache, self.sector * self.sample
        req, hit, miss, wb = self.sectors()
        return {"requested": req * k, "hit": hit * k, "miss": miss * k, "writeback": wb * k,
                "write": c.write_accesses * k, "flush_writeback": self.flush_wb * k,
                "far_hit": c.far_hits * k}

    def reset_counters(self) -> None:
        self.cache.reset_counters()
        self.flush_wb = 0

    def flush(self) -> None:
        """Write back every dirty line and invalidate everything."""
        self.flush_wb += self.cache.flush()

    def resident_bytes(self) -> int:
        return self.cache.resident_bytes() * self.sample

    def dirty_bytes(self) -> int:
        return self.cache.dirty_bytes() * self.sample

    def get_state(self) -> dict:
        """The whole runtime state as plain data (checkpoints; moves between backends)."""
        return {"cache": self.cache.get_state(), "flush_wb": self.flush_wb}

    def set_state(self, st: dict) -> None:
        self.cache.set_state(st["cache"])
        self.flush_wb = int(st["flush_wb"])


__all__ = ["GpuL2", "PyCache", "l2_geometry"]
