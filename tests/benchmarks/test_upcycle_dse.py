"""The design-sweep script's Pareto front (benchmarks/upcycle_dse.py)."""
import importlib.util
from pathlib import Path

from hypothesis import given, strategies as st

_spec = importlib.util.spec_from_file_location(
    "upcycle_dse", Path(__file__).resolve().parents[2] / "benchmarks/upcycle_dse.py")
dse = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(dse)

pts = st.lists(st.fixed_dictionaries({"samples_per_s": st.integers(1, 50),
                                      "power_w": st.integers(1, 50)}), min_size=1, max_size=20)


@given(pts)
def test_pareto_front_is_exactly_the_undominated_points(points):
    front = set(dse.pareto(points, "power_w"))
    for i, p in enumerate(points):
        dominated = any(q["samples_per_s"] >= p["samples_per_s"] and q["power_w"] <= p["power_w"]
                        and q != p for q in points)
        assert (i in front) == (not dominated)
    assert front                      # a finite set always has an undominated point


def test_sweep_covers_the_issue_grid():
    assert sorted(dse.MESHES) == [1024, 2048, 4096]
    assert all(r * c == n for n, (r, c) in dse.MESHES.items())
    assert dse.SIMD == (256, 512) and min(dse.CLOCKS) == 1.0 and max(dse.CLOCKS) == 2.9
