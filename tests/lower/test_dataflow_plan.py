"""The dataflow plan types refuse plans that cannot run."""
import pytest

from archsim.lower.dataflow import DataflowPlan, Pipeline, Queue, Stage


def test_plan_counts_covered_ops_and_queue_bytes():
    a = Stage("s0", ("fc1", "gelu"), "tensor", tiles=8)
    b = Stage("s1", ("fc2",), "tensor", tiles=8)
    q = Queue("q0", "gelu.out", 0, (1,), "1-1", tile_bytes=65536, tiles=8)
    p = Pipeline("p0", (a, b), (q,), ("x", "w1", "w2"), ("y",))
    plan = DataflowPlan("mlp", (p,), ("embed",), (("bsp", "embed"), ("pipeline", 0)))
    assert plan.covered == 3
    assert p.ops == ("fc1", "gelu", "fc2")
    assert q.nbytes == 8 * 65536


@pytest.mark.parametrize("bad", [
    lambda: Stage("s", ("x",), "memory", tiles=1),
    lambda: Stage("s", (), "simt", tiles=1),
    lambda: Queue("q", "t", 0, (1,), "ring", 64, 1),
    lambda: Queue("q", "t", 0, (), "1-1", 64, 1),
    lambda: Queue("q", "t", 0, (1,), "1-1", 0, 1),
])
def test_bad_plans_are_refused(bad):
    with pytest.raises(ValueError):
        bad()
