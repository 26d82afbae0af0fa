"""The load-balance integer program agrees with brute force on small instances."""
import itertools

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from archsim.errors import UserError
from archsim.lower.dataflow.balance import StageDemand, balance, throughput

demand = st.builds(StageDemand, st.sampled_from(["tensor", "simt"]), st.integers(1, 50),
                   st.floats(1e-6, 1e-3), st.floats(0.05, 1.0), st.floats(0.0, 1e-3),
                   st.floats(0.0, 1e-4), st.integers(0, 6))


@settings(max_examples=60, deadline=None)
@given(ds=st.lists(demand, min_size=1, max_size=3), sms=st.integers(3, 5),
       dram=st.floats(0, 1e9), l2=st.floats(0, 1e9))
def test_ilp_matches_brute_force(ds, sms, dram, l2):
    cap = min(np.inf if not dram else 1.5e12 / dram, np.inf if not l2 else 4.5e12 / l2)
    a = balance("p", ds, sms=sms, dram_bytes=dram, dram_bw=1.5e12, l2_bytes=l2, l2_bw=4.5e12)
    hi = [min(sms, d.max_ctas) if d.max_ctas else sms for d in ds]
    best = 0.0
    for x in itertools.product(*[range(1, h + 1) for h in hi]):
        if any(sum(v for v, d in zip(x, ds) if d.kind == t) > sms for t in ("tensor", "simt")):
            continue
        best = max(best, throughput(ds, x, sms=sms, mem_cap=cap))
    got = throughput(ds, a.ctas, sms=sms, mem_cap=cap)
    assert got == pytest.approx(best, rel=1e-6)
    assert all(1 <= v <= h for v, h in zip(a.ctas, hi))
    for t in ("tensor", "simt"):
        assert sum(v for v, d in zip(a.ctas, ds) if d.kind == t) <= sms


def test_slow_stage_gets_more_ctas_and_too_many_stages_is_an_error():
    ds = [StageDemand("tensor", 10, 1e-4, 1.0), StageDemand("tensor", 10, 3e-4, 1.0)]
    a = balance("p", ds, sms=8, dram_bytes=0, dram_bw=1, l2_bytes=0, l2_bw=1)
    assert a.ctas == (2, 6)
    with pytest.raises(UserError, match="3 simt stages"):
        balance("p", [StageDemand("simt", 1, 1e-4, 1.0)] * 3, sms=2, dram_bytes=0,
                dram_bw=1, l2_bytes=0, l2_bw=1)


# ---- the rings' L2 footprint --------------------------------------------------------------

@settings(max_examples=60, deadline=None)
@given(ds=st.lists(demand, min_size=2, max_size=3), sms=st.integers(3, 5),
       b=st.lists(st.integers(1, 4), min_size=2, max_size=2), cap=st.integers(2, 20))
def test_ilp_with_ring_footprint_matches_brute_force(ds, sms, b, cap):
    """Best throughput over the allocations whose rings fit the region (brute force), and the
    plan's footprint within it; a chain of queues 0->1->2."""
    n = len(ds)
    rings = [(float(b[k]), (k, k + 1)) for k in range(n - 1)]
    a = balance("p", ds, sms=sms, dram_bytes=0, dram_bw=1, l2_bytes=0, l2_bw=1,
                rings=rings, l2_capacity=float(cap))

    def foot(x):
        return sum(bq * max(x[i] for i in ends) for bq, ends in rings)
    region = max(cap, foot([1] * n))
    hi = [min(sms, d.max_ctas) if d.max_ctas else sms for d in ds]
    best = 0.0
    for x in itertools.product(*[range(1, h + 1) for h in hi]):
        if any(sum(v for v, d in zip(x, ds) if d.kind == t) > sms for t in ("tensor", "simt")):
            continue
        if foot(x) > region:
            continue
        best = max(best, throughput(ds, x, sms=sms))
    assert throughput(ds, a.ctas, sms=sms) == pytest.approx(best, rel=1e-6)
    assert foot(a.ctas) <= region + 1e-9


def test_ring_footprint_limits_ctas_and_more_sms_never_lower_throughput():
    # two stages through one queue of 1 MB rings per CTA; 5 MB of region
    def ds(sms):  # same per-CTA rate on any GPU: the BSP time scales as 1/#SMs
        return [StageDemand("tensor", 1000, 1e-3 * 8 / sms, 1.0),
                StageDemand("simt", 1000, 1e-3 * 8 / sms, 1.0)]
    rings = [(1e6, (0, 1))]
    free = balance("p", ds(8), sms=8, dram_bytes=0, dram_bw=1, l2_bytes=0, l2_bw=1)
    assert free.ctas == (8, 8)
    fit = balance("p", ds(8), sms=8, dram_bytes=0, dram_bw=1, l2_bytes=0, l2_bw=1,
                  rings=rings, l2_capacity=5e6)
    assert fit.ctas == (5, 5)
    t = [throughput(ds(s), balance("p", ds(s), sms=s, dram_bytes=0, dram_bw=1, l2_bytes=0,
                                   l2_bw=1, rings=rings, l2_capacity=5e6).ctas, sms=s)
         for s in (4, 8, 16)]
    assert t[0] <= t[1] <= t[2] * (1 + 1e-9)
