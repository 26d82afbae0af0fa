"""The step model's caches against a reference LRU on random traces."""
from collections import OrderedDict

import numpy as np
from hypothesis import given, strategies as st

from archsim.hw.manycore.caches import BlockCache, TensorLlc, TileLrus


def reference_lru(capacity, trace):
    """Textbook LRU over (key, size): hit flags."""
    lru, used, out = OrderedDict(), 0, []
    for key, size in trace:
        if key in lru:
            lru.move_to_end(key)
            out.append(True)
            continue
        out.append(False)
        if size > capacity:
            continue
        while used + size > capacity:
            used -= lru.popitem(last=False)[1]
        lru[key] = size
        used += size
    return out


traces = st.lists(st.tuples(st.integers(0, 12), st.sampled_from([64, 128, 256])),
                  max_size=200)


@given(traces)
def test_block_cache_is_an_lru(trace):
    size_of = {}
    trace = [(k, size_of.setdefault(k, s)) for k, s in trace]  # a block keeps its size
    c = BlockCache(512)
    assert [c.access(k, s) for k, s in trace] == reference_lru(512, trace)


@given(st.lists(st.lists(st.integers(0, 9), min_size=3, max_size=3), max_size=60),
       st.sampled_from([64, 128]))
def test_tile_lrus_match_one_lru_per_tile(steps, nbytes):
    """Three tiles, one block per tile per step; blocks >= capacity / slots."""
    tl = TileLrus(3, 512, slots=8)
    refs = [BlockCache(512) for _ in range(3)]
    for keys in steps:
        hit = tl.access(np.arange(3), np.array(keys, dtype=np.int64), nbytes)
        assert hit.tolist() == [refs[t].access(k, nbytes) for t, k in enumerate(keys)]


def test_llc_misses_what_is_not_resident_and_writes_back_dirty_data():
    llc = TensorLlc(100)
    assert llc.read("w", 60) == (60, 0)          # cold
    assert llc.read("w", 60) == (0, 0)           # resident
    assert llc.write("a", 30) == (0, 0)
    assert llc.write("b", 50) == (0, 0)          # evicts the least recent: "w", clean
    assert llc.resident("w") == 0 and llc.resident("a") == 30
    assert llc.read("w", 60) == (60, 80)         # room for w evicts dirty "a" then "b"
    spill, _ = llc.write("huge", 250)
    assert spill == 150                          # only the capacity stays on chip
