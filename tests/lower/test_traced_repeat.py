"""A traced loop folds its iterations into ops with a repeat count; the GPU must run them all.

Before issue 16, the GPU lowering ignored the count: amp(iters=2/30/300) all simulated 146.4 us
on h200 while the counted work rose 150-fold.
"""
import pytest

from archsim.config import load_config
from archsim.graph import build_workload
from archsim.simulate import simulate

H200 = "hwconfigs/h200.yaml"


@pytest.fixture(scope="module")
def h200():
    return load_config(H200)


def test_amp_time_on_h200_grows_linearly_in_iterations(h200):
    t = {n: simulate(build_workload(f"amp(N=512, iters={n})"), h200).time_s for n in (2, 6, 18)}
    per_iter_low = (t[6] - t[2]) / 4
    per_iter_high = (t[18] - t[6]) / 12
    assert per_iter_low > 0
    assert per_iter_high == pytest.approx(per_iter_low, rel=0.02)
    assert t[18] > 5 * t[2]


def test_repeated_op_runs_one_kernel_per_iteration(h200):
    from archsim.lower import lower
    g = build_workload("amp(N=512, iters=5)")
    program = lower(g, h200)
    for op, ok in zip(g.topo_ops(), program.ops):
        if op.kind != "view" and op.repeat > 1:
            assert len(ok.kernels) % op.repeat == 0 and len(ok.kernels) >= op.repeat
