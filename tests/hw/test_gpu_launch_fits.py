"""A launch must fit the machine it runs on: the lowering sizes shared memory to the SM, and a
CTA that cannot fit an empty SM is refused by name instead of waiting forever (which ended an
A100 run with no kernels and time 0)."""
from pathlib import Path

import pytest

from archsim.config import load_config
from archsim.errors import UserError
from archsim.graph import build_workload
from archsim.simulate import simulate

HW = Path(__file__).resolve().parents[2] / "hwconfigs"


@pytest.mark.parametrize("spec", ["gemm(M=2048, N=2048, K=2048)",
                                  "conv2d(N=8, C=128, H=28, W=28, K=128, R=3)"])
def test_a100_runs_every_kernel_within_its_shared_memory(spec):
    cfg = load_config(HW / "a100.yaml")
    res = simulate(build_workload(spec), cfg)
    kernels = [k for o in res.ops for k in o.kernels]
    assert kernels and res.time_s > 0
    # the roofline of the op's flops on this machine bounds the time from below
    peak = cfg.sm.count * cfg.sm.tensor_flops_per_cycle["bf16"] * cfg.clocks.boost
    assert res.time_s >= sum(o.flops for o in res.ops) / peak


def test_a_cta_larger_than_an_sm_is_refused_by_name():
    cfg = load_config(HW / "h200.yaml", overrides=["sm.max_threads=256"])
    with pytest.raises(UserError, match="threads per CTA"):
        simulate(build_workload("gemm(M=2048, N=2048, K=2048)"), cfg)


def test_a100_training_with_attention_fits_the_sm():
    """The flash-attention backward kernel asks 200 KiB on Hopper; on an A100 (164 KiB) the
    lowering must fit it to the SM, or every training run with attention is refused."""
    from archsim.graph.training import training_graph
    cfg = load_config(HW / "a100.yaml")
    g = training_graph(build_workload("bert-base(batch=1, seq=128, layers=1)"))
    res = simulate(g, cfg)
    bwd = [k for o in res.ops for k in o.kernels if "bprop" in k["name"]]
    assert bwd and res.time_s > 0
