"""Energy per action, idle/static power and the power cap -> clock."""
import dataclasses

from archsim.config import load_config
from archsim.energy import EnergyModel, max_clock_under_cap
from archsim.graph import build_workload
from archsim.hw.gpu import run_program
from archsim.lower import lower

CFG = load_config("hwconfigs/h200.yaml")


def run(spec, cfg=CFG, repeat=1):
    return run_program(lower(build_workload(spec), cfg), cfg, l2_start="warm", repeat=repeat)


def test_idle_and_static_power():
    m = EnergyModel(CFG)
    pw = CFG.power
    # a body on every SM: idle + static + sm_active; on half the SMs: half of sm_active
    assert abs(m.kernel_power({}, CFG.clocks.boost, 1.0) - (pw.idle + pw.static + pw.sm_active)) < 1e-9
    assert abs(m.kernel_power({}, CFG.clocks.boost, 1.0, sm_share=0.5)
               - (pw.idle + pw.static + 0.5 * pw.sm_active)) < 1e-9
    # all head (launch, fill, drain): idle + launch
    assert abs(m.kernel_power({}, CFG.clocks.boost, 1.0, head=1.0) - (pw.idle + pw.launch)) < 1e-9


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
    # a loop of it (repeat > 1: the board's averaged power is the kernel's own, at the cap)
    gemm = run("gemm(M=8192, N=8192, K=8192, dtype='bf16')", repeat=2)
    k = gemm.ops[0].kernels[0]
    assert k["clock_hz"] < CFG.clocks.tensor_boost
    power = gemm.energy_j / gemm.time_s
    assert power <= CFG.power.cap * 1.001
    add = run("add(n=16777216)")
    assert add.ops[0].kernels[0]["clock_hz"] == CFG.clocks.boost   # memory-bound holds boost


def test_a_lower_cap_means_a_lower_clock_and_longer_time():
    low = dataclasses.replace(CFG, power=dataclasses.replace(CFG.power, cap=450.0))
    a = run("gemm(M=4096, N=4096, K=4096)", repeat=2)        # loops: the cap binds
    b = run("gemm(M=4096, N=4096, K=4096)", low, repeat=2)
    assert b.ops[0].kernels[0]["clock_hz"] < a.ops[0].kernels[0]["clock_hz"]
    assert b.time_s > a.time_s


def test_energy_matches_nvml_gemm_8192_within_15_percent():
    # calibration "energy": 2774.669 J over 2450 iterations, 691 W (NVML, whole board)
    r = run("gemm(M=8192, N=8192, K=8192, dtype='bf16')", repeat=2)
    per_iter = r.energy_j + CFG.power.idle * CFG.launch.overhead
    assert abs(per_iter - 2774.669 / 2450) / (2774.669 / 2450) < 0.15


def test_energy_accounts_by_component_and_action():
    r = run("gelu(n=1048576)")
    assert abs(sum(r.energy_by_component.values()) - sum(r.energy_by_action.values())) < 1e-12
    assert r.energy_by_action["simt_op"] > 0 and r.energy_by_action["dram_byte"] >= 0


def test_power_states_as_before_when_the_config_has_no_split():
    # a100.yaml (no A100 power data) sets sm_active 0 and no launch power: one static power over
    # the whole kernel, head included, as before the split
    a100 = load_config("hwconfigs/a100.yaml")
    m = EnergyModel(a100)
    comp, act = m.kernel_energy({"simt_op": 1e9}, a100.clocks.boost, 2e-3, sm_share=0.25, head=1e-3)
    assert act["static"] == a100.power.static * 2e-3
    assert "sm_static" not in act and "launch" not in act
    # a table without simt_fma prices an FFMA as any lane-instruction
    table = {k: v for k, v in CFG.energy.items() if k != "simt_fma"}
    m = EnergyModel(dataclasses.replace(CFG, energy=table))
    _, act = m.kernel_energy({"simt_fma": 1e9, "simt_op": 1e9}, CFG.clocks.boost, 1e-3)
    assert act["simt_fma"] == act["simt_op"] == 1e9 * CFG.energy["simt_op"]


