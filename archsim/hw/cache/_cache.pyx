# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True, initializedcheck=False
"""One set-associative, line-granular cache (the component every machine's caches are made of).

The semantics are spelled out once, in README.md next to this file; `pycache.PyCache` is the
pure-Python twin, tested equal to this one access by access (tests/hw/cache). In short:
- geometry: `size` bytes of `line`-byte lines in sets of `ways`; a line holds `line/sector`
  sectors, each with a valid and a dirty bit (a sector is the unit fetched and written back);
- lookup: a line's set is its line address (optionally XOR-folded) modulo the set count;
- replacement: "lru", "fifo" (age since fill) or "random" (a seeded xorshift, part of the state);
  an invalid way is always taken first;
- reads fetch their missing sectors; writes with write-allocate fetch them too (read for
  ownership) unless write_fetch is off (whole-sector stores, as a GPU L2 does); writes without
  write-allocate to an absent line go straight below (a streaming store); write_back=False
  sends every write below as well (write-through) and never holds a dirty sector;
- prefetch: "next_line" (tagged: a demand miss or the first demand hit on a prefetched line
  fetches the next `prefetch_degree` lines) or "stride" (per 4 KiB region, the same trigger; a
  stride seen twice in a row fetches `degree` lines ahead along it). Prefetch fills take effect
  at once (timeliness is the caller's business); they are counted apart from demand traffic.

The bulk loops run without the GIL through noexcept helpers and look for a pending signal
(Ctrl-C) every 65536 lines.
"""
from libc.stdlib cimport malloc, realloc, free
from libc.stdint cimport uint64_t, int64_t, uint8_t

import numpy as np

cdef extern from "Python.h":
    int PyErr_CheckSignals_raw "PyErr_CheckSignals" () nogil
cdef enum:
    CHECK_EVERY = 65536
    _REPL_LRU = 0
    _REPL_FIFO = 1
    _REPL_RANDOM = 2
    _PF_NONE = 0
    _PF_NEXT = 1
    _PF_STRIDE = 2

REPLACEMENTS = ("lru", "fifo", "random")
PREFETCHERS = ("none", "next_line", "stride")


cdef extern from *:
    int __builtin_popcountll(unsigned long long) nogil


cdef inline int _popcount(uint64_t x) noexcept nogil:
    return __builtin_popcountll(x)


cdef int _propagate() except -1:
    # the error indicator was set by PyErr_CheckSignals inside a nogil loop: raise it
    return -1


def _log2(long long x, str what):
    if x < 1 or (x & (x - 1)):
        raise ValueError(f"{what} must be a power of two, got {x}")
    cdef int b = 0
    while (1 << b) < x:
        b += 1
    return b


