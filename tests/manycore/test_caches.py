"""The chip's caches (instances of archsim.hw.cache wired L1 -> group L2 -> LLC) against a
reference hierarchy of textbook set-associative LRUs written here, on random traces."""
from collections import OrderedDict
from types import SimpleNamespace

import numpy as np
from hypothesis import given, settings, strategies as st

from archsim.hw.manycore.caches import AddressMap, ChipCaches
from archsim.hw.manycore.geometry import MeshGeometry

LINE = 32


class RefLru:
    """Set-associative LRU over line addresses, set = line mod sets (the interleaved banks)."""

    def __init__(self, size, ways, parent=None):
        self.sets = size // (LINE * ways)
        self.ways = ways
        self.parent = parent
        self.s = [OrderedDict() for _ in range(self.sets)]
        self.dirty = set()

    def holds(self, L):
        return L in self.s[L % self.sets]

    def touch(self, L, write=False):
        """True on a hit; a hit on a line the parent dropped is a miss (inclusion)."""
        st_ = self.s[L % self.sets]
        wb = 0
        if L in st_ and self.parent is not None and not self.parent.holds(L):
            del st_[L]
            if L in self.dirty:
                self.dirty.discard(L)
                wb += 1
        if L in st_:
            st_.move_to_end(L)
            if write:
                self.dirty.add(L)
            return True, wb
        if len(st_) >= self.ways:
            v, _ = st_.popitem(last=False)
            if v in self.dirty:
                self.dirty.discard(v)
                wb += 1
        st_[L] = True
        if write:
            self.dirty.add(L)
        return False, wb


def _chip(rows=2, cols=4, gr=1, gc=2):
    cfg = SimpleNamespace(line=LINE, l1=SimpleNamespace(size=1024, ways=2),
                          l2=SimpleNamespace(size=4096, ways=4),
                          llc=SimpleNamespace(size=16384, ways=4))
    geom = MeshGeometry(rows, cols, gr, gc)
    return cfg, geom


ops = st.lists(st.tuples(st.sampled_from(["read", "write"]), st.integers(0, 7),
                         st.integers(0, 1500), st.integers(1, 12)), min_size=1, max_size=60)


@settings(max_examples=60, deadline=None)
@given(ops)
def test_chip_caches_equal_a_reference_lru_hierarchy(trace):
    cfg, geom = _chip()
    chip = ChipCaches(cfg, geom)
    llc = RefLru(cfg.llc.size, cfg.llc.ways)
    l2 = [RefLru(cfg.l2.size, cfg.l2.ways, llc) for _ in range(geom.groups)]
    l1 = [RefLru(cfg.l1.size, cfg.l1.ways, l2[int(geom.group_of(t))]) for t in range(8)]
    hbm_r = hbm_w = 0
    for kind, tile, first, n in trace:
        if kind == "write":
            wb = sum(llc.touch(L, True)[1] for L in range(first, first + n))
            assert chip.llc_write(np.array([first]), n) == wb
            continue
        miss1 = sum(not l1[tile].touch(L)[0] for L in range(first, first + n))
        got = chip.l1_misses(np.array([tile]), [(np.array([first]), n)])
        assert int(got[0]) == miss1
        if miss1:
            g = int(geom.group_of(tile))
            want2, fetch = 0, []
            for L in range(first, first + n):
                if not l2[g].touch(L)[0]:
                    want2 += 1
                    fetch.append(L)
            assert int(chip.l2_misses([g], [(np.array([first]), n)], [0])[0]) == want2
            for L in fetch:
                hit, wb = llc.touch(L)
                hbm_r += not hit
                hbm_w += wb
            r, w = chip.l2_to_llc()
            assert (r, w) == (hbm_r, hbm_w)
            hbm_r = hbm_w = 0


def test_a_block_read_twice_hits_and_a_neighbour_group_misses():
    cfg, geom = _chip()
    chip = ChipCaches(cfg, geom)
    blk = [(np.array([100]), 8)]
    assert chip.l1_misses(np.array([0]), blk)[0] == 8
    assert chip.l2_misses([0], blk, [0])[0] == 8
    assert chip.l2_to_llc() == (8, 0)              # cold: from HBM
    assert chip.l1_misses(np.array([0]), blk)[0] == 0
    assert chip.l1_misses(np.array([1]), blk)[0] == 8   # another tile's L1
    assert chip.l2_misses([0], blk, [0])[0] == 0        # ... but its group's L2 holds it
    assert chip.l2_misses([1], blk, [0])[0] == 8        # another group's L2 does not
    assert chip.l2_to_llc() == (0, 0)                    # the LLC does


def test_blocks_tile_their_tensor_and_regions_do_not_overlap():
    amap = AddressMap()
    a = amap.region("x", 1000)
    b = amap.region("y", 10)
    assert amap.region("x", 5) == a
    assert b[0] >= a[0] + a[1]
    firsts = AddressMap.block_lines(*a, np.arange(10), 100)
    assert sorted(firsts.tolist()) == list(range(0, 1000, 100))
    # blocks beyond the tensor wrap and stay inside it
    more = AddressMap.block_lines(*a, np.arange(40), 64)
    assert (more >= a[0]).all() and (more + 64 <= a[0] + a[1]).all()


def _python_loops(chip):
    """The same chip with the compiled walks off: ChipCaches' Python loops over Cache.access."""
    chip._l1_arr = chip._l2_arr = None
    chip._pool = None
    return chip


steps = st.lists(st.tuples(st.lists(st.integers(0, 7), min_size=1, max_size=12),
                           st.lists(st.tuples(st.integers(0, 3000), st.integers(1, 40)),
                                    min_size=1, max_size=3)), min_size=1, max_size=12)


@settings(max_examples=40, deadline=None)
@given(steps, st.sampled_from([1, 2, 3, 5]))
def test_compiled_walks_in_lanes_equal_the_python_loops(trace, threads):
    """Per tile and per group the compiled walk (any number of lanes, duplicate tiles too)
    returns the Python loop's misses and leaves every cache with the same counters."""
    import pytest
    from archsim.hw.manycore import caches as mc
    if mc.CacheArray is None:
        pytest.skip("archsim.hw.manycore._walk not compiled")
    cfg, geom = _chip()
    fast = ChipCaches(cfg, geom, threads=threads)
    assert fast._l1_arr is not None
    slow = _python_loops(ChipCaches(cfg, geom))
    for tiles, blocks in trace:
        t = np.array(tiles, np.int64)
        n = [b[1] for b in blocks]
        pieces = [(np.array([b[0] + 7 * i for i in range(t.size)], np.int64), b[1])
                  for b in blocks]
        a, b = fast.l1_misses(t, pieces), slow.l1_misses(t, pieces)
        assert a.tolist() == b.tolist()
        assert (a <= sum(n)).all()
        groups = [int(g) for g in geom.group_of(t)]
        idx = list(range(t.size))[::-1]
        a2, b2 = fast.l2_misses(groups, pieces, idx), slow.l2_misses(groups, pieces, idx)
        assert a2.tolist() == b2.tolist()
        assert fast.l2_to_llc() == slow.l2_to_llc()
    assert fast.counters() == slow.counters()
    for cf, cs in zip(fast.l1 + fast.l2, slow.l1 + slow.l2):
        assert cf.counters() == cs.counters()