def test_kernel_energy_at_least_its_power_floor():
    # every kernel draws idle power all along, static (+ its SMs' share) over its body and the
    # launch power over its head: the floor holds for any action counts
    m = EnergyModel(CFG)
    pw = CFG.power
    for acts in ({}, {"tensor_flop": 1e12}, {"dram_byte": 1e9, "simt_op": 1e10}):
        for share, head in ((1.0, 0.0), (0.1, 2e-6), (0.0, 5e-6)):
            t = 10e-6
            comp, act = m.kernel_energy(acts, CFG.clocks.boost, t, share, head)
            floor = pw.idle * t + pw.static * (t - head) + pw.launch * head + \
                pw.sm_active * share * (t - head)
            assert sum(comp.values()) >= floor * (1 - 1e-12)
            assert abs(sum(comp.values()) - sum(act.values())) < 1e-15


def test_energy_grows_with_work_and_fewer_sms_draw_less():
    small, big = run("add(n=4194304)"), run("add(n=67108864)")
    assert big.energy_j > small.energy_j
    k8, k16 = run("gemm(M=4096, N=4096, K=2048)"), run("gemm(M=4096, N=4096, K=4096)")
    assert k16.energy_j > k8.energy_j
    # the same body time on fewer SMs: less SM power (the idle SMs are clock-gated)
    m = EnergyModel(CFG)
    assert m.kernel_power({}, CFG.clocks.boost, 1e-3, sm_share=0.2) < \
        m.kernel_power({}, CFG.clocks.boost, 1e-3, sm_share=1.0)


def test_simt_gemm_ffma_priced_as_simt_fma():
    r = run("gemm(M=2048, N=2048, K=2048, dtype='fp32')")
    assert r.energy_by_action["simt_fma"] > 0
    assert r.energy_by_action.get("simt_op", 0.0) < 0.1 * r.energy_by_action["simt_fma"]
    e = run("gelu(n=1048576)")
    assert e.energy_by_action.get("simt_fma", 0.0) == 0.0 and e.energy_by_action["simt_op"] > 0


def test_copy_engine_transfer_holds_no_sm():
    r = run("copy(n=67108864, dtype='fp32')")
    k = r.ops[0].kernels[0]
    assert k["name"].startswith("memcpy")
    assert r.energy_by_action.get("sm_static", 0.0) == 0.0


def test_fit_reproduces_the_committed_table():
    # benchmarks/fit_energy_fid2.py fitted on its stored calibration points gives, rounded as
    # the YAML writes it, exactly the table in hwconfigs/h200.yaml; no held-out point is in it
    import json
    import os
    import sys
    here = os.path.join(os.path.dirname(__file__), "..", "..", "benchmarks")
    sys.path.insert(0, here)
    import fit_energy_fid2 as fe
    with open(fe.POINTS) as fh:
        points = json.load(fh)["points"]
    assert len(points) >= 25
    assert not [p for p in points if p["id"].startswith("H2-")]
    fitted = fe.fit(points, CFG.power.idle)
    table = fe.table_of(CFG)
    for c in fe.COLUMNS:
        step = c[3] * c[4]
        assert round(fitted[c[1]] / step) == round(table[c[1]] / step), c[1]
    assert CFG.energy["l2_byte"] == fe.FIXED["l2_byte"]


def test_fit_script_names_a_bad_points_file(tmp_path, capsys):
    import os
    import sys
    sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", "benchmarks"))
    import fit_energy_fid2 as fe
    bad = tmp_path / "points.json"
    bad.write_text('{"points": [{"id": "x", "kind": "loop", "sim_s": 1.0}]}')
    assert fe.main(["--points", str(bad)]) == 2
    err = capsys.readouterr().err
    assert str(bad) in err and "point 0" in err and "meas_w" in err
