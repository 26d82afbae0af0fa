"""PyCache: the pure-Python twin of the Cython `Cache` (same API, same state, same answers).

It exists so archsim runs where the extension was not compiled, and as the readable statement
of the semantics (README.md). tests/hw/cache checks it equal to the Cython cache access by
access, counter by counter and state by state, on random configurations and traces.
"""
from __future__ import annotations

import math

import numpy as np

REPLACEMENTS = ("lru", "fifo", "random")
PREFETCHERS = ("none", "next_line", "stride")
SAMPLE_SELECTS = ("hash", "low")
M64 = (1 << 64) - 1
COUNTERS = ("accesses", "hits", "misses", "fetches", "writebacks", "write_accesses",
            "bypass_writes", "through_writes", "evictions", "pf_issued", "pf_useful",
            "pf_useless", "pf_fetches", "back_invalidations", "far_hits")


def _mix(x: int) -> int:
    x &= M64
    x ^= x >> 31
    x = (x * 0x9E3779B97F4A7C15) & M64
    x ^= x >> 29
    return x


def _log2(x: int, what: str) -> int:
    if x < 1 or x & (x - 1):
        raise ValueError(f"{what} must be a power of two, got {x}")
    return x.bit_length() - 1


class PyCache:
    COUNTERS = COUNTERS

    def __init__(self, size: int, line: int = 64, ways: int = 8, *, sector=None,
                 replacement: str = "lru", write_back: bool = True, write_allocate: bool = True,
                 write_fetch: bool = True, prefetch: str = "none", prefetch_degree: int = 1,
                 stride_entries: int = 64, hash_index: bool = True, seed: int = 0,
                 sample: int = 1, partitions: int = 1, index_shifts=(11, 23),
                 sample_select: str = "hash", slices: int = 1):
        sec = line if sector is None else int(sector)
        self.line_bits = _log2(line, "line")
        self.sector_bits = _log2(sec, "sector")
        if sec > line or line // sec > 8:
            raise ValueError(f"sector ({sec}) must divide line ({line}) into 1..8 sectors")
        if ways < 1:
            raise ValueError(f"ways must be >= 1, got {ways}")
        if size < line * ways or size % (line * ways):
            raise ValueError(f"size ({size}) must be a positive multiple of line x ways "
                             f"({line} x {ways})")
        _log2(sample, "sample")
        if size // (line * ways) < sample or (size // (line * ways)) % sample:
            raise ValueError(f"sample ({sample}) must divide the set count ({size // (line * ways)})")
        if replacement not in REPLACEMENTS:
            raise ValueError(f"replacement must be one of {REPLACEMENTS}, got {replacement!r}")
        if prefetch not in PREFETCHERS:
            raise ValueError(f"prefetch must be one of {PREFETCHERS}, got {prefetch!r}")
        if prefetch_degree < 1 or stride_entries < 1:
            raise ValueError("prefetch_degree and stride_entries must be >= 1")
        if sample_select not in SAMPLE_SELECTS:
            raise ValueError(f"sample_select must be one of {SAMPLE_SELECTS}, got {sample_select!r}")
        sh = tuple(int(x) for x in index_shifts)
        if len(sh) != 2 or not all(1 <= x < 64 for x in sh):
            raise ValueError(f"index_shifts must be two shifts in 1..63, got {index_shifts!r}")
        if partitions < 1 or (size // (line * ways) // sample) % partitions:
            raise ValueError(f"partitions ({partitions}) must divide the set count "
                             f"({size // (line * ways) // sample})")
        if partitions > 1 and (prefetch != "none" or replacement != "lru" or write_fetch
                               or not write_back or not write_allocate):
            raise ValueError("a partitioned cache is LRU, write-back, write-allocate without "
                             "write fetch, and does not prefetch")
        if slices < 1:
            raise ValueError(f"slices must be >= 1, got {slices}")
        self.partitions = int(partitions)
        self.slices = int(slices)
        self.slice_acc = [0] * (self.partitions * self.slices)
        self.slice_fetch = [0] * (self.partitions * self.slices)
        self.sh1, self.sh2 = sh
        self.sample_select = sample_select
        self.sample_low = sample_select == "low"
        self.sample_bits = _log2(sample, "sample")
        self.size, self.line, self.sector, self.ways = size, line, sec, ways
        self.sectors_per_line = line // sec
        self.full_mask = (1 << self.sectors_per_line) - 1
        self.sample = sample
        self.nsets = size // (line * ways) // sample
        self.pset = self.nsets // self.partitions
        self.replacement, self.prefetch = replacement, prefetch
        self.write_back, self.write_allocate, self.write_fetch = (
            bool(write_back), bool(write_allocate), bool(write_fetch))
        self.hash_index = bool(hash_index)
        self.prefetch_degree, self.stride_entries = prefetch_degree, stride_entries
        self.region_bytes = 4096
        self.region_shift = 12 - self.line_bits if self.line_bits < 12 else 0
        n = self.nsets * ways
        self.tag = [0] * n          # line address + 1; 0 = empty way
        self.valid = [0] * n
        self.dirty = [0] * n
        self.stamp = [0] * n
        self.pfb = [0] * n
        self.st_tag = [0] * stride_entries
        self.st_last = [0] * stride_entries
        self.st_stride = [0] * stride_entries
        self.st_conf = [0] * stride_entries
        self.clock = 0
        self.rng = ((seed * 2 + 1) * 0x9E3779B97F4A7C15) & M64 or 1
        for k in COUNTERS:
            setattr(self, k, 0)
        self.record = False
        self.parent = None
        self._fetch: list[int] = []
        self._wb: list[int] = []

    # ---------------------------------------------------------------------- the core

    def set_of(self, L: int) -> int:
        """A line's set within its partition (the only one unless `partitions` > 1)."""
        h = L >> self.sample_bits if self.sample_low else L
        if self.hash_index:
            h = h ^ (h >> self.sh1) ^ (h >> self.sh2)
        return h % self.pset

    def _pbase(self, L: int, part: int) -> int:
        return (part * self.pset + self.set_of(L)) * self.ways

    def _slice(self, L: int, part: int) -> int:
        k = L >> self.sample_bits if self.sample_low else L
        k = k ^ (k >> 2) ^ (k >> 5) ^ (k >> 9)
        return part * self.slices + k % self.slices

    def _home(self, L: int) -> int:
        if self.partitions == 1:
            return 0
        return _mix(L >> self.sample_bits if self.sample_low else L) % self.partitions

    def _rec(self, wb: bool, L: int, mask: int) -> None:
        if not self.record:
            return
        out = self._wb if wb else self._fetch
        for k in range(self.sectors_per_line):
            if (mask >> k) & 1:
                out.append((L << self.line_bits) + (k << self.sector_bits))

    def _find(self, base: int, L: int) -> int:
        key = L + 1
        for w in range(base, base + self.ways):
            if self.tag[w] == key:
                return w
        return -1

    def _victim(self, base: int) -> int:
        if self.replacement == "random":
            for w in range(base, base + self.ways):
                if self.tag[w] == 0:
                    return w
            x = self.rng
            x ^= (x << 13) & M64
            x ^= x >> 7
            x ^= (x << 17) & M64
            self.rng = x
            v = base + x % self.ways
        else:
            stamps = self.stamp[base:base + self.ways]
            best = min(stamps)
            v = base + stamps.index(best)
            if best == 0:
                return v
        self.evictions += 1
        if self.dirty[v]:
            self.writebacks += bin(self.dirty[v]).count("1")
            self._rec(True, self.tag[v] - 1, self.dirty[v])
        if self.pfb[v]:
            self.pf_useless += 1
        self.tag[v] = self.valid[v] = self.dirty[v] = self.pfb[v] = self.stamp[v] = 0
        return v

    def _sampled(self, L: int) -> bool:
        if self.sample_low:
            return L & (self.sample - 1) == 0
        return (((L * 0x9E3779B97F4A7C15) & M64) >> 40) & (self.sample - 1) == 0

    def _fill_prefetch(self, P: int) -> None:
        if P < 0 or (self.sample > 1 and not self._sampled(P)):
            return
        base = self.set_of(P) * self.ways
        if self._find(base, P) >= 0:
            return
        w = self._victim(base)
        self.tag[w] = P + 1
        self.valid[w] = self.full_mask
        self.dirty[w] = 0
        self.pfb[w] = 1
        self.clock += 1
        self.stamp[w] = self.clock
        self.pf_issued += 1
        self.pf_fetches += self.sectors_per_line
        self._rec(False, P, self.full_mask)

    def _trigger(self, L: int) -> None:
        if self.prefetch == "next_line":
            for k in range(1, self.prefetch_degree + 1):
                self._fill_prefetch(L + k)
        elif self.prefetch == "stride":
            region = L >> self.region_shift
            e = region % self.stride_entries
            if self.st_tag[e] != region + 1:
                self.st_tag[e] = region + 1
                self.st_last[e] = L
                self.st_stride[e] = 0
                self.st_conf[e] = 0
                return
            d = L - self.st_last[e]
            if d == 0:
                return
            if d == self.st_stride[e]:
                if self.st_conf[e] < 3:
                    self.st_conf[e] += 1
            else:
                self.st_stride[e] = d
                self.st_conf[e] = 0
            self.st_last[e] = L
            if self.st_conf[e] >= 1:
                for k in range(1, self.prefetch_degree + 1):
                    self._fill_prefetch(L + k * d)

    def _touch(self, L: int, m: int, write: bool) -> None:
        base = self.set_of(L) * self.ways
        w = self._find(base, L)
        par = self.parent
        if w >= 0 and par is not None and par._find(par.set_of(L) * par.ways, L) < 0:
            self.back_invalidations += 1
            if self.dirty[w]:
                self.writebacks += bin(self.dirty[w]).count("1")
                self._rec(True, L, self.dirty[w])
            if self.pfb[w]:
                self.pf_useless += 1
            self.tag[w] = self.valid[w] = self.dirty[w] = self.pfb[w] = self.stamp[w] = 0
            w = -1
        n = bin(m).count("1")
        self.accesses += n
        if write:
            self.write_accesses += n
        if w >= 0:
            absent = m & ~self.valid[w]
            na = bin(absent).count("1")
            self.hits += n - na
            if absent:
                self.misses += na
                if not write or self.write_fetch:
                    self.fetches += na
                    self._rec(False, L, absent)
                self.valid[w] |= absent
            if write:
                if self.write_back:
                    self.dirty[w] |= m
                else:
                    self.through_writes += n
                    self._rec(True, L, m)
            if self.replacement == "lru":
                self.clock += 1
                self.stamp[w] = self.clock
            if self.pfb[w]:
                self.pfb[w] = 0
                self.pf_useful += 1
                self._trigger(L)
            return
        self.misses += n
        if write and not self.write_allocate:
            self.bypass_writes += n
            self._rec(True, L, m)
            return
        w = self._victim(base)
        self.tag[w] = L + 1
        self.valid[w] = m
        self.pfb[w] = 0
        if not write or self.write_fetch:
            self.fetches += n
            self._rec(False, L, m)
        if write and self.write_back:
            self.dirty[w] = m
        else:
            self.dirty[w] = 0
            if write:
                self.through_writes += n
                self._rec(True, L, m)
        self.clock += 1
        self.stamp[w] = self.clock
        self._trigger(L)

    def _touch_side(self, L: int, m: int, write: bool, side: int) -> None:
        """A partitioned access (README: partitions): home copy dirty, near clean replicas."""
        home = self._home(L)
        n = bin(m).count("1")
        self.accesses += n
        self.clock += 1
        if write:
            self.write_accesses += n
            hb = self._pbase(L, home)
            hw = self._find(hb, L)
            if hw < 0:
                hw = self._victim(hb)
                self.tag[hw] = L + 1
            nm = bin(m & ~self.valid[hw]).count("1")
            self.misses += nm
            self.hits += n - nm
            self.valid[hw] |= m
            self.dirty[hw] |= m
            self.stamp[hw] = self.clock
            if side != home:
                w = self._find(self._pbase(L, side), L)
                if w >= 0:
                    self.valid[w] |= m
                    self.stamp[w] = self.clock
            return
        nb = self._pbase(L, side)
        w = self._find(nb, L)
        if w >= 0 and self.valid[w] & m == m:
            self.hits += n
            self.stamp[w] = self.clock
            return
        if side == home:
            if w < 0:
                w = self._victim(nb)
                self.tag[w] = L + 1
            miss = m & ~self.valid[w]
            nm = bin(miss).count("1")
            self.hits += n - nm
            self.misses += nm
            if nm:
                self.fetches += nm
                self._rec(False, L, miss)
            self.valid[w] |= m
            self.stamp[w] = self.clock
            return
        hb = self._pbase(L, home)
        hw = self._find(hb, L)
        if hw < 0:
            hw = self._victim(hb)
            self.tag[hw] = L + 1
        miss = m & ~self.valid[hw]
        nm = bin(miss).count("1")
        self.hits += n - nm
        self.far_hits += n - nm
        self.misses += nm
        if nm:
            self.fetches += nm
            self._rec(False, L, miss)
        self.valid[hw] |= m
        self.stamp[hw] = self.clock
        if w < 0:
            w = self._victim(nb)
            self.tag[w] = L + 1
        self.valid[w] |= m
        self.stamp[w] = self.clock

    def _range(self, addr: int, nbytes: int, write: bool, side: int = 0) -> None:
        if nbytes <= 0:
            return
        end = addr + nbytes
        lb, sb, spl = self.line_bits, self.sector_bits, self.sectors_per_line
        first, step = addr >> lb, 1
        if self.sample_low and self.sample > 1:
            S = self.sample
            first, step = -(-first // S) * S, S
        touch = self._touch_side if self.partitions > 1 else None
        hashed = self.sample > 1 and not self.sample_low
        sliced = self.slices > 1 or self.partitions > 1
        for L in range(first, ((end - 1) >> lb) + 1, step):
            if hashed and not self._sampled(L):
                continue
            lbase = L << lb
            lo = max(lbase, addr)
            hi = min(lbase + self.line, end)
            s0 = (lo - lbase) >> sb
            s1 = (hi - 1 - lbase) >> sb
            m = (self.full_mask >> (spl - 1 - s1 + s0)) << s0
            f0 = self.fetches
            if touch is not None:
                touch(L, m, write, side)
            else:
                self._touch(L, m, write)
            if sliced:
                sl = self._slice(L, self._home(L) if write else side)
                self.slice_acc[sl] += bin(m).count("1")
                self.slice_fetch[sl] += self.fetches - f0

    def _block(self, addr: int, seg: int, stride: int, count: int, write: bool,
               side: int) -> None:
        """Rows of a tile (Cache.c_block); rows holding no sampled line are skipped, which
        changes nothing but the time taken."""
        if count <= 0 or seg <= 0:
            return
        lb = self.line_bits
        if self.sample_low and self.sample > 1:
            S = self.sample
            if stride % (self.line * S) == 0 and -(-(addr >> lb) // S) * S > (addr + seg - 1) >> lb:
                return      # every row has the first row's sampled lines: none
            if seg < self.line * S and stride > 0 and stride % self.line == 0:
                # rows a whole number of lines apart: whether row i holds a sampled line
                # repeats with period P = S / gcd(d, S) (Cache._block_sampled); visit the
                # qualifying rows in increasing order
                d = (stride >> lb) % S
                P = S // math.gcd(d, S)
                L0 = addr >> lb
                nl = (((addr & (self.line - 1)) + seg - 1) >> lb) + 1
                q = [i for i in range(min(P, count)) if (-(L0 + i * d)) % S < nl]
                for base in range(0, count, P):
                    for j in q:
                        i = base + j
                        if i >= count:
                            break
                        self._range(addr + i * stride, seg, write, side)
                return
            for i in range(count):
                a = addr + i * stride
                if -(-(a >> lb) // S) * S <= (a + seg - 1) >> lb:
                    self._range(a, seg, write, side)
            return
        for i in range(count):
            self._range(addr + i * stride, seg, write, side)

    # ---------------------------------------------------------------------- the API

    def _delta(self, h, m, wb):
        return (self.hits - h, self.misses - m, self.writebacks - wb)

    def access(self, addr: int, nbytes: int, write: bool = False, *, side: int = 0):
        if addr < 0 or nbytes < 0:
            raise ValueError(f"addr and nbytes must be >= 0, got {addr}, {nbytes}")
        h, m, wb = self.hits, self.misses, self.writebacks
        self._range(int(addr), int(nbytes), bool(write), side % self.partitions)
        return self._delta(h, m, wb)

    def invalidate(self, addr: int, nbytes: int) -> int:
        n = 0
        if nbytes <= 0:
            return 0
        for L in range(addr >> self.line_bits, ((addr + nbytes - 1) >> self.line_bits) + 1):
            if self.sample > 1 and not self._sampled(L):
                continue
            for p in range(self.partitions):
                w = self._find(self._pbase(L, p), L)
                if w >= 0:
                    n += bin(self.dirty[w]).count("1")
                    self.tag[w] = self.valid[w] = self.dirty[w] = self.pfb[w] = self.stamp[w] = 0
        return n

    def access_strided(self, addr: int, seg_bytes: int, stride: int, count: int,
                       write: bool = False, passes: int = 1, *, side: int = 0):
        if addr < 0 or seg_bytes < 0 or count < 0 or (count > 1 and addr + (count - 1) * stride < 0):
            raise ValueError("strided access reaches below address 0")
        h, m, wb = self.hits, self.misses, self.writebacks
        side %= self.partitions
        if passes == 1:
            self._block(addr, seg_bytes, stride, count, bool(write), side)
        else:
            for i in range(count):
                for _ in range(passes):
                    self._range(addr + i * stride, seg_bytes, bool(write), side)
        return self._delta(h, m, wb)

    # ------------------------------------------------ bulk access streams (the GPU replay's)

    def access_units(self, addr, nbytes, u0, u1, units, write=False) -> None:
        for u in range(u0, u1):
            lo, hi = nbytes * u // units, nbytes * (u + 1) // units
            if hi > lo:
                self._range(addr + lo, hi - lo, bool(write), u % self.partitions)

    def gemm_chunk(self, a_base, b_base, c_base, M, N, K, esize, c_esize, tm, tn, tk, split,
                   batch, group_m, u0, u1, s0, s1, a_ld=0, b_trans=False) -> None:
        """Tile loads of GEMM work units [u0, u1) for K-steps [s0, s1) (Cache.gemm_chunk)."""
        a_ld = a_ld if a_ld > 0 else K
        mt, nt = -(-M // tm), -(-N // tn)
        per_batch = mt * nt * split
        kst = -(-K // tk)
        ksteps = -(-kst // split)
        blk = self._block
        for s in range(s0, s1):
            for u in range(u0, u1):
                b, r = divmod(u, per_batch)
                sp, t = divmod(r, mt * nt)
                band, in_band = divmod(t, group_m * nt)
                bw = min(group_m, mt - band * group_m)
                mi, ni = band * group_m + in_band % bw, in_band // bw
                m0, n0 = mi * tm, ni * tn
                rows, cols = min(tm, M - m0), min(tn, N - n0)
                side = u % self.partitions
                kg = sp * ksteps + s
                ab = a_base + b * M * a_ld * esize
                bb = b_base + b * K * N * esize
                cb = c_base + (b * split + sp) * M * N * c_esize
                if kg < kst and s < ksteps:
                    k0 = kg * tk
                    kk = min(tk, K - k0)
                    blk(ab + (m0 * a_ld + k0 % a_ld) * esize, kk * esize, a_ld * esize, rows,
                        False, side)
                    if b_trans:
                        blk(bb + (n0 * K + k0) * esize, kk * esize, K * esize, cols, False, side)
                    else:
                        blk(bb + (k0 * N + n0) * esize, cols * esize, N * esize, kk, False, side)
                if s == ksteps - 1:
                    blk(cb + (m0 * N + n0) * c_esize, cols * c_esize, N * c_esize, rows, True,
                        side)

    def rows_chunk(self, table_base, row_bytes, table_rows, i0, i1, seed) -> None:
        salt = (seed * 97 + 12345) & M64
        for i in range(i0, i1):
            row = _mix(i * 2654435761 + salt) % table_rows
            self._range(table_base + row * row_bytes, row_bytes, False, i % self.partitions)

    def access_addrs(self, addrs, nbytes: int, write: bool = False):
        h, m, wb = self.hits, self.misses, self.writebacks
        for a in np.asarray(addrs, dtype=np.uint64).tolist():
            self._range(int(a), int(nbytes), bool(write))
        return self._delta(h, m, wb)

    def take_fetches(self):
        out = np.asarray(self._fetch, dtype=np.uint64)
        self._fetch = []
        return out

    def take_writebacks(self):
        out = np.asarray(self._wb, dtype=np.uint64)
        self._wb = []
        return out

    def set_parent(self, parent) -> None:
        if parent is not None and (not isinstance(parent, PyCache) or parent.line != self.line
                                   or parent.sample != self.sample):
            raise ValueError("parent must be a PyCache with the same line size and sampling")
        self.parent = parent

    def set_index(self, line_addr: int) -> int:
        return self.set_of(line_addr)

    def contains(self, addr: int) -> bool:
        L = addr >> self.line_bits
        w = self._find(self._pbase(L, self._home(L)), L)
        return w >= 0 and bool((self.valid[w] >> ((addr & (self.line - 1)) >> self.sector_bits)) & 1)

    def flush(self) -> int:
        total = 0
        for i in range(len(self.tag)):
            if self.tag[i] and self.dirty[i]:
                total += bin(self.dirty[i]).count("1")
                self._rec(True, self.tag[i] - 1, self.dirty[i])
            self.tag[i] = self.valid[i] = self.dirty[i] = self.pfb[i] = self.stamp[i] = 0
        self.writebacks += total
        return total

    def resident_bytes(self) -> int:
        return sum(bin(v).count("1") for v in self.valid) * self.sector

    def dirty_bytes(self) -> int:
        return sum(bin(v).count("1") for v in self.dirty) * self.sector

    def counters(self) -> dict:
        d = {k: getattr(self, k) for k in COUNTERS}
        d["pf_coverage"] = d["pf_useful"] / (d["pf_useful"] + d["misses"]) if d["pf_useful"] + d["misses"] else 0.0
        d["pf_accuracy"] = d["pf_useful"] / d["pf_issued"] if d["pf_issued"] else 0.0
        return d

    def reset_counters(self) -> None:
        for k in COUNTERS:
            setattr(self, k, 0)
        self.slice_acc = [0] * len(self.slice_acc)
        self.slice_fetch = [0] * len(self.slice_fetch)

    def slice_counts(self):
        return (np.asarray(self.slice_acc, dtype=np.int64),
                np.asarray(self.slice_fetch, dtype=np.int64))

    _ARRAYS = {"tag": np.uint64, "valid": np.uint8, "dirty": np.uint8, "stamp": np.uint64,
               "pfb": np.uint8, "st_tag": np.uint64, "st_last": np.int64,
               "st_stride": np.int64, "st_conf": np.uint8, "slice_acc": np.int64,
               "slice_fetch": np.int64}

    def get_state(self) -> dict:
        st = {k: np.asarray(getattr(self, k), dtype=t) for k, t in self._ARRAYS.items()}
        st.update(clock=self.clock, rng=self.rng, counters={k: getattr(self, k) for k in COUNTERS},
                  geometry=self.geometry())
        return st

    def set_state(self, state) -> None:
        if dict(state["geometry"]) != self.geometry():
            raise ValueError(f"state of a cache {dict(state['geometry'])} does not fit {self.geometry()}")
        for k in self._ARRAYS:
            setattr(self, k, [int(x) for x in np.asarray(state[k]).tolist()])
        self.clock, self.rng = int(state["clock"]), int(state["rng"])
        for k, v in state["counters"].items():
            setattr(self, k, int(v))
        self._fetch, self._wb = [], []

    def geometry(self) -> dict:
        return {"size": self.size, "line": self.line, "sector": self.sector, "ways": self.ways,
                "replacement": self.replacement, "write_back": self.write_back,
                "write_allocate": self.write_allocate, "write_fetch": self.write_fetch,
                "prefetch": self.prefetch, "prefetch_degree": self.prefetch_degree,
                "stride_entries": self.stride_entries, "hash_index": self.hash_index,
                "sample": self.sample, "partitions": self.partitions,
                "index_shifts": [self.sh1, self.sh2], "sample_select": self.sample_select,
                "slices": self.slices}

    def __repr__(self):
        return (f"PyCache({self.size} B, {self.line} B lines, {self.ways} ways, {self.nsets} sets, "
                f"{self.replacement}, prefetch={self.prefetch})")
