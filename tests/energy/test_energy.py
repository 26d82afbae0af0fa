"""Energy per action, idle/static power and the power cap -> clock."""
import dataclasses

from archsim.config import load_config
from archsim.energy import EnergyModel, max_clock_under_cap
from archsim.graph import build_workload
from archsim.hw.gpu import run_program
from archsim.lower import lower

CFG = load_config("hwconfigs/h200.yaml")


def run(spec, cfg=CFG):
    return run_program(lower(build_workload(spec), cfg), cfg, l2_start="warm")


def test_idle_and_static_power():
    m = EnergyModel(CFG)
    p = m.kernel_power({}, CFG.clocks.boost, 1.0)
    assert p == CFG.power.idle + CFG.power.static


def test_dynamic_energy_scales_with_voltage():
    m = EnergyModel(CFG)
    hi = m.dynamic({"tensor_flop": 1e12}, CFG.clocks.boost)["tensor_flop"]
    lo = m.dynamic({"tensor_flop": 1e12}, CFG.clocks.boost / 2)["tensor_flop"]
    assert abs(lo / hi - 0.5 ** CFG.power.voltage_exponent) < 1e-12
    assert hi == 1e12 * CFG.energy["tensor_flop"]


def test_max_clock_under_cap():
    f = max_clock_under_cap(lambda f: 100 + f / 1e7, 1e8, 2e9, 250.0)
    assert abs(f - 1.5e9) < 1e6
    assert max_clock_under_cap(lambda f: 0.0, 1e8, 2e9, 1.0) == 2e9


def test_power_cap_lowers_the_clock_of_a_big_gemm_only():
    gemm = run("gemm(M=8192, N=8192, K=8192, dtype='bf16')")
    k = gemm.ops[0].kernels[0]
    assert k["clock_hz"] < CFG.clocks.tensor_boost
    power = gemm.energy_j / gemm.time_s
    assert power <= CFG.power.cap * 1.001
    add = run("add(n=16777216)")
    assert add.ops[0].kernels[0]["clock_hz"] == CFG.clocks.boost   # memory-bound holds boost


def test_a_lower_cap_means_a_lower_clock_and_longer_time():
    low = dataclasses.replace(CFG, power=dataclasses.replace(CFG.power, cap=450.0))
    a = run("gemm(M=4096, N=4096, K=4096)")
    b = run("gemm(M=4096, N=4096, K=4096)", low)
    assert b.ops[0].kernels[0]["clock_hz"] < a.ops[0].kernels[0]["clock_hz"]
    assert b.time_s > a.time_s


def test_energy_matches_nvml_gemm_8192_within_15_percent():
    # calibration "energy": 2774.669 J over 2450 iterations, 691 W (NVML, whole board)
    r = run("gemm(M=8192, N=8192, K=8192, dtype='bf16')")
    per_iter = r.energy_j + CFG.power.idle * CFG.launch.overhead
    assert abs(per_iter - 2774.669 / 2450) / (2774.669 / 2450) < 0.15


def test_energy_accounts_by_component_and_action():
    r = run("gelu(n=1048576)")
    assert abs(sum(r.energy_by_component.values()) - sum(r.energy_by_action.values())) < 1e-12
    assert r.energy_by_action["simt_op"] > 0 and r.energy_by_action["dram_byte"] >= 0
