"""The L2 cache model: capacity, LRU replacement, sectors, write-back, partitions, sampling."""
import random

from hypothesis import given, settings, strategies as st

from archsim.hw.mem import L2Cache

MiB = 1 << 20


def make(size=4 * MiB, partitions=1, sample=1):
    return L2Cache(size, 128, 32, 16, partitions, sample)


def test_geometry_keeps_the_capacity_exact():
    c = make(60 * MiB, partitions=2)
    assert c.nsets * c.ways * 128 == 60 * MiB        # 32768 sets x 15 ways


def test_fits_then_hits():
    c = make()
    c.access(0, 2 * MiB)
    c.reset_counters()
    c.access(0, 2 * MiB)
    k = c.counters()
    assert k["hit"] == 2 * MiB and k["miss"] == 0


def test_lru_streaming_larger_than_capacity_misses():
    c = make()
    c.access(0, 8 * MiB)
    c.reset_counters()
    c.access(0, 8 * MiB)                               # LRU: the head was evicted first
    assert c.counters()["miss"] > 7 * MiB


def test_recently_used_lines_survive():
    c = make()
    c.access(0, 1 * MiB)
    for _ in range(3):
        c.access(0, 1 * MiB)                           # keep the hot set warm
        c.access(16 * MiB + _ * 2 * MiB, 2 * MiB)      # while streaming through cold data
    c.reset_counters()
    c.access(0, 1 * MiB)
    assert c.counters()["hit"] == 1 * MiB


def test_sector_granularity():
    c = make()
    c.access(1000, 10)                                 # inside one 32-B sector
    k = c.counters()
    assert k["requested"] == 32 and k["miss"] == 32
    c.access(1024 - 64, 128)                           # two lines, four sectors
    assert c.counters()["requested"] == 32 + 128


def test_write_back_only_on_eviction():
    c = make()
    c.access(0, 1 * MiB, True)
    k = c.counters()
    assert k["writeback"] == 0 and k["miss"] == 0      # write-allocate, no fetch
    assert c.dirty_bytes() == 1 * MiB
    c.access(64 * MiB, 8 * MiB)                        # evict everything
    assert c.counters()["writeback"] == 1 * MiB
    assert c.dirty_bytes() == 0


def test_flush_writes_back_and_invalidates():
    c = make()
    c.access(0, 1 * MiB, True)
    c.flush()
    assert c.counters()["flush_writeback"] == 1 * MiB
    assert c.resident_bytes() == 0
    c.access(0, 1 * MiB)
    assert c.counters()["miss"] == 1 * MiB


def test_partitions_duplicate_shared_lines():
    one, two = make(partitions=1), make(partitions=2)
    for c in (one, two):
        for side in (0, 1):                            # both sides read the same 3 MiB
            c.access(0, 3 * MiB, False, side)
        c.reset_counters()
        for side in (0, 1):
            c.access(0, 3 * MiB, False, side)
    assert one.counters()["miss"] == 0
    assert two.counters()["miss"] > 0                 # 6 MiB of copies in 4 MiB


def test_address_sampling_is_unbiased_for_streams():
    full, sampled = make(sample=1), make(sample=8)
    for c in (full, sampled):
        c.access(0, 3 * MiB)
        c.access(0, 3 * MiB)
        c.access(32 * MiB, 6 * MiB)
        c.access(0, 3 * MiB)
    f, s = full.counters(), sampled.counters()
    assert s["requested"] == f["requested"]
    assert abs(s["miss"] - f["miss"]) <= 0.05 * f["miss"]


@settings(max_examples=30, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 1 << 24), st.integers(1, 1 << 14), st.booleans(),
                          st.integers(0, 1)), min_size=1, max_size=60))
def test_conservation_of_bytes(ops):
    c = make(256 * 1024, partitions=2)
    for addr, n, w, side in ops:
        c.access(addr, n, w, side)
    k = c.counters()
    assert k["hit"] + k["miss"] == k["requested"]
    assert k["writeback"] + c.dirty_bytes() <= k["write"] + 0  # dirty data only from writes


def test_gemm_stream_reads_each_operand_once_when_it_fits():
    c = make(8 * MiB)
    M = N = K = 256
    c.gemm_chunk(0, 1 << 24, 1 << 25, M, N, K, 2, 2, 64, 64, 64, 1, 1, 8, 0, 16, 0, 4)
    k = c.counters()
    assert k["miss"] == 2 * (M * K * 2)                # A and B from DRAM once
    assert c.dirty_bytes() == M * N * 2                # C written, still in L2


def test_random_rows_touch_only_rows():
    c = make(64 * MiB)
    c.rows_chunk(0, 256, 1000, 0, 500, 7)
    assert c.counters()["requested"] == 500 * 256
    assert c.counters()["miss"] <= 500 * 256


def test_pure_python_twin_matches_the_cython_cache():
    from archsim.hw.mem.pyl2 import L2Cache as PyL2
    rng = random.Random(5)
    ops = [(rng.randrange(1 << 22), rng.randrange(1, 1 << 13), rng.random() < 0.3,
            rng.randrange(2)) for _ in range(300)]
    a, b = make(256 * 1024, partitions=2), PyL2(256 * 1024, 128, 32, 16, 2, 1)
    for addr, n, w, side in ops:
        a.access(addr, n, w, side)
        b.access(addr, n, w, side)
    a.gemm_chunk(0, 1 << 24, 1 << 25, 128, 128, 256, 2, 2, 64, 64, 64, 1, 1, 8, 0, 4, 0, 4)
    b.gemm_chunk(0, 1 << 24, 1 << 25, 128, 128, 256, 2, 2, 64, 64, 64, 1, 1, 8, 0, 4, 0, 4)
    a.rows_chunk(1 << 26, 256, 1000, 0, 300, 1)
    b.rows_chunk(1 << 26, 256, 1000, 0, 300, 1)
    assert a.counters() == b.counters()
    assert a.dirty_bytes() == b.dirty_bytes() and a.resident_bytes() == b.resident_bytes()
