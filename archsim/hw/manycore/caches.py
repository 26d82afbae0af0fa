"""The chip's caches: instances of the shared line-granular cache component, and where blocks live.

`ChipCaches` holds one `archsim.hw.cache.Cache` per tile's L1, one per group's L2 and one for the
whole LLC, all with the config's 32 B lines and associativity, wired with `set_parent` (an L1 is
inclusive in its group's L2, an L2 in the LLC: a hit counts only while the level above still
holds the line).

Interleaving. A group's L2 is `group_size` banks, line `a` in bank `a mod group_size`; the LLC is
one slice per tile, line `a` in slice `a mod tiles`. Each bank (slice) is an `s`-set cache
indexed by `(a div banks) mod s`. One cache of `banks x s` sets indexed by `a mod (banks x s)`
puts every line in the same set with the same neighbours, so it *is* the interleaved banks
(plain modulo index, `hash_index=False`); which bank serves a line (for the mesh) is the
geometry's business (`MeshGeometry.bank_tile`, `slice_tile`).

Addresses (`AddressMap`): every tensor gets a line-aligned region (4 KiB aligned, allocated on
first use, in the order ops touch them), so an op's output and the next op's input are the same
lines and reuse across ops is seen at every level. An operand block `k` of `lines` lines sits at
`base + (k x lines) mod span` (clamped to the end of the tensor): contiguous in its tensor, and
a tensor's blocks cover it. Blocks that overlap in the real layout (a convolution's halo) or that
the lowering does not lay out in the tensor (a repetition's fresh activations, split-K partial
sums) get their own regions. A stream op's A block is a share of each tensor it reads.

Off-chip traffic is what the LLC fetches (misses: HBM reads) and evicts dirty (HBM writes).
Outputs are written into the LLC whole lines at a time (`write_fetch=False`: no read for
ownership).

`sample=S` simulates 1/S of the lines in every cache (archsim.hw.cache address sampling; the
same lines at every level, as `set_parent` requires): counts are multiplied by S. The error
against `sample=1` is measured in benchmarks/RESULTS.md.
"""
from __future__ import annotations

import math
import os
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from archsim.hw.cache import Cache

try:   # the tile and group loops in C (same walks, same order per cache: _walk.pyx)
    from archsim.hw.manycore._walk import CacheArray
except ImportError:   # not compiled: the Python loops below
    CacheArray = None

THREADS_ENV = "ARCHSIM_MANYCORE_THREADS"

ALIGN_LINES = 128   # tensors start at 4 KiB boundaries (32 B lines), as an allocator would


