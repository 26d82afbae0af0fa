"""Pure-Python L2Cache: the same model and API as the Cython `_l2.L2Cache`, used only where the
extension could not be compiled (archsim then says so once). 50-100x slower; run_program
compensates with heavier address sampling. Kept deliberately line-for-line close to _l2.pyx.
"""
from __future__ import annotations

from collections import OrderedDict

_M64 = (1 << 64) - 1


def _mix(x: int) -> int:
    x &= _M64
    x ^= x >> 31
    x = (x * 0x9E3779B97F4A7C15) & _M64
    x ^= x >> 29
    return x


class L2Cache:
    def __init__(self, size, line, sector, ways, partitions=1, sample=1):
        lines = size // line
        sets = 1
        while sets * 2 * ways <= lines:
            sets *= 2
        if lines % (sets * 2) == 0 and abs(lines // (sets * 2) - ways) <= abs(lines // sets - ways):
            sets *= 2
        sets = min(sets, max(lines, 1))
        self.ways = max(1, lines // sets)
        bits = 0
        while (1 << bits) < max(1, sample) and (sets >> (bits + 1)) >= 1:
            bits += 1
        self.sample_bits, self.sample = bits, 1 << bits
        self.nsets = sets >> bits
        partitions = max(1, partitions)
        while partitions > 1 and self.nsets % partitions:
            partitions -= 1
        self.partitions = partitions
        self.sets_per_part = self.nsets // partitions
        self.line, self.sector = line, sector
        self.line_bits = line.bit_length() - 1
        self.sector_bits = sector.bit_length() - 1
        self.sets = [OrderedDict() for _ in range(self.nsets)]   # tag -> [valid, dirty]
        self.reset_counters()

    def reset_counters(self):
        self.req = self.hit = self.miss = self.wb = self.write = self.flush_wb = self.far = 0

    def counters(self):
        k = self.sector * self.sample
        return {"requested": self.req * k, "hit": self.hit * k, "miss": self.miss * k,
                "writeback": self.wb * k, "write": self.write * k,
                "flush_writeback": self.flush_wb * k, "far_hit": self.far * k}

    def _set(self, L, part):
        key = L >> self.sample_bits
        h = (key ^ (key >> 13) ^ (key >> 26)) & (self.sets_per_part - 1)
        return self.sets[part * self.sets_per_part + h]

    def _home(self, L):
        return 0 if self.partitions == 1 else _mix(L >> self.sample_bits) % self.partitions

    def _victim(self, st):
        if len(st) >= self.ways:
            _, (v, d) = st.popitem(last=False)
            self.wb += bin(d).count("1")

    def _get(self, st, L):
        e = st.get(L)
        if e is None:
            self._victim(st)
            e = st[L] = [0, 0]
        else:
            st.move_to_end(L)
        return e

    def _touch(self, L, mask, write, side):
        n = bin(mask).count("1")
        self.req += n
        home = self._home(L)
        if write:
            self.write += n
            self.hit += n
            e = self._get(self._set(L, home), L)
            e[0] |= mask
            e[1] |= mask
            if side != home and self.partitions > 1:
                near = self._set(L, side)
                if L in near:
                    near[L][0] |= mask
                    near.move_to_end(L)
            return
        near = self._set(L, side if self.partitions > 1 else 0)
        e = near.get(L)
        if e is not None and e[0] & mask == mask:
            self.hit += n
            near.move_to_end(L)
            return
        if side == home or self.partitions == 1:
            e = self._get(near, L)
            m = bin(mask & ~e[0]).count("1")
            self.hit += n - m
            self.miss += m
            e[0] |= mask
            return
        h = self._get(self._set(L, home), L)
        m = bin(mask & ~h[0]).count("1")
        self.hit += n - m
        self.far += n - m
        self.miss += m
        h[0] |= mask
        e = self._get(near, L)
        e[0] |= mask

    def _range(self, addr, nbytes, write, side):
        if nbytes <= 0:
            return
        end = addr + nbytes
        lb, sb, S = self.line_bits, self.sector_bits, self.sample
        first, last = addr >> lb, (end - 1) >> lb
        if self.sample_bits:
            first = ((first + S - 1) >> self.sample_bits) << self.sample_bits
        for L in range(first, last + 1, S):
            base = L << lb
            lo, hi = max(base, addr), min(base + self.line, end)
            s0, s1 = (lo - base) >> sb, (hi - 1 - base) >> sb
            self._touch(L, ((1 << (s1 + 1)) - 1) & ~((1 << s0) - 1), write, side)

    def access(self, addr, nbytes, write=False, side=0):
        self._range(addr, nbytes, write, side % self.partitions)

    def access_units(self, addr, nbytes, u0, u1, units, write=False):
        for u in range(u0, u1):
            lo, hi = nbytes * u // units, nbytes * (u + 1) // units
            if hi > lo:
                self._range(addr + lo, hi - lo, write, u % self.partitions)

    def access_strided(self, addr, seg, stride, count, write=False, side=0):
        for i in range(count):
            self._range(addr + i * stride, seg, write, side % self.partitions)

    def flush(self):
        for st in self.sets:
            for v, d in st.values():
                self.flush_wb += bin(d).count("1")
            st.clear()

    def get_state(self):
        """Runtime state as plain data (checkpoints)."""
        import copy
        return {"sets": copy.deepcopy(self.sets),
                "counters": (self.req, self.hit, self.miss, self.wb, self.write, self.flush_wb,
                             self.far)}

    def set_state(self, st):
        import copy
        self.sets = copy.deepcopy(st["sets"])
        (self.req, self.hit, self.miss, self.wb, self.write, self.flush_wb,
         self.far) = st["counters"]

    def resident_bytes(self):
        return sum(bin(v).count("1") for st in self.sets for v, _ in st.values()) \
            * self.sector * self.sample

    def dirty_bytes(self):
        return sum(bin(d).count("1") for st in self.sets for _, d in st.values()) \
            * self.sector * self.sample

    def gemm_chunk(self, a_base, b_base, c_base, M, N, K, esize, c_esize, tm, tn, tk, split,
                   batch, group_m, u0, u1, s0, s1, a_ld=0, b_trans=False):
        a_ld = a_ld if a_ld > 0 else K
        mt, nt = -(-M // tm), -(-N // tn)
        per_batch = mt * nt * split
        kst = -(-K // tk)
        ksteps = -(-kst // split)
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
                    self.access_strided(ab + (m0 * a_ld + k0 % a_ld) * esize, kk * esize,
                                        a_ld * esize, rows, False, side)
                    if b_trans:
                        self.access_strided(bb + (n0 * K + k0) * esize, kk * esize, K * esize,
                                            cols, False, side)
                    else:
                        self.access_strided(bb + (k0 * N + n0) * esize, cols * esize, N * esize,
                                            kk, False, side)
                if s == ksteps - 1:
                    self.access_strided(cb + (m0 * N + n0) * c_esize, cols * c_esize,
                                        N * c_esize, rows, True, side)

    def rows_chunk(self, table_base, row_bytes, table_rows, i0, i1, seed):
        salt = (seed * 97 + 12345) & _M64
        for i in range(i0, i1):
            row = _mix(i * 2654435761 + salt) % table_rows
            self._range(table_base + row * row_bytes, row_bytes, False, i % self.partitions)
