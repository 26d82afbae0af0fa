"""The estimated-work limit: the same check in `archsim run`, `archsim.simulate.simulate` and sweeps."""
import time

import pytest

from archsim.cli import main
from archsim.config import load_config
from archsim.graph import build_workload
from archsim.graph.work import (BYTE_WEIGHT, DEFAULT_MAX_WORK, KERNEL_WEIGHT, WorkLimitError,
                                check_work, estimate_work)
from archsim.simulate import simulate

HUGE = "gemm(M=65536, N=65536, K=65536)"     # 2 * 65536**3 = 5.6e14 flops > DEFAULT_MAX_WORK


def test_estimate_is_flops_plus_weighted_bytes_and_kernels():
    g = build_workload("gemm(M=64, N=32, K=16)")
    w = estimate_work(g, repeat=3)
    assert w.flops == 3 * 2 * 64 * 32 * 16
    assert w.kernels == 3
    assert w.total == w.flops + BYTE_WEIGHT * w.bytes + KERNEL_WEIGHT * w.kernels


def test_simulate_refuses_past_the_default_limit_before_building_anything():
    cfg = load_config("hwconfigs/h200.yaml")
    g = build_workload(HUGE)
    assert estimate_work(g).total > DEFAULT_MAX_WORK
    t0 = time.perf_counter()
    with pytest.raises(WorkLimitError, match=r"too large to simulate.*--max-work .*max_work="):
        simulate(g, cfg)
    assert time.perf_counter() - t0 < 2.0     # refused from the estimate, not after running


def test_simulate_max_work_keyword_lowers_raises_and_disables_the_limit():
    cfg = load_config("hwconfigs/h200.yaml")
    g = build_workload("add(n=65536)")
    total = estimate_work(g).total
    with pytest.raises(WorkLimitError):
        simulate(g, cfg, max_work=total / 2)
    assert simulate(g, cfg, max_work=total).time_s > 0
    assert simulate(g, cfg, max_work=None).time_s > 0
    with pytest.raises(WorkLimitError):       # repeat multiplies the estimate
        simulate(g, cfg, max_work=total * 1.5, repeat=2)


def test_check_work_rejects_a_non_positive_limit():
    g = build_workload("add(n=64)")
    for bad in (0, -1.0, float("nan")):
        with pytest.raises(Exception, match="positive"):
            check_work(g, bad)


def test_cli_run_over_the_limit_exits_2_with_one_line(capsys):
    assert main(["run", "--hw", "h200", "--workload", HUGE, "--quiet"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "too large to simulate" in err[0] and "--max-work" in err[0]
