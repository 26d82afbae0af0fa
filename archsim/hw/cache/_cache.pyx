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

# One byte per way, a fingerprint of its tag (0: empty way), so a lookup compares a set's 16
# bytes at once and reads a full tag only where the byte matches. SSE2 is part of x86-64;
# elsewhere a byte loop gives the same masks.
cdef extern from *:
    """
    #if defined(__SSE2__)
    #include <emmintrin.h>
    static inline unsigned int archsim_fp_match(const unsigned char* p, unsigned char v) {
        __m128i x = _mm_loadu_si128((const __m128i*)p);
        return (unsigned int)_mm_movemask_epi8(_mm_cmpeq_epi8(x, _mm_set1_epi8((char)v)));
    }
    #else
    static inline unsigned int archsim_fp_match(const unsigned char* p, unsigned char v) {
        unsigned int m = 0; int i;
        for (i = 0; i < 16; i++) m |= (unsigned int)(p[i] == v) << i;
        return m;
    }
    #endif
    static inline int archsim_ctz(unsigned int m) { return __builtin_ctz(m); }
    #define archsim_prefetch(p) __builtin_prefetch((const void*)(p))
    """
    unsigned int archsim_fp_match(const uint8_t* p, uint8_t v) nogil
    int archsim_ctz(unsigned int m) nogil
    void archsim_prefetch(const void* p) nogil


cdef inline uint8_t _fpv(uint64_t key) noexcept nogil:
    # a nonzero byte from a tag (line address + 1); 0 marks an empty way
    return <uint8_t>(((key * <uint64_t>0x9E3779B97F4A7C15ULL) >> 57) | 0x80)
cdef enum:
    CHECK_EVERY = 65536
    _REPL_LRU = 0
    _REPL_FIFO = 1
    _REPL_RANDOM = 2
    _PF_NONE = 0
    _PF_NEXT = 1
    _PF_STRIDE = 2
    PF_AHEAD = 4        # rows a strided block asks the host to fetch ahead of the lookups

REPLACEMENTS = ("lru", "fifo", "random")
PREFETCHERS = ("none", "next_line", "stride")
SAMPLE_SELECTS = ("hash", "low")


cdef uint8_t _POP8[256]
cdef int _pi
for _pi in range(256):
    _POP8[_pi] = <uint8_t>bin(_pi).count("1")


cdef inline int _popcount(uint64_t x) noexcept nogil:
    # every caller counts sector bits (at most 8 sectors per line: one byte), so a 256-entry
    # table does it in one load (without -mpopcnt, __builtin_popcountll is a libgcc call)
    return _POP8[x & 0xFF]


cdef inline uint64_t _mix(uint64_t x) noexcept nogil:
    x ^= x >> 31
    x *= 0x9E3779B97F4A7C15ULL
    x ^= x >> 29
    return x


