# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True, initializedcheck=False
"""The L2 cache and the address-stream generators that feed it (the simulator's hot loop).

L2Cache is set-associative with true LRU per set, 128-B lines of 32-B sectors, write-back and
write-allocate without fetch for written sectors. Lines map to sets by an XOR-folded index
(like the hashed set index of real GPUs, which spreads power-of-two strides over the sets; it
keeps consecutive lines in consecutive sets, which also keeps the host's caches warm).

Address sampling: with `sample` = S > 1 only lines whose index L has L % S == 0 are simulated,
in a cache of 1/S of the capacity (same associativity); byte counts are scaled back by S. Every
simulated line sees exactly its real sequence of accesses, and competes with 1/S of the other
lines for 1/S of the space, so hit rates are exact in expectation (the argument of set
sampling, Kessler et al. 1994). The generators skip unsampled lines without touching the cache,
which is what makes an 8192^3 GEMM's 95 M line accesses affordable. run_program picks S = 1
for small programs, where sampling noise would show.
"""
from libc.stdlib cimport calloc, free
from libc.string cimport memcpy
from libc.stdint cimport uint64_t, uint32_t, uint8_t, int64_t

cdef struct Way:
    uint64_t tag
    uint32_t stamp
    uint8_t valid      # sector-valid bits
    uint8_t dirty      # sector-dirty bits


cdef inline uint64_t _mix(uint64_t x) noexcept nogil:
    x ^= x >> 31
    x *= 0x9E3779B97F4A7C15ULL
    x ^= x >> 29
    return x