cdef class Cache:
    def __cinit__(self, long long size, long long line=64, long long ways=8, *,
                  sector=None, str replacement="lru", bint write_back=True,
                  bint write_allocate=True, bint write_fetch=True, str prefetch="none",
                  long long prefetch_degree=1, long long stride_entries=64,
                  bint hash_index=True, long long seed=0):
        cdef long long sec = line if sector is None else int(sector)
        self.line_bits = _log2(line, "line")
        self.sector_bits = _log2(sec, "sector")
        if sec > line or line // sec > 64:
            raise ValueError(f"sector ({sec}) must divide line ({line}) into 1..64 sectors")
        if ways < 1:
            raise ValueError(f"ways must be >= 1, got {ways}")
        if size < line * ways or size % (line * ways):
            raise ValueError(f"size ({size}) must be a positive multiple of line x ways "
                             f"({line} x {ways})")
        if replacement not in REPLACEMENTS:
            raise ValueError(f"replacement must be one of {REPLACEMENTS}, got {replacement!r}")
        if prefetch not in PREFETCHERS:
            raise ValueError(f"prefetch must be one of {PREFETCHERS}, got {prefetch!r}")
        if prefetch_degree < 1 or stride_entries < 1:
            raise ValueError("prefetch_degree and stride_entries must be >= 1")
        self.size, self.line, self.sector, self.ways = size, line, sec, ways
        self.sectors_per_line = line // sec
        self.full_mask = (<uint64_t>0xFFFFFFFFFFFFFFFF) >> (64 - self.sectors_per_line)
        self.nsets = size // (line * ways)
        self.pow2 = (self.nsets & (self.nsets - 1)) == 0
        self.set_mask = <uint64_t>(self.nsets - 1)
        self.replacement, self.prefetch = replacement, prefetch
        self.repl = REPLACEMENTS.index(replacement)
        self.pf = PREFETCHERS.index(prefetch)
        self.write_back, self.write_allocate, self.write_fetch = write_back, write_allocate, write_fetch
        self.hash_index = hash_index
        self.prefetch_degree, self.stride_entries = prefetch_degree, stride_entries
        self.region_bytes = 4096
        self.region_shift = 12 - self.line_bits if self.line_bits < 12 else 0
        cdef long long n = self.nsets * ways
        self._tag_a = np.zeros(n, np.uint64)
        self._valid_a = np.zeros(n, np.uint64)
        self._dirty_a = np.zeros(n, np.uint64)
        self._stamp_a = np.zeros(n, np.uint64)
        self._pfb_a = np.zeros(n, np.uint8)
        self._st_tag_a = np.zeros(stride_entries, np.uint64)
        self._st_last_a = np.zeros(stride_entries, np.int64)
        self._st_stride_a = np.zeros(stride_entries, np.int64)
        self._st_conf_a = np.zeros(stride_entries, np.uint8)
        self._bind()
        self.clock = 0
        self.rng = <uint64_t>(seed * 2 + 1) * <uint64_t>0x9E3779B97F4A7C15ULL
        if self.rng == 0:
            self.rng = 1
        self.record = False
        self.fetch_cap = self.wb_cap = 1024
        self.fetch_rec = <uint64_t*>malloc(self.fetch_cap * sizeof(uint64_t))
        self.wb_rec = <uint64_t*>malloc(self.wb_cap * sizeof(uint64_t))
        if not self.fetch_rec or not self.wb_rec:
            raise MemoryError()

    def __dealloc__(self):
        free(self.fetch_rec)
        free(self.wb_rec)

    cdef _bind(self):
        cdef uint64_t[::1] t = self._tag_a, v = self._valid_a, d = self._dirty_a, s = self._stamp_a
        cdef uint8_t[::1] p = self._pfb_a, sc = self._st_conf_a
        cdef uint64_t[::1] stt = self._st_tag_a
        cdef int64_t[::1] stl = self._st_last_a, sts = self._st_stride_a
        self.tag, self.valid, self.dirty, self.stamp = &t[0], &v[0], &d[0], &s[0]
        self.pfb = &p[0]
        self.st_tag, self.st_last, self.st_stride, self.st_conf = &stt[0], &stl[0], &sts[0], &sc[0]

    # ------------------------------------------------------------------ the line-level core

    cdef long long set_of(self, uint64_t L) noexcept nogil:
        cdef uint64_t h = L
        if self.hash_index:
            h = L ^ (L >> 11) ^ (L >> 23)
        if self.pow2:
            return <long long>(h & self.set_mask)
        return <long long>(h % <uint64_t>self.nsets)

    cdef void _rec(self, bint wb, uint64_t L, uint64_t mask) noexcept nogil:
        cdef int k
        cdef uint64_t* buf
        cdef long long need = self.sectors_per_line
        if not self.record:
            return
        if wb:
            if self.wb_n + need > self.wb_cap:
                buf = <uint64_t*>realloc(self.wb_rec, 2 * (self.wb_cap + need) * sizeof(uint64_t))
                if not buf:
                    self.oom = True
                    return
                self.wb_rec = buf
                self.wb_cap = 2 * (self.wb_cap + need)
            for k in range(self.sectors_per_line):
                if (mask >> k) & 1:
                    self.wb_rec[self.wb_n] = (L << self.line_bits) + (<uint64_t>k << self.sector_bits)
                    self.wb_n += 1
        else:
            if self.fetch_n + need > self.fetch_cap:
                buf = <uint64_t*>realloc(self.fetch_rec, 2 * (self.fetch_cap + need) * sizeof(uint64_t))
                if not buf:
                    self.oom = True
                    return
                self.fetch_rec = buf
                self.fetch_cap = 2 * (self.fetch_cap + need)
            for k in range(self.sectors_per_line):
                if (mask >> k) & 1:
                    self.fetch_rec[self.fetch_n] = (L << self.line_bits) + (<uint64_t>k << self.sector_bits)
                    self.fetch_n += 1

    cdef long long _find(self, long long base, uint64_t L) noexcept nogil:
        # tags hold line address + 1, so an empty way (0) never matches: one compare per way
        cdef long long w
        cdef uint64_t key = L + 1
        cdef uint64_t* t = self.tag + base
        for w in range(self.ways):
            if t[w] == key:
                return base + w
        return -1

    cdef long long _victim(self, long long base) noexcept nogil:
        """Free a way of the set at `base` (an invalid one first), writing back a dirty victim."""
        # empty ways have stamp 0 and valid lines stamps >= 1, so the first minimum is the
        # first empty way when there is one, else the least recently used (or filled) line
        cdef long long w, v = 0
        cdef uint64_t best, x
        cdef uint64_t* s = self.stamp + base
        if self.repl == _REPL_RANDOM:
            for w in range(self.ways):
                if self.tag[base + w] == 0:
                    return base + w
            x = self.rng
            x ^= x << 13
            x ^= x >> 7
            x ^= x << 17
            self.rng = x
            v = <long long>(x % <uint64_t>self.ways)
        else:
            best = s[0]
            for w in range(1, self.ways):
                if s[w] < best:
                    best = s[w]
                    v = w
            if best == 0:
                return base + v
        v += base
        self.evictions += 1
        if self.dirty[v]:
            self.writebacks += _popcount(self.dirty[v])
            self._rec(True, self.tag[v] - 1, self.dirty[v])
        if self.pfb[v]:
            self.pf_useless += 1
        self.tag[v] = 0
        self.valid[v] = 0
        self.dirty[v] = 0
        self.pfb[v] = 0
        self.stamp[v] = 0
        return v

    cdef void _fill_prefetch(self, int64_t P) noexcept nogil:
        cdef long long base, w
        if P < 0:
            return
        base = self.set_of(<uint64_t>P) * self.ways
        if self._find(base, <uint64_t>P) >= 0:
            return
        w = self._victim(base)
        self.tag[w] = <uint64_t>P + 1
        self.valid[w] = self.full_mask
        self.dirty[w] = 0
        self.pfb[w] = 1
        self.clock += 1
        self.stamp[w] = self.clock
        self.pf_issued += 1
        self.pf_fetches += self.sectors_per_line
        self._rec(False, <uint64_t>P, self.full_mask)

    cdef void _trigger(self, uint64_t L) noexcept nogil:
        """A demand miss, or the first demand hit on a prefetched line: train and prefetch."""
        cdef long long k, e
        cdef uint64_t region
        cdef int64_t d
        if self.pf == _PF_NEXT:
            for k in range(1, self.prefetch_degree + 1):
                self._fill_prefetch(<int64_t>L + k)
        elif self.pf == _PF_STRIDE:
            region = L >> self.region_shift
            e = <long long>(region % <uint64_t>self.stride_entries)
            if self.st_tag[e] != region + 1:
                self.st_tag[e] = region + 1
                self.st_last[e] = <int64_t>L
                self.st_stride[e] = 0
                self.st_conf[e] = 0
                return
            d = <int64_t>L - self.st_last[e]
            if d == 0:
                return
            if d == self.st_stride[e]:
                if self.st_conf[e] < 3:
                    self.st_conf[e] += 1
            else:
                self.st_stride[e] = d
                self.st_conf[e] = 0
            self.st_last[e] = <int64_t>L
            if self.st_conf[e] >= 1:
                for k in range(1, self.prefetch_degree + 1):
                    self._fill_prefetch(<int64_t>L + k * d)

    cdef void _touch(self, uint64_t L, uint64_t m, bint write) noexcept nogil:
        cdef long long base = self.set_of(L) * self.ways
        cdef long long w = self._find(base, L)
        cdef int n = _popcount(m)
        cdef uint64_t absent
        cdef bint was_pf
        self.accesses += n
        if write:
            self.write_accesses += n
        if w >= 0:
            absent = m & ~self.valid[w]
            self.hits += n - _popcount(absent)
            if absent:
                self.misses += _popcount(absent)
                if not write or self.write_fetch:
                    self.fetches += _popcount(absent)
                    self._rec(False, L, absent)
                self.valid[w] |= absent
            if write:
                if self.write_back:
                    self.dirty[w] |= m
                else:
                    self.through_writes += n
                    self._rec(True, L, m)
            if self.repl == _REPL_LRU:
                self.clock += 1
                self.stamp[w] = self.clock
            was_pf = self.pfb[w]
            if was_pf:
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

    cdef int _tick(self) noexcept nogil:
        self.since_check += 1
        if self.since_check >= CHECK_EVERY:
            self.since_check = 0
            with gil:
                if PyErr_CheckSignals_raw() != 0:
                    return -1
        return 0

    cdef int c_range(self, long long addr, long long nbytes, bint write) noexcept nogil:
        """Access the bytes [addr, addr + nbytes), line by line."""
        cdef long long end, L, last, lo, hi, lbase
        cdef int s0, s1
        cdef uint64_t m
        if nbytes <= 0:
            return 0
        end = addr + nbytes
        L = addr >> self.line_bits
        last = (end - 1) >> self.line_bits
        while L <= last:
            lbase = L << self.line_bits
            lo = lbase if lbase > addr else addr
            hi = lbase + self.line if lbase + self.line < end else end
            s0 = <int>((lo - lbase) >> self.sector_bits)
            s1 = <int>((hi - 1 - lbase) >> self.sector_bits)
            m = (self.full_mask >> (self.sectors_per_line - 1 - s1 + s0)) << s0
            self._touch(<uint64_t>L, m, write)
            if self._tick() < 0:
                return -1
            L += 1
        return 0

    cdef int c_strided(self, long long addr, long long seg, long long stride, long long count,
                       bint write) noexcept nogil:
        cdef long long i
        for i in range(count):
            if self.c_range(addr + i * stride, seg, write) < 0:
                return -1
        return 0

    # ------------------------------------------------------------------ the Python API

    cdef tuple _delta(self, long long h, long long m, long long wb):
        return (self.hits - h, self.misses - m, self.writebacks - wb)

    def access(self, long long addr, long long nbytes, bint write=False):
        """Access [addr, addr + nbytes) line by line -> (hits, misses, write-backs) in sectors."""
        if addr < 0 or nbytes < 0:
            raise ValueError(f"addr and nbytes must be >= 0, got {addr}, {nbytes}")
        cdef long long h = self.hits, m = self.misses, wb = self.writebacks
        cdef int rc
        with nogil:
            rc = self.c_range(addr, nbytes, write)
        if rc < 0:
            _propagate()
        self._check_oom()
        return self._delta(h, m, wb)

    def access_strided(self, long long addr, long long seg_bytes, long long stride,
                       long long count, bint write=False):
        """`count` segments of `seg_bytes` bytes, `stride` apart (rows of a tile of a row-major
        matrix) -> (hits, misses, write-backs) in sectors."""
        if addr < 0 or seg_bytes < 0 or count < 0 or (count > 1 and addr + (count - 1) * stride < 0):
            raise ValueError("strided access reaches below address 0")
        cdef long long h = self.hits, m = self.misses, wb = self.writebacks
        cdef int rc
        with nogil:
            rc = self.c_strided(addr, seg_bytes, stride, count, write)
        if rc < 0:
            _propagate()
        self._check_oom()
        return self._delta(h, m, wb)

    def access_addrs(self, addrs, long long nbytes, bint write=False):
        """`nbytes` at each address of `addrs` (row gathers; another cache's fetch or write-back
        record) -> (hits, misses, write-backs) in sectors."""
        cdef const uint64_t[::1] a = np.ascontiguousarray(addrs, dtype=np.uint64)
        cdef long long i, n = a.shape[0]
        cdef long long h = self.hits, m = self.misses, wb = self.writebacks
        cdef int rc = 0
        with nogil:
            for i in range(n):
                rc = self.c_range(<long long>a[i], nbytes, write)
                if rc < 0:
                    break
        if rc < 0:
            _propagate()
        self._check_oom()
        return self._delta(h, m, wb)

    def _check_oom(self):
        if self.oom:
            self.oom = False
            raise MemoryError("cache record buffer")

    def take_fetches(self):
        """Sector addresses fetched from below since the last take (demand, then prefetch
        fills, in order), as a uint64 array; empties the record. Needs `record = True`."""
        out = np.empty(self.fetch_n, np.uint64)
        cdef uint64_t[::1] o = out
        cdef long long i
        for i in range(self.fetch_n):
            o[i] = self.fetch_rec[i]
        self.fetch_n = 0
        return out

    def take_writebacks(self):
        """Sector addresses written below since the last take (dirty evictions, write-through
        and streaming stores), as a uint64 array; empties the record."""
        out = np.empty(self.wb_n, np.uint64)
        cdef uint64_t[::1] o = out
        cdef long long i
        for i in range(self.wb_n):
            o[i] = self.wb_rec[i]
        self.wb_n = 0
        return out

    def set_index(self, long long line_addr):
        """The set a line address maps to (for reference models and tests)."""
        return self.set_of(<uint64_t>line_addr)

    def contains(self, long long addr):
        """Whether the sector holding byte `addr` is valid (no state change)."""
        cdef uint64_t L = <uint64_t>(addr >> self.line_bits)
        cdef long long w = self._find(self.set_of(L) * self.ways, L)
        if w < 0:
            return False
        return bool((self.valid[w] >> ((addr & (self.line - 1)) >> self.sector_bits)) & 1)

    def flush(self):
        """Write back every dirty sector and invalidate everything -> sectors written back."""
        cdef long long i, n = self.nsets * self.ways, total = 0
        for i in range(n):
            if self.tag[i] and self.dirty[i]:
                total += _popcount(self.dirty[i])
                self._rec(True, self.tag[i] - 1, self.dirty[i])
            self.tag[i] = 0
            self.valid[i] = 0
            self.dirty[i] = 0
            self.pfb[i] = 0
            self.stamp[i] = 0
        self.writebacks += total
        return total

    def resident_bytes(self):
        cdef long long i, n = self.nsets * self.ways, s = 0
        for i in range(n):
            s += _popcount(self.valid[i])
        return s * self.sector

    def dirty_bytes(self):
        cdef long long i, n = self.nsets * self.ways, s = 0
        for i in range(n):
            s += _popcount(self.dirty[i])
        return s * self.sector

    COUNTERS = ("accesses", "hits", "misses", "fetches", "writebacks", "write_accesses",
                "bypass_writes", "through_writes", "evictions", "pf_issued", "pf_useful",
                "pf_useless", "pf_fetches")

    def counters(self):
        """Every counter (sectors; pf_issued/useful/useless in lines), plus prefetch coverage
        (useful / (useful + demand misses)) and accuracy (useful / issued)."""
        d = {k: getattr(self, k) for k in self.COUNTERS}
        d["pf_coverage"] = d["pf_useful"] / (d["pf_useful"] + d["misses"]) if d["pf_useful"] + d["misses"] else 0.0
        d["pf_accuracy"] = d["pf_useful"] / d["pf_issued"] if d["pf_issued"] else 0.0
        return d

    def reset_counters(self):
        for k in self.COUNTERS:
            setattr(self, k, 0)

    def get_state(self):
        """The whole state as plain data (numpy arrays and ints): a checkpoint."""
        return {"tag": self._tag_a.copy(), "valid": self._valid_a.copy(),
                "dirty": self._dirty_a.copy(), "stamp": self._stamp_a.copy(),
                "pfb": self._pfb_a.copy(), "st_tag": self._st_tag_a.copy(),
                "st_last": self._st_last_a.copy(), "st_stride": self._st_stride_a.copy(),
                "st_conf": self._st_conf_a.copy(), "clock": int(self.clock), "rng": int(self.rng),
                "counters": {k: getattr(self, k) for k in self.COUNTERS},
                "geometry": self.geometry()}

    def set_state(self, state):
        """Restore a state from get_state() (of this cache or its Python twin)."""
        if dict(state["geometry"]) != self.geometry():
            raise ValueError(f"state of a cache {dict(state['geometry'])} does not fit {self.geometry()}")
        arrays = {"tag": self._tag_a, "valid": self._valid_a, "dirty": self._dirty_a,
                  "stamp": self._stamp_a, "pfb": self._pfb_a, "st_tag": self._st_tag_a,
                  "st_last": self._st_last_a, "st_stride": self._st_stride_a,
                  "st_conf": self._st_conf_a}
        for name, arr in arrays.items():
            arr[:] = np.asarray(state[name], dtype=arr.dtype)
        self.clock = <uint64_t>int(state["clock"])
        self.rng = <uint64_t>int(state["rng"])
        for k, v in state["counters"].items():
            setattr(self, k, int(v))
        self.fetch_n = self.wb_n = 0

    def geometry(self):
        return {"size": self.size, "line": self.line, "sector": self.sector, "ways": self.ways,
                "replacement": self.replacement, "write_back": bool(self.write_back),
                "write_allocate": bool(self.write_allocate), "write_fetch": bool(self.write_fetch),
                "prefetch": self.prefetch, "prefetch_degree": self.prefetch_degree,
                "stride_entries": self.stride_entries, "hash_index": bool(self.hash_index)}

    def __repr__(self):
        return (f"Cache({self.size} B, {self.line} B lines, {self.ways} ways, {self.nsets} sets, "
                f"{self.replacement}, prefetch={self.prefetch})")
