"""A core's step through its private caches: Access records -> line accesses -> an LLC request.

`PrivateCaches.step(task, units)` replays the addresses of a block of a task's work units on
the core's L1 and L2 (instances of archsim.hw.cache.Cache) and returns what the step asks of
the shared LLC: line addresses to read (L2 misses, L2 prefetches), line addresses written
(stores go through to the LLC, which holds the dirty data: the private levels are write-through
and keep clean copies, so the LLC is the one point of coherence), and byte ranges stored
non-temporally (memcpy's streaming stores, which allocate nowhere).

Granularity: a unit is a work item (a chunk of a stream, a gather slice, an attention query
block) or, for a GEMM, one K block (`tk`) of one output tile. GEMM panels enter at L2: the
micro-kernel's register and L1 blocking is inside the step's compute formula, and modelling
it line by line would cost tens of millions of L1 lookups per layer for no change in the
traffic below L2.
"""
from __future__ import annotations

import math

import numpy as np

from archsim.hw.cache import Cache
from archsim.lower.cpu import AttentionBlocks, GemmTiles, Rows, Stream, Whole

LINE = 64


def line_addrs(addr: int, nbytes: int, stride: int = 0, count: int = 1) -> np.ndarray:
    """Line-aligned addresses of `count` segments of `nbytes`, `stride` apart, in order."""
    if not stride or count == 1:
        return np.arange(addr >> 6, ((addr + nbytes - 1) >> 6) + 1, dtype=np.uint64) << np.uint64(6)
    starts = addr + np.arange(count, dtype=np.int64) * stride
    first = starts >> 6
    cnt = ((starts + nbytes - 1) >> 6) - first + 1
    offs = np.arange(int(cnt.sum()), dtype=np.int64) - np.repeat(np.cumsum(cnt) - cnt, cnt)
    return (np.repeat(first, cnt) + offs).astype(np.uint64) << np.uint64(6)


def task_bytes(task) -> float:
    """Bytes one execution of a task touches at its first cache level (an estimate from its
    Access records: sets the sampling rate and the step size)."""
    tv = 0.0
    for a in task.accesses:
        if isinstance(a, Stream):
            tv += a.nbytes * a.passes
        elif isinstance(a, Whole):
            tv += a.nbytes * task.items
        elif isinstance(a, GemmTiles):
            tv += task.items * (a.tm + a.tn) * a.K * a.esize + a.batch * a.M * a.N * a.esize
        elif isinstance(a, AttentionBlocks):
            tv += task.items * (a.tq * 2 + 2 * a.Skv) * a.D * a.esize
        elif isinstance(a, Rows):
            tv += a.count * max(a.row_bytes, LINE)
    return tv


def units_of(task) -> int:
    """Work units of a task: items, times K blocks for a blocked GEMM."""
    for a in task.accesses:
        if isinstance(a, GemmTiles):
            return task.items * max(1, math.ceil(a.K / a.tk))
    return task.items