cdef class L2Cache:
    cdef readonly long long nsets, ways, line, sector, sample, partitions
    cdef int sectors_per_line, sample_bits, line_bits, sector_bits
    cdef uint64_t total_sets, set_mask
    cdef Way* ways_
    cdef uint32_t clock
    # counters (simulated, i.e. unscaled, in sectors)
    cdef public long long req_sectors, hit_sectors, miss_sectors, wb_sectors, write_sectors
    cdef public long long flush_wb_sectors, far_sectors
    cdef long long sets_per_part
    cdef uint64_t part_mask

    def __cinit__(self, long long size, long long line, long long sector, long long ways,
                  long long partitions=1, long long sample=1):
        # power-of-two set count (shift-and-mask indexing, no division in the hot loop); the
        # associativity absorbs the rest so the capacity is exact: 60 MiB of 128-B lines at
        # 16 ways is 30720 sets -> 32768 sets x 15 ways
        cdef long long lines = size // line
        cdef long long sets = 1
        while sets * 2 * ways <= lines:
            sets *= 2
        if lines % (sets * 2) == 0 and abs(lines // (sets * 2) - ways) <= abs(lines // sets - ways):
            sets *= 2
        if sets > lines:
            sets = lines if lines > 0 else 1
        ways = max(1, lines // sets)
        self.sample = sample if sample >= 1 else 1
        self.sample_bits = 0
        while (1 << self.sample_bits) < self.sample and (sets >> (self.sample_bits + 1)) >= 1:
            self.sample_bits += 1
        self.sample = 1 << self.sample_bits
        self.total_sets = <uint64_t>sets
        self.nsets = sets >> self.sample_bits
        self.set_mask = <uint64_t>(self.nsets - 1)
        if partitions < 1:
            partitions = 1
        while partitions > 1 and self.nsets % partitions:
            partitions -= 1
        self.sets_per_part = self.nsets // partitions
        self.part_mask = <uint64_t>(self.sets_per_part - 1)
        self.ways = ways
        self.line = line
        self.sector = sector
        self.partitions = partitions
        if self.sets_per_part & (self.sets_per_part - 1):
            raise ValueError("L2 sets per partition must be a power of two")
        self.line_bits = 0
        while (1 << self.line_bits) < line:
            self.line_bits += 1
        self.sector_bits = 0
        while (1 << self.sector_bits) < sector:
            self.sector_bits += 1
        self.sectors_per_line = <int>(line // sector)
        cdef long long n = self.nsets * ways
        self.ways_ = <Way*>calloc(n, sizeof(Way))
        if not self.ways_:
            raise MemoryError()
        self.clock = 1

    def __dealloc__(self):
        free(self.ways_)

    def reset_counters(self):
        self.req_sectors = 0; self.hit_sectors = 0; self.miss_sectors = 0
        self.wb_sectors = 0; self.write_sectors = 0; self.flush_wb_sectors = 0
        self.far_sectors = 0

    def counters(self):
        """Counters in bytes, scaled back to the whole cache."""
        cdef long long k = self.sector * self.sample
        return {"requested": self.req_sectors * k, "hit": self.hit_sectors * k,
                "miss": self.miss_sectors * k, "writeback": self.wb_sectors * k,
                "write": self.write_sectors * k, "flush_writeback": self.flush_wb_sectors * k,
                "far_hit": self.far_sectors * k}

    cdef inline Way* _set(self, uint64_t lineaddr, int part) noexcept nogil:
        cdef uint64_t key = lineaddr >> self.sample_bits
        cdef uint64_t h = (key ^ (key >> 13) ^ (key >> 26)) & self.part_mask
        return self.ways_ + (<long long>part * self.sets_per_part + <long long>h) * self.ways

    cdef inline int _home(self, uint64_t lineaddr) noexcept nogil:
        cdef uint64_t key = lineaddr >> self.sample_bits
        if self.partitions == 1:
            return 0
        return <int>(_mix(key) % <uint64_t>self.partitions)

    cdef inline int _find(self, Way* st, uint64_t lineaddr) noexcept nogil:
        cdef int w
        for w in range(self.ways):
            if st[w].valid and st[w].tag == lineaddr:
                return w
        return -1

    cdef inline int _victim(self, Way* st) noexcept nogil:
        """An invalid way, else the least recently used one; writes back a dirty victim."""
        cdef int w, victim = 0
        cdef uint32_t oldest = 0xFFFFFFFF
        for w in range(self.ways):
            if not st[w].valid:
                return w
            if st[w].stamp < oldest:
                oldest = st[w].stamp
                victim = w
        if st[victim].dirty:
            self.wb_sectors += _popcount(st[victim].dirty)
        st[victim].valid = 0
        st[victim].dirty = 0
        return victim

    cdef inline void _touch(self, uint64_t lineaddr, uint8_t smask, bint write, int side) noexcept nogil:
        """One access to sectors `smask` of one line from SMs attached to partition `side`.

        The home partition (an address hash) is the point of coherence: it holds the dirty
        data and fetches from DRAM. An SM reads through its near partition, which keeps its own
        copy of lines homed in the other one (as on A100/H100: each partition caches data for
        the GPCs attached to it), so data shared by both sides occupies two lines of capacity.
        Writes go to the home copy (dirty); the near copy, if any, stays clean.
        """
        cdef int home = self._home(lineaddr)
        cdef int nsec = _popcount(smask)
        cdef Way* near
        cdef Way* hs
        cdef int w, hw
        cdef uint8_t miss, v
        self.req_sectors += nsec
        self.clock += 1
        if write:
            self.write_sectors += nsec
            self.hit_sectors += nsec        # write-allocate without fetch: no DRAM read
            hs = self._set(lineaddr, home)
            hw = self._find(hs, lineaddr)
            if hw < 0:
                hw = self._victim(hs)
                hs[hw].tag = lineaddr
                hs[hw].valid = 0
            hs[hw].valid |= smask
            hs[hw].dirty |= smask
            hs[hw].stamp = self.clock
            if side != home and self.partitions > 1:
                near = self._set(lineaddr, side)
                w = self._find(near, lineaddr)
                if w >= 0:
                    near[w].valid |= smask
                    near[w].stamp = self.clock
            return
        near = self._set(lineaddr, side if self.partitions > 1 else 0)
        w = self._find(near, lineaddr)
        if w >= 0 and (near[w].valid & smask) == smask:
            self.hit_sectors += nsec
            near[w].stamp = self.clock
            return
        if side == home or self.partitions == 1:
            # the near partition is the home: fetch the missing sectors from DRAM
            if w < 0:
                w = self._victim(near)
                near[w].tag = lineaddr
                near[w].valid = 0
            v = near[w].valid
            miss = smask & ~v
            self.hit_sectors += nsec - _popcount(miss)
            self.miss_sectors += _popcount(miss)
            near[w].valid = v | smask
            near[w].stamp = self.clock
            return
        # far home: look there (an L2-to-L2 transfer on a hit), fill it from DRAM on a miss
        hs = self._set(lineaddr, home)
        hw = self._find(hs, lineaddr)
        if hw < 0:
            hw = self._victim(hs)
            hs[hw].tag = lineaddr
            hs[hw].valid = 0
        v = hs[hw].valid
        miss = smask & ~v
        self.hit_sectors += nsec - _popcount(miss)
        self.far_sectors += nsec - _popcount(miss)
        self.miss_sectors += _popcount(miss)
        hs[hw].valid = v | smask
        hs[hw].stamp = self.clock
        if w < 0:
            w = self._victim(near)
            near[w].tag = lineaddr
            near[w].valid = 0
            near[w].dirty = 0
        near[w].valid |= smask
        near[w].stamp = self.clock

    cdef void _range(self, long long addr, long long nbytes, bint write, int side) noexcept nogil:
        """Access the contiguous byte range [addr, addr + nbytes)."""
        cdef long long end, first, last, L, lo, hi, base
        cdef uint8_t mask
        cdef int s0, s1, lb = self.line_bits, sb = self.sector_bits
        cdef long long step = self.sample
        if nbytes <= 0:
            return
        end = addr + nbytes
        first = addr >> lb
        last = (end - 1) >> lb
        if self.sample_bits:   # address sampling: only lines L with L % S == 0
            first = ((first + self.sample - 1) >> self.sample_bits) << self.sample_bits
        L = first
        while L <= last:
            base = L << lb
            lo = base if base > addr else addr
            hi = base + self.line if base + self.line < end else end
            s0 = <int>((lo - base) >> sb)
            s1 = <int>((hi - 1 - base) >> sb)
            mask = <uint8_t>(((1 << (s1 + 1)) - 1) & ~((1 << s0) - 1))
            self._touch(<uint64_t>L, mask, write, side)
            L += step

    cdef void _block(self, long long addr, long long seg, long long stride, long long count,
                     bint write, int side) noexcept nogil:
        """`count` segments of `seg` bytes, `stride` apart (rows of a tile of a row-major matrix).

        With address sampling and a stride that is a multiple of S lines, every row has the same
        sampled lines, so a segment holding none of them skips the whole block in O(1).
        """
        cdef long long i, L0, L1
        if count <= 0 or seg <= 0:
            return
        if self.sample_bits and (stride % (self.line << self.sample_bits)) == 0:
            L0 = addr >> self.line_bits
            L1 = (addr + seg - 1) >> self.line_bits
            if (((L0 + self.sample - 1) >> self.sample_bits) << self.sample_bits) > L1:
                return
        if self.sample_bits and seg < (self.line << self.sample_bits):
            if (stride & (self.line - 1)) == 0:
                self._block_sampled(addr, seg, stride, count, write, side)
                return
            # short segments: skip rows holding no sampled line without a call
            for i in range(count):
                L0 = (addr + i * stride) >> self.line_bits
                L1 = (addr + i * stride + seg - 1) >> self.line_bits
                if (((L0 + self.sample - 1) >> self.sample_bits) << self.sample_bits) <= L1:
                    self._range(addr + i * stride, seg, write, side)
            return
        for i in range(count):
            self._range(addr + i * stride, seg, write, side)

    cdef void _block_sampled(self, long long addr, long long seg, long long stride,
                             long long count, bint write, int side) noexcept nogil:
        """`_block` for short segments under address sampling, rows a whole number of lines
        apart: row i starts at line L0 + i*d at the same offset in its line, so whether it
        holds a sampled line (L % S == 0 within its `nl` lines) repeats with period
        P = S / gcd(d, S). The qualifying rows of one period are found once and the rows are
        then visited in increasing order, as the plain loop does (same accesses, same order),
        without stepping through the (S-1)/S of rows that hold none."""
        cdef long long S = self.sample, d, L0, nl, P, g, a, b, t, i, base
        cdef long long q[64]
        cdef int nq = 0, j
        L0 = addr >> self.line_bits
        nl = (((addr & (self.line - 1)) + seg - 1) >> self.line_bits) + 1
        d = (stride >> self.line_bits) % S
        a, b = d, S
        while b:
            t = a % b
            a = b
            b = t
        g = a if a else S
        P = S // g
        for i in range(P if P < count else count):
            # first multiple of S at or after row i's first line, within its nl lines?
            if (S - ((L0 + i * d) % S)) % S < nl:
                q[nq] = i
                nq += 1
        if nq == 0:
            return
        base = 0
        while base < count:
            for j in range(nq):
                i = base + q[j]
                if i >= count:
                    break
                self._range(addr + i * stride, seg, write, side)
            base += P

    def access(self, long long addr, long long nbytes, bint write=False, int side=0):
        self._range(addr, nbytes, write, side % self.partitions)

    def access_units(self, long long addr, long long nbytes, long long u0, long long u1,
                     long long units, bint write=False):
        """Slices [u0, u1) of a range split evenly over `units` CTAs, each from its CTA's side."""
        cdef long long u, lo, hi
        cdef int side
        with nogil:
            for u in range(u0, u1):
                lo = nbytes * u // units
                hi = nbytes * (u + 1) // units
                if hi > lo:
                    side = <int>(u % self.partitions)
                    self._range(addr + lo, hi - lo, write, side)

    def access_strided(self, long long addr, long long seg_bytes, long long stride,
                       long long count, bint write=False, int side=0):
        """`count` segments of `seg_bytes`, `stride` bytes apart (a tile of a row-major matrix)."""
        with nogil:
            self._block(addr, seg_bytes, stride, count, write, side % self.partitions)

    def flush(self):
        """Write back every dirty line and invalidate everything (what a cache flush does)."""
        cdef long long i, n = self.nsets * self.ways
        for i in range(n):
            if self.ways_[i].valid and self.ways_[i].dirty:
                self.flush_wb_sectors += _popcount(self.ways_[i].dirty)
            self.ways_[i].valid = 0
            self.ways_[i].dirty = 0
            self.ways_[i].stamp = 0

    def get_state(self):
        """The whole runtime state (ways, LRU clock, counters) as plain data, for checkpoints."""
        cdef long long n = self.nsets * self.ways
        cdef bytes raw = (<char*>self.ways_)[:n * sizeof(Way)]
        return {"ways": raw, "clock": self.clock,
                "counters": (self.req_sectors, self.hit_sectors, self.miss_sectors,
                             self.wb_sectors, self.write_sectors, self.flush_wb_sectors,
                             self.far_sectors)}

    def set_state(self, st):
        cdef long long n = self.nsets * self.ways
        cdef bytes raw = st["ways"]
        if len(raw) != n * sizeof(Way):
            raise ValueError("L2 state of a different geometry")
        memcpy(self.ways_, <char*>raw, n * sizeof(Way))
        self.clock = st["clock"]
        (self.req_sectors, self.hit_sectors, self.miss_sectors, self.wb_sectors,
         self.write_sectors, self.flush_wb_sectors, self.far_sectors) = st["counters"]

    def resident_bytes(self):
        cdef long long i, n = self.nsets * self.ways, s = 0
        for i in range(n):
            s += _popcount(self.ways_[i].valid)
        return s * self.sector * self.sample

    def dirty_bytes(self):
        cdef long long i, n = self.nsets * self.ways, s = 0
        for i in range(n):
            s += _popcount(self.ways_[i].dirty)
        return s * self.sector * self.sample

    # ---------------------------------------------------------------- stream generators

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
        Steps run outer, units inner: the interleaving of CTAs running side by side.
        A unit writes its C tile after its last K-step. `a_ld` != K makes A an implicit-GEMM
        view [M, a_ld] re-read every a_ld/tk steps (NHWC convolution: the same input pixels for
        every filter tap); `b_trans` stores B as [N, K] (k contiguous: conv filters).
        """
        if a_ld <= 0:
            a_ld = K
        cdef long long mt = (M + tm - 1) // tm, nt = (N + tn - 1) // tn
        cdef long long per_batch = mt * nt * split
        cdef long long ksteps_total = (K + tk - 1) // tk
        cdef long long ksteps = (ksteps_total + split - 1) // split
        cdef long long s, u, r, b, sp, t, band, in_band, bw, mi, ni, k0, kk, rows, cols, m0, n0
        cdef long long abase_b, bbase_b, cbase_b, kglob
        cdef int side
        with nogil:
            for s in range(s0, s1):
                for u in range(u0, u1):
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
                    rows = tm if m0 + tm <= M else M - m0
                    cols = tn if n0 + tn <= N else N - n0
                    kglob = sp * ksteps + s
                    side = <int>(u % self.partitions)
                    abase_b = a_base + b * M * a_ld * esize
                    bbase_b = b_base + b * K * N * esize
                    cbase_b = c_base + (b * split + sp) * M * N * c_esize
                    if kglob < ksteps_total and s < ksteps:
                        k0 = kglob * tk
                        kk = tk if k0 + tk <= K else K - k0
                        self._block(abase_b + (m0 * a_ld + (k0 % a_ld)) * esize, kk * esize,
                                    a_ld * esize, rows, 0, side)
                        if b_trans:
                            self._block(bbase_b + (n0 * K + k0) * esize, kk * esize, K * esize,
                                        cols, 0, side)
                        else:
                            self._block(bbase_b + (k0 * N + n0) * esize, cols * esize, N * esize,
                                        kk, 0, side)
                    if s == ksteps - 1:
                        self._block(cbase_b + (m0 * N + n0) * c_esize, cols * c_esize,
                                    N * c_esize, rows, 1, side)

    def rows_chunk(self, long long table_base, long long row_bytes, long long table_rows,
                   long long i0, long long i1, long long seed):
        """Rows at pseudo-random indices i0..i1 (uniform over the table, fixed by seed)."""
        cdef long long i, row
        cdef uint64_t h
        cdef uint64_t mulc = 2654435761
        cdef uint64_t salt = <uint64_t>(seed * 97 + 12345)
        with nogil:
            for i in range(i0, i1):
                h = _mix(<uint64_t>i * mulc + salt)
                row = <long long>(h % <uint64_t>table_rows)
                self._range(table_base + row * row_bytes, row_bytes, 0, <int>(i % self.partitions))


cdef inline int _popcount(uint8_t x) noexcept nogil:
    cdef int c = 0
    while x:
        x &= x - 1
        c += 1
    return c