cdef struct GemmUnit:
    long long m0, n0, rows, cols, sp, abase, bbase, cbase
    int side


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
                  bint hash_index=True, long long seed=0, long long sample=1,
                  long long partitions=1, index_shifts=(11, 23), str sample_select="hash",
                  long long slices=1):
        cdef long long sec = line if sector is None else int(sector)
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
        self.partitions = partitions
        self.slices = slices
        self._slice_acc_a = np.zeros(partitions * slices, np.int64)
        self._slice_fetch_a = np.zeros(partitions * slices, np.int64)
        self.sh1, self.sh2 = sh
        self.sample_select = sample_select
        self.sample_low = sample_select == "low"
        self.sample_bits = _log2(sample, "sample")
        self.size, self.line, self.sector, self.ways = size, line, sec, ways
        self.sectors_per_line = line // sec
        self.full_mask = (<uint64_t>0xFFFFFFFFFFFFFFFF) >> (64 - self.sectors_per_line)
        self.sample = sample
        self.sample_mask = <uint64_t>(sample - 1)
        self.nsets = size // (line * ways) // sample
        self.pset = self.nsets // partitions
        self.pow2 = (self.pset & (self.pset - 1)) == 0
        self.set_mask = <uint64_t>(self.pset - 1)
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
        self._valid_a = np.zeros(n, np.uint8)
        self._dirty_a = np.zeros(n, np.uint8)
        self._stamp_a = np.zeros(n, np.uint64)
        self._pfb_a = np.zeros(n, np.uint8)
        self._fp_a = np.zeros(n + 16, np.uint8)
        self.use_fp = ways <= 16
        self.way_mask = (1u << ways) - 1u if ways < 32 else 0xFFFFFFFFu
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
        cdef uint64_t[::1] t = self._tag_a, s = self._stamp_a
        cdef uint8_t[::1] v = self._valid_a, d = self._dirty_a
        cdef uint8_t[::1] p = self._pfb_a, sc = self._st_conf_a
        cdef uint64_t[::1] stt = self._st_tag_a
        cdef int64_t[::1] stl = self._st_last_a, sts = self._st_stride_a
        self.tag, self.valid, self.dirty, self.stamp = &t[0], &v[0], &d[0], &s[0]
        cdef long long[::1] sa = self._slice_acc_a, sf = self._slice_fetch_a
        self.slice_acc, self.slice_fetch = &sa[0], &sf[0]
        self.pfb = &p[0]
        cdef uint8_t[::1] fpa = self._fp_a
        self.fp = &fpa[0]
        self.st_tag, self.st_last, self.st_stride, self.st_conf = &stt[0], &stl[0], &sts[0], &sc[0]

    # ------------------------------------------------------------------ the line-level core

    cdef long long set_of(self, uint64_t L) noexcept nogil:
        """A line's set within its partition (the only one unless `partitions` > 1)."""
        cdef uint64_t h = L
        if self.sample_low:
            h = L >> self.sample_bits
        if self.hash_index:
            h = h ^ (h >> self.sh1) ^ (h >> self.sh2)
        if self.pow2:
            return <long long>(h & self.set_mask)
        return <long long>(h % <uint64_t>self.pset)

    cdef inline long long _pbase(self, uint64_t L, int part) noexcept nogil:
        return (<long long>part * self.pset + self.set_of(L)) * self.ways

    cdef inline long long _slice(self, uint64_t L, int part) noexcept nogil:
        """The slice of partition `part` that serves line L: an XOR-fold of the (sampled) line
        address, so aligned runs of consecutive lines visit every slice once and a
        power-of-two stride still spreads."""
        cdef uint64_t k = L >> self.sample_bits if self.sample_low else L
        k = k ^ (k >> 2) ^ (k >> 5) ^ (k >> 9)
        if (self.slices & (self.slices - 1)) == 0:   # a mask, not a division, per line
            return <long long>part * self.slices + <long long>(k & <uint64_t>(self.slices - 1))
        return <long long>part * self.slices + <long long>(k % <uint64_t>self.slices)

    cdef inline int _home(self, uint64_t L) noexcept nogil:
        """A line's home partition: a hash of its (sampled) line address."""
        if self.partitions == 1:
            return 0
        if self.sample_low:
            L = L >> self.sample_bits
        if (self.partitions & (self.partitions - 1)) == 0:
            return <int>(_mix(L) & <uint64_t>(self.partitions - 1))
        return <int>(_mix(L) % <uint64_t>self.partitions)

    cdef inline void _pf_set(self, long long base) noexcept nogil:
        archsim_prefetch(self.fp + base)
        archsim_prefetch(self.valid + base)
        archsim_prefetch(self.tag + base)
        archsim_prefetch(self.tag + base + self.ways - 1)
        archsim_prefetch(self.stamp + base)
        archsim_prefetch(self.stamp + base + self.ways - 1)

    cdef inline void _pf_line(self, uint64_t L, int side) noexcept nogil:
        """Ask the host for the state of the set(s) line L will touch (no state change: the
        lookups that follow find it in the host's cache instead of waiting for memory)."""
        cdef long long s = self.set_of(L)
        cdef int home
        if self.partitions == 1:
            self._pf_set(s * self.ways)
            return
        self._pf_set((side * self.pset + s) * self.ways)
        home = self._home(L)
        if home != side:
            self._pf_set((home * self.pset + s) * self.ways)

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
        cdef unsigned int m
        if self.use_fp:
            # candidates: ways whose fingerprint byte matches, in way order (the first match
            # of the plain scan below)
            m = archsim_fp_match(self.fp + base, _fpv(key)) & self.way_mask
            while m:
                w = archsim_ctz(m)
                if t[w] == key:
                    return base + w
                m &= m - 1
            return -1
        for w in range(self.ways):
            if t[w] == key:
                return base + w
        return -1

    cdef inline void _settag(self, long long w, uint64_t key) noexcept nogil:
        """Set way w's tag (line address + 1, or 0: empty) and its fingerprint."""
        self.tag[w] = key
        self.fp[w] = _fpv(key) if key else 0

    cdef void _refp(self):
        """Fingerprints from the tags (after a state is loaded)."""
        cdef long long i, n = self.nsets * self.ways
        for i in range(n):
            self.fp[i] = _fpv(self.tag[i]) if self.tag[i] else 0

    cdef long long _victim(self, long long base) noexcept nogil:
        """Free a way of the set at `base` (an invalid one first), writing back a dirty victim."""
        # empty ways have stamp 0 and valid lines stamps >= 1, so the first minimum is the
        # first empty way when there is one, else the least recently used (or filled) line
        cdef long long w, v = 0
        cdef uint64_t best, x
        cdef unsigned int e
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
            if self.use_fp:
                # an empty way (fingerprint 0; its stamp is 0 and every filled way's is >= 1)
                # is the first minimum
                e = archsim_fp_match(self.fp + base, 0) & self.way_mask
                if e:
                    return base + archsim_ctz(e)
                # the set is full: the first minimum, without the early exit below (a stamp
                # of 0 would be the first minimum anyway), by conditional moves instead of
                # hard-to-predict branches
                best = s[0]
                for w in range(1, self.ways):
                    x = s[w]
                    v = w if x < best else v
                    best = x if x < best else best
            else:
                best = s[0]
                if best == 0:
                    return base
                for w in range(1, self.ways):
                    if s[w] < best:
                        best = s[w]
                        v = w
                        if best == 0:       # the first empty way: nothing can be smaller
                            return base + v
        v += base
        self.evictions += 1
        if self.dirty[v]:
            self.writebacks += _popcount(self.dirty[v])
            self._rec(True, self.tag[v] - 1, self.dirty[v])
        if self.pf != _PF_NONE:    # without a prefetcher pfb stays 0: leave its line alone
            if self.pfb[v]:
                self.pf_useless += 1
            self.pfb[v] = 0
        self._settag(v, 0)
        self.valid[v] = 0
        self.dirty[v] = 0
        self.stamp[v] = 0
        return v

    cdef void _fill_prefetch(self, int64_t P) noexcept nogil:
        cdef long long base, w
        if P < 0 or (self.sample_mask and not self._sampled(<uint64_t>P)):
            return
        base = self.set_of(<uint64_t>P) * self.ways
        if self._find(base, <uint64_t>P) >= 0:
            return
        w = self._victim(base)
        self._settag(w, <uint64_t>P + 1)
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
        if w >= 0 and self.has_parent and \
                self.parent._find(self.parent.set_of(L) * self.parent.ways, L) < 0:
            # inclusion, enforced lazily: the parent evicted this line, so this copy is gone
            self.back_invalidations += 1
            if self.dirty[w]:
                self.writebacks += _popcount(self.dirty[w])
                self._rec(True, L, self.dirty[w])
            if self.pfb[w]:
                self.pf_useless += 1
            self._settag(w, 0)
            self.valid[w] = 0
            self.dirty[w] = 0
            self.pfb[w] = 0
            self.stamp[w] = 0
            w = -1
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
            was_pf = self.pf != _PF_NONE and self.pfb[w]
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
        self._settag(w, L + 1)
        self.valid[w] = m
        if self.pf != _PF_NONE:
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

    cdef int _touch_side(self, uint64_t L, uint64_t m, bint write, int side) noexcept nogil:
        """One access to sectors `m` of line L from the SMs (or cores) attached to partition
        `side`, in a partitioned cache (README: partitions). The home partition (an address
        hash) holds the dirty data and fetches from below; a read goes through the near
        partition, which keeps its own clean replica of a far-homed line, so data read from
        both sides occupies two lines of capacity. Writes go to the home copy (dirty, without
        fetch); a near replica, if any, is updated. One LRU clock tick per access."""
        cdef int home
        cdef int n = _popcount(m), nm
        # the set index is the same in every partition: worked out once
        cdef long long st = self.set_of(L), ways = self.ways, pset = self.pset
        cdef long long nb, hb, w, hw
        cdef uint64_t miss, v
        self.accesses += n
        self.clock += 1
        if write:
            home = self._home(L)
            self.write_accesses += n
            hb = (home * pset + st) * ways
            hw = self._find(hb, L)
            if hw < 0:
                hw = self._victim(hb)
                self._settag(hw, L + 1)
            nm = _popcount(m & ~self.valid[hw])
            self.misses += nm
            self.hits += n - nm
            self.valid[hw] |= m
            self.dirty[hw] |= m
            self.stamp[hw] = self.clock
            if side != home:
                w = self._find((side * pset + st) * ways, L)
                if w >= 0:
                    self.valid[w] |= m
                    self.stamp[w] = self.clock
            return home
        nb = (side * pset + st) * ways
        w = self._find(nb, L)
        if w >= 0 and (self.valid[w] & m) == m:
            self.hits += n
            self.stamp[w] = self.clock
            return side
        home = self._home(L)    # only needed past a full near hit
        if side == home:
            if w < 0:
                w = self._victim(nb)
                self._settag(w, L + 1)
            miss = m & ~self.valid[w]
            nm = _popcount(miss)
            self.hits += n - nm
            self.misses += nm
            if nm:
                self.fetches += nm
                self._rec(False, L, miss)
            self.valid[w] |= m
            self.stamp[w] = self.clock
            return side
        # far home: look there (a partition-to-partition transfer on a hit), fill it on a miss
        hb = (home * pset + st) * ways
        hw = self._find(hb, L)
        if hw < 0:
            hw = self._victim(hb)
            self._settag(hw, L + 1)
        v = self.valid[hw]
        miss = m & ~v
        nm = _popcount(miss)
        self.hits += n - nm
        self.far_hits += n - nm
        self.misses += nm
        if nm:
            self.fetches += nm
            self._rec(False, L, miss)
        self.valid[hw] = v | m
        self.stamp[hw] = self.clock
        if w < 0:
            w = self._victim(nb)
            self._settag(w, L + 1)
        self.valid[w] |= m
        self.stamp[w] = self.clock
        return side

    cdef int _tick(self) noexcept nogil:
        self.since_check += 1
        if self.since_check >= CHECK_EVERY:
            self.since_check = 0
            with gil:
                if PyErr_CheckSignals_raw() != 0:
                    return -1
        return 0

    cdef int c_range(self, long long addr, long long nbytes, bint write, int side=0) noexcept nogil:
        """Access the bytes [addr, addr + nbytes), line by line (from partition `side`)."""
        cdef long long end, L, last, lo, hi, lbase, step = 1, f0, sl
        cdef int s0, s1
        cdef uint64_t m
        cdef bint skip = self.sample_mask and not self.sample_low
        if nbytes <= 0:
            return 0
        end = addr + nbytes
        L = addr >> self.line_bits
        last = (end - 1) >> self.line_bits
        if self.sample_low and self.sample_mask:    # only lines L % S == 0: step over the rest
            L = ((L + self.sample - 1) >> self.sample_bits) << self.sample_bits
            step = self.sample
        # the host fetches the state of the lines two ahead while this one is looked up (the
        # first line's lookup follows at once: a caller walking rows asks for it earlier)
        if not skip and L + step <= last:
            self._pf_line(<uint64_t>(L + step), side)
        while L <= last:
            if skip and not self._sampled(<uint64_t>L):
                L += 1
                continue
            if not skip and L + 2 * step <= last:
                self._pf_line(<uint64_t>(L + 2 * step), side)
            lbase = L << self.line_bits
            lo = lbase if lbase > addr else addr
            hi = lbase + self.line if lbase + self.line < end else end
            s0 = <int>((lo - lbase) >> self.sector_bits)
            s1 = <int>((hi - 1 - lbase) >> self.sector_bits)
            m = (self.full_mask >> (self.sectors_per_line - 1 - s1 + s0)) << s0
            f0 = self.fetches
            if self.partitions > 1:
                # the slice that served it: of the near partition for a read, the home for a write
                sl = self._slice(<uint64_t>L, self._touch_side(<uint64_t>L, m, write, side))
                self.slice_acc[sl] += _popcount(m)
                self.slice_fetch[sl] += self.fetches - f0
            else:
                self._touch(<uint64_t>L, m, write)
                if self.slices > 1:
                    sl = self._slice(<uint64_t>L, 0)
                    self.slice_acc[sl] += _popcount(m)
                    self.slice_fetch[sl] += self.fetches - f0
            if self._tick() < 0:
                return -1
            L += step
        return 0

    cdef inline bint _sampled(self, uint64_t L) noexcept nogil:
        # default: a multiply-shift hash, unbiased against strides (a power-of-two stride
        # would hit every sampled line or none under L % S); "low": L % S == 0, which lets a
        # strided tile skip whole rows (c_block) and is what the GPU L2 uses
        if self.sample_low:
            return (L & self.sample_mask) == 0
        return (((L * <uint64_t>0x9E3779B97F4A7C15ULL) >> 40) & self.sample_mask) == 0

    cdef int c_strided(self, long long addr, long long seg, long long stride, long long count,
                       bint write, long long passes=1) noexcept nogil:
        cdef long long i, r
        if passes == 1:
            return self.c_block(addr, seg, stride, count, write, 0)
        for i in range(count):
            for r in range(passes):
                if self.c_range(addr + i * stride, seg, write) < 0:
                    return -1
        return 0

    cdef int c_block(self, long long addr, long long seg, long long stride, long long count,
                     bint write, int side) noexcept nogil:
        """`count` segments of `seg` bytes, `stride` apart (rows of a tile of a row-major matrix)
        from partition `side`. Under "low" sampling a row holding no sampled line is skipped
        without a call, and a block whose stride is a multiple of S lines and whose first row
        holds none is skipped whole (every row has the same sampled lines)."""
        cdef long long i, L0, L1
        if count <= 0 or seg <= 0:
            return 0
        if self.sample_low and self.sample_mask:
            # (a power of two: the low bits, not a division; the same test for any sign)
            if (stride & ((self.line << self.sample_bits) - 1)) == 0:
                L0 = addr >> self.line_bits
                L1 = (addr + seg - 1) >> self.line_bits
                if (((L0 + self.sample - 1) >> self.sample_bits) << self.sample_bits) > L1:
                    return 0
            if seg < (self.line << self.sample_bits):
                if stride > 0 and (stride & (self.line - 1)) == 0 and self.sample <= 64:
                    return self._block_sampled(addr, seg, stride, count, write, side)
                for i in range(count):
                    L0 = (addr + i * stride) >> self.line_bits
                    L1 = (addr + i * stride + seg - 1) >> self.line_bits
                    if (((L0 + self.sample - 1) >> self.sample_bits) << self.sample_bits) <= L1:
                        if self.c_range(addr + i * stride, seg, write, side) < 0:
                            return -1
                return 0
        for i in range(count):
            if self.c_range(addr + i * stride, seg, write, side) < 0:
                return -1
        return 0

    cdef inline void _pf_row(self, long long r, long long count, long long addr, long long stride,
                             int side) noexcept nogil:
        """Ask the host for the state of row r's first sampled line (rows past `count`: none)."""
        cdef long long Ln
        if r < count:
            Ln = (addr + r * stride) >> self.line_bits
            self._pf_line(<uint64_t>(((Ln + self.sample - 1) >> self.sample_bits) << self.sample_bits),
                          side)

    cdef int _block_sampled(self, long long addr, long long seg, long long stride,
                            long long count, bint write, int side) noexcept nogil:
        """c_block for short segments under "low" sampling, rows a whole number of lines apart:
        row i starts at line L0 + i*d at the same offset in its line, so whether it holds a
        sampled line (a multiple of S among its `nl` lines) repeats with period
        P = S / gcd(d, S). The qualifying rows of one period are found once; rows are then
        visited in increasing order, as the plain loop does (same accesses, same order),
        without stepping through the rows that hold none."""
        cdef long long S = self.sample, d, L0, nl, P, a, b, t, i, base, nxt, pb
        cdef int pj
        cdef long long q[64]
        cdef int nq = 0, j
        L0 = addr >> self.line_bits
        nl = (((addr & (self.line - 1)) + seg - 1) >> self.line_bits) + 1
        d = (stride >> self.line_bits) & (S - 1)       # S is a power of two, stride > 0
        a, b = d, S
        while b:
            t = a % b
            a = b
            b = t
        P = S // (a if a else S)
        for i in range(P if P < count else count):
            if (S - ((L0 + i * d) & (S - 1))) & (S - 1) < nl:
                q[nq] = i
                nq += 1
        if not nq:
            return 0
        # rows in increasing order: base + q[j] for base = 0, P, 2P, ...; a second walk of the
        # same sequence (pb, pj) runs PF_AHEAD rows ahead and asks the host for the state of
        # its row's first sampled line, so the lookups find it in the host's cache
        base = 0
        j = 0
        pb = 0
        pj = 0
        for t in range(PF_AHEAD):
            pj += 1
            if pj == nq:
                pj = 0
                pb += P
            self._pf_row(pb + q[pj], count, addr, stride, side)
        i = q[0]
        while i < count:
            j += 1
            if j == nq:
                j = 0
                base += P
            nxt = base + q[j]
            pj += 1
            if pj == nq:
                pj = 0
                pb += P
            self._pf_row(pb + q[pj], count, addr, stride, side)
            if self.c_range(addr + i * stride, seg, write, side) < 0:
                return -1
            i = nxt
        return 0

    cdef long long c_invalidate(self, long long addr, long long nbytes) noexcept nogil:
        cdef long long L, last, w, n = 0
        cdef int p
        if nbytes <= 0:
            return 0
        L = addr >> self.line_bits
        last = (addr + nbytes - 1) >> self.line_bits
        while L <= last:
            if self.sample_mask and not self._sampled(<uint64_t>L):
                L += 1
                continue
            for p in range(self.partitions):
                w = self._find(self._pbase(<uint64_t>L, p), <uint64_t>L)
                if w >= 0:
                    n += _popcount(self.dirty[w])
                    self._settag(w, 0)
                    self.valid[w] = 0
                    self.dirty[w] = 0
                    self.pfb[w] = 0
                    self.stamp[w] = 0
            L += 1
        return n

    # ------------------------------------------------------------------ the Python API

    cdef tuple _delta(self, long long h, long long m, long long wb):
        return (self.hits - h, self.misses - m, self.writebacks - wb)

    def access(self, long long addr, long long nbytes, bint write=False, *, long long side=0):
        """Access [addr, addr + nbytes) line by line (from partition `side` mod partitions)
        -> (hits, misses, write-backs) in sectors."""
        if addr < 0 or nbytes < 0:
            raise ValueError(f"addr and nbytes must be >= 0, got {addr}, {nbytes}")
        cdef long long h = self.hits, m = self.misses, wb = self.writebacks
        cdef int rc
        cdef int sd = <int>(side % self.partitions)
        with nogil:
            rc = self.c_range(addr, nbytes, write, sd)
        if rc < 0:
            _propagate()
        self._check_oom()
        return self._delta(h, m, wb)

    def invalidate(self, long long addr, long long nbytes):
        """Drop the lines overlapping [addr, addr + nbytes) without writing them back (a
        non-temporal store overwrites them) -> dirty sectors dropped."""
        return self.c_invalidate(addr, nbytes)

    def access_strided(self, long long addr, long long seg_bytes, long long stride,
                       long long count, bint write=False, long long passes=1, *,
                       long long side=0):
        """`count` segments of `seg_bytes` bytes, `stride` apart (rows of a tile of a row-major
        matrix), each accessed `passes` times before the next -> (hits, misses, write-backs)
        in sectors."""
        if addr < 0 or seg_bytes < 0 or count < 0 or (count > 1 and addr + (count - 1) * stride < 0):
            raise ValueError("strided access reaches below address 0")
        cdef long long h = self.hits, m = self.misses, wb = self.writebacks
        cdef int rc
        cdef int sd = <int>(side % self.partitions)
        with nogil:
            if passes == 1:
                rc = self.c_block(addr, seg_bytes, stride, count, write, sd)
            else:
                rc = self.c_strided(addr, seg_bytes, stride, count, write, passes)
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

    # ------------------------------------------------ bulk access streams (the GPU replay's)

    def access_units(self, long long addr, long long nbytes, long long u0, long long u1,
                     long long units, bint write=False):
        """Slices [u0, u1) of the range [addr, addr + nbytes) split evenly over `units` CTAs,
        slice u from partition u mod partitions (a streaming kernel's CTAs side by side)."""
        cdef long long u, lo, hi, q, r, dq, dr
        cdef int rc = 0, side
        if u1 <= u0 or units <= 0:
            return
        # slice u is [nbytes*u // units, nbytes*(u+1) // units): quotient and remainder
        # stepped by nbytes per unit instead of two divisions per unit (same bounds)
        q, r = divmod(nbytes * u0, units)
        dq, dr = divmod(nbytes, units)
        side = <int>(u0 % self.partitions)
        with nogil:
            for u in range(u0, u1):
                lo = q
                q += dq
                r += dr
                if r >= units:
                    q += 1
                    r -= units
                hi = q
                if hi > lo:
                    rc = self.c_range(addr + lo, hi - lo, write, side)
                    if rc < 0:
                        break
                side += 1
                if side == self.partitions:
                    side = 0
        if rc < 0:
            _propagate()
        self._check_oom()

    def gemm_chunk(self, long long a_base, long long b_base, long long c_base,
                   long long M, long long N, long long K, long long esize, long long c_esize,
                   long long tm, long long tn, long long tk, long long split,
                   long long batch, long long group_m,
                   long long u0, long long u1, long long s0, long long s1,
                   long long a_ld=0, bint b_trans=False):
        """Tile loads of GEMM work units [u0, u1) for K-steps [s0, s1) of each unit.

        A is row-major [batch, M, K], B row-major [batch, K, N], C row-major [batch, M, N]
        (c_esize bytes per element: 4 for a split-K fp32 workspace). Units are ordered batch,
        split, then a grouped raster over (m, n) tiles: `group_m` m-tiles per band.
        Steps run outer, units inner: the interleaving of CTAs running side by side; unit u
        reads through partition u mod partitions. A unit writes its C tile after its last
        K-step. `a_ld` != K makes A an implicit-GEMM view [M, a_ld] re-read every a_ld/tk
        steps (NHWC convolution: the same input pixels for every filter tap); `b_trans` stores
        B as [N, K] (k contiguous: conv filters)."""
        if a_ld <= 0:
            a_ld = K
        cdef long long mt = (M + tm - 1) // tm, nt = (N + tn - 1) // tn
        cdef long long per_batch = mt * nt * split
        cdef long long ksteps_total = (K + tk - 1) // tk
        cdef long long ksteps = (ksteps_total + split - 1) // split
        cdef long long s, u, r, b, sp, t, band, in_band, bw, mi, ni, k0, kk, rows, cols, m0, n0
        cdef long long abase_b, bbase_b, cbase_b, kglob, nu = u1 - u0, j
        cdef int side, rc = 0
        if nu <= 0 or s1 <= s0:
            return
        # each unit's tile (m0, n0, rows, cols), split and side, decoded once per call rather
        # than once per K-step (the same integer arithmetic)
        cdef GemmUnit* g = <GemmUnit*>malloc(nu * sizeof(GemmUnit))
        if not g:
            raise MemoryError()
        for j in range(nu):
            u = u0 + j
            b = u // per_batch
            r = u - b * per_batch
            sp = r // (mt * nt)
            t = r - sp * (mt * nt)
            band = t // (group_m * nt)
            in_band = t - band * group_m * nt
            bw = mt - band * group_m
            if bw > group_m:
                bw = group_m
            mi = band * group_m + in_band % bw
            ni = in_band // bw
            m0 = mi * tm
            n0 = ni * tn
            g[j].m0 = m0
            g[j].n0 = n0
            g[j].rows = tm if m0 + tm <= M else M - m0
            g[j].cols = tn if n0 + tn <= N else N - n0
            g[j].sp = sp
            g[j].side = <int>(u % self.partitions)
            g[j].abase = a_base + b * M * a_ld * esize
            g[j].bbase = b_base + b * K * N * esize
            g[j].cbase = c_base + (b * split + sp) * M * N * c_esize
        with nogil:
            for s in range(s0, s1):
                for j in range(nu):
                    m0 = g[j].m0
                    n0 = g[j].n0
                    rows = g[j].rows
                    cols = g[j].cols
                    kglob = g[j].sp * ksteps + s
                    side = g[j].side
                    abase_b = g[j].abase
                    bbase_b = g[j].bbase
                    cbase_b = g[j].cbase
                    if kglob < ksteps_total and s < ksteps:
                        k0 = kglob * tk
                        kk = tk if k0 + tk <= K else K - k0
                        rc = self.c_block(abase_b + (m0 * a_ld + (k0 % a_ld)) * esize, kk * esize,
                                          a_ld * esize, rows, 0, side)
                        if rc < 0:
                            break
                        if b_trans:
                            rc = self.c_block(bbase_b + (n0 * K + k0) * esize, kk * esize,
                                              K * esize, cols, 0, side)
                        else:
                            rc = self.c_block(bbase_b + (k0 * N + n0) * esize, cols * esize,
                                              N * esize, kk, 0, side)
                        if rc < 0:
                            break
                    if s == ksteps - 1:
                        rc = self.c_block(cbase_b + (m0 * N + n0) * c_esize, cols * c_esize,
                                          N * c_esize, rows, 1, side)
                        if rc < 0:
                            break
                if rc < 0:
                    break
        free(g)
        if rc < 0:
            _propagate()
        self._check_oom()

    def rows_chunk(self, long long table_base, long long row_bytes, long long table_rows,
                   long long i0, long long i1, long long seed):
        """Rows at pseudo-random indices i0..i1 (uniform over the table, fixed by seed); row i
        read from partition i mod partitions (an embedding gather)."""
        cdef long long i, row
        cdef uint64_t h
        cdef uint64_t mulc = 2654435761
        cdef uint64_t salt = <uint64_t>(seed * 97 + 12345)
        cdef int rc = 0
        with nogil:
            for i in range(i0, i1):
                h = _mix(<uint64_t>i * mulc + salt)
                row = <long long>(h % <uint64_t>table_rows)
                rc = self.c_range(table_base + row * row_bytes, row_bytes, 0,
                                  <int>(i % self.partitions))
                if rc < 0:
                    break
        if rc < 0:
            _propagate()
        self._check_oom()

    def slice_counts(self):
        """(sectors accessed, sectors fetched) per slice, as int64 arrays of partitions x
        slices (slice s of partition p at p * slices + s); counted when slices or
        partitions > 1."""
        return self._slice_acc_a.copy(), self._slice_fetch_a.copy()

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

    def set_parent(self, parent):
        """Make this cache inclusive in `parent` (same line size): a line the parent no longer
        holds is treated as absent here (lazy back-invalidation, checked on each hit).
        None removes the link."""
        if parent is None:
            self.parent = None
            self.has_parent = False
            return
        if not isinstance(parent, Cache) or parent.line != self.line or parent.sample != self.sample:
            raise ValueError("parent must be a Cache with the same line size and sampling")
        self.parent = parent
        self.has_parent = True

    def set_index(self, long long line_addr):
        """The set a line address maps to (for reference models and tests)."""
        return self.set_of(<uint64_t>line_addr)

    def contains(self, long long addr):
        """Whether the sector holding byte `addr` is valid (no state change)."""
        cdef uint64_t L = <uint64_t>(addr >> self.line_bits)
        cdef long long w = self._find(self._pbase(L, self._home(L)), L)
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
            self._settag(i, 0)
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
                "pf_useless", "pf_fetches", "back_invalidations", "far_hits")

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
        self._slice_acc_a[:] = 0
        self._slice_fetch_a[:] = 0

    def get_state(self):
        """The whole state as plain data (numpy arrays and ints): a checkpoint."""
        return {"tag": self._tag_a.copy(), "valid": self._valid_a.copy(),
                "dirty": self._dirty_a.copy(), "stamp": self._stamp_a.copy(),
                "pfb": self._pfb_a.copy(), "st_tag": self._st_tag_a.copy(),
                "st_last": self._st_last_a.copy(), "st_stride": self._st_stride_a.copy(),
                "st_conf": self._st_conf_a.copy(), "clock": int(self.clock), "rng": int(self.rng),
                "slice_acc": self._slice_acc_a.copy(), "slice_fetch": self._slice_fetch_a.copy(),
                "counters": {k: getattr(self, k) for k in self.COUNTERS},
                "geometry": self.geometry()}

    def set_state(self, state):
        """Restore a state from get_state() (of this cache or its Python twin)."""
        if dict(state["geometry"]) != self.geometry():
            raise ValueError(f"state of a cache {dict(state['geometry'])} does not fit {self.geometry()}")
        arrays = {"tag": self._tag_a, "valid": self._valid_a, "dirty": self._dirty_a,
                  "stamp": self._stamp_a, "pfb": self._pfb_a, "st_tag": self._st_tag_a,
                  "st_last": self._st_last_a, "st_stride": self._st_stride_a,
                  "st_conf": self._st_conf_a, "slice_acc": self._slice_acc_a,
                  "slice_fetch": self._slice_fetch_a}
        for name, arr in arrays.items():
            arr[:] = np.asarray(state[name], dtype=arr.dtype)
        self._refp()
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
                "stride_entries": self.stride_entries, "hash_index": bool(self.hash_index),
                "sample": self.sample, "partitions": self.partitions,
                "index_shifts": [self.sh1, self.sh2], "sample_select": self.sample_select,
                "slices": self.slices}

    def __repr__(self):
        return (f"Cache({self.size} B, {self.line} B lines, {self.ways} ways, {self.nsets} sets, "
                f"{self.replacement}, prefetch={self.prefetch})")