class AddressMap:
    """Tensor name (or private region key) -> (base line, span in lines)."""

    def __init__(self) -> None:
        self._regions: dict = {}
        self._next = 0

    def region(self, key, span_lines: int) -> tuple[int, int]:
        r = self._regions.get(key)
        if r is None:
            span = max(1, int(span_lines))
            r = (self._next, span)
            self._regions[key] = r
            self._next += -(-span // ALIGN_LINES) * ALIGN_LINES
        return r

    def get(self, key) -> tuple[int, int] | None:
        return self._regions.get(key)

    @staticmethod
    def block_lines(base: int, span: int, keys: np.ndarray, lines: int) -> np.ndarray:
        """First line of blocks `keys` of `lines` lines each in a region."""
        if lines >= span:
            return np.full(keys.shape, base, np.int64)
        off = (keys.astype(np.int64) * lines) % span
        return base + np.minimum(off, span - lines)


class ChipCaches:
    """Every L1, L2 and the LLC of a chip as line-granular caches."""

    def __init__(self, cfg, geom, sample: int = 1, log_hbm: bool = False,
                 threads: int | None = None) -> None:
        line = cfg.line
        self.log_hbm = log_hbm          # keep the line addresses read from / written to HBM
        self.hbm_reads: list = []
        self.hbm_writes: list = []
        self.line = line
        self.sample = int(sample)
        self.geom = geom
        self.llc = Cache(cfg.llc.size, line, cfg.llc.ways, hash_index=False,
                         write_fetch=False, sample=self.sample)
        self.llc.record = log_hbm
        self.l2 = []
        for _ in range(geom.groups):
            c = Cache(cfg.l2.size, line, cfg.l2.ways, hash_index=False, sample=self.sample)
            c.set_parent(self.llc)
            c.record = True
            self.l2.append(c)
        self._touched: set[int] = set()
        group = geom.group_of(np.arange(geom.tiles))
        self.l1 = []
        for t in range(geom.tiles):
            c = Cache(cfg.l1.size, line, cfg.l1.ways, hash_index=False, sample=self.sample)
            c.set_parent(self.l2[int(group[t])])
            self.l1.append(c)
        # compiled walks where the caches are compiled; `threads` lanes (default: the
        # ARCHSIM_MANYCORE_THREADS environment variable, else 1) walk disjoint caches at once
        self._l1_arr = self._l2_arr = None
        if CacheArray is not None and isinstance(self.llc, _compiled_cache_type()):
            self._l1_arr = CacheArray(self.l1)
            self._l2_arr = CacheArray(self.l2)
        if threads is None:
            threads = int(os.environ.get(THREADS_ENV, "1") or 1)
        self.threads = max(1, int(threads))
        self._pool = ThreadPoolExecutor(self.threads) if self.threads > 1 and self._l1_arr else None

    def _walk(self, arr, which: np.ndarray, addr: np.ndarray, row: np.ndarray,
              nlines: np.ndarray) -> np.ndarray:
        """Compiled walk of blocks through caches `which` (one lane per thread)."""
        out = np.zeros(which.size, np.int64)
        if self._pool is None or which.size < 2 * self.threads:
            arr.walk(which, addr, row, nlines, self.line, 0, 1, out)
            return out
        lanes = self.threads
        futs = [self._pool.submit(arr.walk, which, addr, row, nlines, self.line, k, lanes, out,
                                  False) for k in range(lanes)]
        for f in futs:
            f.result()
        return out

    # ------------------------------------------------------------------------------ look-ups
    def l1_misses(self, tiles: np.ndarray, pieces: list[tuple[np.ndarray, int]]) -> np.ndarray:
        """Each tile tiles[i] reads its block: pieces (first line per tile, lines). Lines
        missed per tile (scaled by the sampling)."""
        line = self.line
        if self._l1_arr is not None and pieces:
            which = np.ascontiguousarray(tiles, np.int64)
            addr = np.ascontiguousarray(np.stack([a for a, _ in pieces]), np.int64)
            nl = np.array([n for _, n in pieces], np.int64)
            return self._walk(self._l1_arr, which, addr, np.arange(which.size, dtype=np.int64),
                              nl) * self.sample
        l1 = self.l1
        out = np.zeros(tiles.size, np.int64)
        tl = tiles.tolist()
        for addr, n in pieces:
            nb = n * line
            al = addr.tolist()
            for i, t in enumerate(tl):
                out[i] += l1[t].access(al[i] * line, nb)[1]
        return out * self.sample

    def l2_misses(self, groups: list[int], pieces: list[tuple[np.ndarray, int]],
                  idx: list[int]) -> np.ndarray:
        """Group groups[i]'s L2 reads block idx[i] of `pieces` (first line per block, lines):
        L2 lines missed per read (scaled by the sampling). The misses are recorded; `l2_to_llc`
        fetches them."""
        line = self.line
        if self._l2_arr is not None and pieces:
            which = np.asarray(groups, np.int64)
            addr = np.ascontiguousarray(np.stack([a for a, _ in pieces]), np.int64)
            nl = np.array([n for _, n in pieces], np.int64)
            out = self._walk(self._l2_arr, which, addr, np.asarray(idx, np.int64), nl)
            self._touched.update(groups)
            return out * self.sample
        l2 = self.l2
        out = np.zeros(len(groups), np.int64)
        for addr, n in pieces:
            nb = n * line
            al = addr.tolist()
            for i, (g, j) in enumerate(zip(groups, idx)):
                out[i] += l2[g].access(al[j] * line, nb)[1]
        self._touched.update(groups)
        return out * self.sample

    def l2_to_llc(self) -> tuple[int, int]:
        """Fetch what the L2s missed since the last call from the LLC: (HBM lines read, HBM
        lines written back)."""
        line, llc = self.line, self.llc
        r = w = 0
        for g in sorted(self._touched):
            c = self.l2[g]
            fetched = c.take_fetches()
            c.take_writebacks()          # L2s hold no dirty lines (outputs go to the LLC)
            if fetched.size:
                _, m, wb = llc.access_addrs(fetched, line)
                r += m
                w += wb
        self._touched.clear()
        self._log()
        return r * self.sample, w * self.sample

    def llc_write(self, first_lines: np.ndarray, nlines: int) -> int:
        """Blocks written to the LLC whole; HBM lines written back to make room."""
        line = self.line
        llc = self.llc
        wb = 0
        nb = nlines * line
        for a in first_lines.tolist():
            wb += llc.access(a * line, nb, write=True)[2]
        self._log()
        return wb * self.sample

    def _log(self) -> None:
        if self.log_hbm:
            self.hbm_reads.append(self.llc.take_fetches() // self.line)
            self.hbm_writes.append(self.llc.take_writebacks() // self.line)

    def take_hbm(self) -> tuple[np.ndarray, np.ndarray]:
        """Line addresses read from and written to HBM since the last take (log_hbm)."""
        r = np.concatenate(self.hbm_reads).astype(np.int64) if self.hbm_reads else np.zeros(0, np.int64)
        w = np.concatenate(self.hbm_writes).astype(np.int64) if self.hbm_writes else np.zeros(0, np.int64)
        self.hbm_reads, self.hbm_writes = [], []
        return r, w

    def counters(self) -> dict:
        """Summed counters of every level (simulated lines, times the sampling)."""
        s = self.sample
        out = {}
        for name, caches in (("l1", self.l1), ("l2", self.l2), ("llc", [self.llc])):
            acc = hits = misses = 0
            for c in caches:
                k = c.counters()
                acc += k["accesses"]
                hits += k["hits"]
                misses += k["misses"]
            out[name] = {"accesses": acc * s, "hits": hits * s, "misses": misses * s}
        return out


def _compiled_cache_type():
    from archsim.hw.cache import BACKEND
    if BACKEND != "cython":
        return ()
    from archsim.hw.cache._cache import Cache as compiled
    return compiled


def lines_of(nbytes: int, line: int) -> int:
    return max(1, math.ceil(nbytes / line))