class PrivateCaches:
    """One core's L1 and L2 (write-through, write-allocate without fetch: see module doc)."""

    def __init__(self, l1: Cache, l2: Cache):
        self.l1, self.l2 = l1, l2
        l1.record = l2.record = True
        self.rows: dict[int, np.ndarray] = {}
        self.forwarded = 0       # lines L1 missed and asked L2 for (conservation tests)
        # of the last step's read lines: how many came from random-row (gather) accesses —
        # demand misses no hardware stream prefetcher covers (see `step`)
        self.row_reads = 0

    def _read_l1(self, addr: int, nbytes: int, stride: int = 0, count: int = 1, passes: int = 1):
        if stride:
            self.l1.access_strided(addr, nbytes, stride, count, False, passes)
        elif passes > 1:
            self.l1.access_strided(addr, nbytes, nbytes, count, False, passes)
        else:
            self.l1.access(addr, nbytes)
        miss = self.l1.take_fetches()
        if len(miss):
            self.forwarded += len(miss)
            self.l2.access_addrs(miss, LINE)

    def _read_l2(self, addr: int, nbytes: int, stride: int = 0, count: int = 1):
        if stride:
            self.l2.access_strided(addr, nbytes, stride, count)
        else:
            self.l2.access(addr, nbytes)

    def _write(self, addr: int, nbytes: int, writes: list, stride: int = 0, count: int = 1):
        if nbytes <= 0:
            return
        for c in (self.l1, self.l2):
            if stride:
                c.access_strided(addr, nbytes, stride, count, True)
            else:
                c.access(addr, nbytes, True)
            c.take_writebacks()      # write-through: the LLC gets the lines below
        writes.append((addr, nbytes, stride or nbytes, count))

    def rows_for(self, key: int, a: Rows) -> np.ndarray:
        idx = self.rows.get(key)
        if idx is None:
            if a.indices is not None:
                idx = np.asarray(a.indices, dtype=np.int64).reshape(-1) % max(a.table_rows, 1)
            else:
                idx = np.random.default_rng(a.seed).integers(0, a.table_rows, a.count, dtype=np.int64)
            self.rows[key] = idx
        return idx

    def step(self, task, u0: int, u1: int, units: int):
        """Units [u0, u1) of `task` -> (read line addresses, stores as (addr, bytes, stride,
        count) row blocks, non-temporal store ranges (addr, bytes)). The first `row_reads` of
        the read lines are the L2 misses of random-row accesses (`Rows`, gathers); the core
        fetches those on demand, with at most `cores.demand_lines` in flight."""
        writes: list = []
        nt: list = []
        items = task.items
        row_lines: list = []
        for ai, a in enumerate(task.accesses):
            if isinstance(a, GemmTiles):
                self._gemm(a, u0, u1, writes)
                continue
            lo_i, hi_i = u0 * items // units, u1 * items // units
            if hi_i <= lo_i:
                continue
            if isinstance(a, Stream):
                lo, hi = a.nbytes * lo_i // items, a.nbytes * hi_i // items
                if hi <= lo:
                    continue
                if a.write and a.stream_store:
                    self.l1.invalidate(a.base + lo, hi - lo)
                    self.l2.invalidate(a.base + lo, hi - lo)
                    nt.append((a.base + lo, hi - lo))
                elif a.write:
                    self._write(a.base + lo, hi - lo, writes)
                elif a.passes > 1 and a.row_bytes:
                    r0, r1 = lo // a.row_bytes, -(-hi // a.row_bytes)
                    self._read_l1(a.base + r0 * a.row_bytes, a.row_bytes, count=r1 - r0,
                                  passes=a.passes)
                else:
                    self._read_l1(a.base + lo, hi - lo)
            elif isinstance(a, Whole):
                self._read_l1(a.base, a.nbytes)
            elif isinstance(a, AttentionBlocks):
                self._attention(a, lo_i, hi_i, writes)
            elif isinstance(a, Rows):
                idx = self.rows_for(id(task) * 64 + ai, a)
                r0, r1 = a.count * lo_i // items, a.count * hi_i // items
                addrs = (idx[r0:r1].astype(np.uint64) * np.uint64(a.row_bytes)) + np.uint64(a.base)
                if a.write:
                    for x in addrs.tolist():
                        self._write(int(x), a.row_bytes, writes)
                else:
                    self.l1.access_addrs(addrs, a.row_bytes)
                    miss = self.l1.take_fetches()
                    if len(miss):
                        self.forwarded += len(miss)
                        self.l2.access_addrs(miss, LINE)
                    row_lines.append(self.l2.take_fetches())
        reads = self.l2.take_fetches()
        # the rows' L2 misses go first in the request (their order among themselves kept)
        self.row_reads = int(sum(len(r) for r in row_lines))
        if self.row_reads:
            reads = np.concatenate(row_lines + [reads])
        self.l1.take_writebacks()
        self.l2.take_writebacks()
        return reads, writes, nt

    def _gemm(self, g: GemmTiles, u0: int, u1: int, writes: list):
        s = g.esize
        kb = max(1, math.ceil(g.K / g.tk))
        gm, gn = g.tiles
        for u in range(u0, u1):
            item, k = divmod(u, kb)
            b, rest = divmod(item, gm * gn)
            mi, ni = divmod(rest, gn)
            m0, m1 = mi * g.tm, min(g.M, (mi + 1) * g.tm)
            n0, n1 = ni * g.tn, min(g.N, (ni + 1) * g.tn)
            k0, k1 = k * g.tk, min(g.K, (k + 1) * g.tk)
            full = g.M * g.K * s
            if g.a_bytes >= full:      # A rows m0..m1, columns k0..k1
                self._read_l2(g.a + (b * g.M + m0) * g.K * s + k0 * s, (k1 - k0) * s,
                              g.K * s, m1 - m0)
            else:                      # implicit GEMM: the same fraction of the input
                lo = g.a_bytes * (m0 * g.K + k0) // full
                hi = g.a_bytes * (m1 * g.K) // full
                span = max(LINE, (hi - lo) * (k1 - k0) // g.K)
                self._read_l2(g.a + lo, span)
            bb = b * g.K * g.N * s if g.b_batched else 0
            self._read_l2(g.b + bb + k0 * g.N * s + n0 * s, (n1 - n0) * s, g.N * s, k1 - k0)
            if k == kb - 1:
                self._write(g.c + (b * g.M + m0) * g.N * s + n0 * s, (n1 - n0) * s, writes,
                            g.N * s, m1 - m0)

    def _attention(self, a: AttentionBlocks, i0: int, i1: int, writes: list):
        s, D = a.esize, a.D
        qb = math.ceil(a.S / a.tq)
        group = max(1, a.H // max(a.kv_heads, 1))
        for item in range(i0, i1):
            bh, q = divmod(item, qb)
            b, h = divmod(bh, a.H)
            r0, r1 = q * a.tq, min(a.S, (q + 1) * a.tq)
            qo = ((b * a.H + h) * a.S + r0) * D * s
            self._read_l1(a.q + qo, (r1 - r0) * D * s)
            kvo = ((b * a.kv_heads + h // group) * a.Skv) * D * s
            self._read_l1(a.k + kvo, a.Skv * D * s)
            self._read_l1(a.v + kvo, a.Skv * D * s)
            self._write(a.o + qo, (r1 - r0) * D * s, writes)
