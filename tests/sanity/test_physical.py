"""Physical sanity of the machine models, as properties over configs and workloads (issue 16).

A more capable machine — more HBM bandwidth, more SMs (cores), a larger L2, a higher clock —
never runs the same workload slower by more than TOLERANCE; time never beats the roofline bound
(peak flops, peak DRAM bandwidth); energy is never below static power x time (the GPU: idle
power x time plus its lower kernel power state x kernel time). Checked on the GPU
(h200) and the CPU (xeon-host), and the first property on the many-core chip (upcycle-2048),
through archsim.simulate.simulate, on small workloads so the whole
file stays within a few tens of seconds (few examples; derandomized with CI=true).
"""
import dataclasses

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from archsim.config import load_config
from archsim.graph import build_workload
from archsim.simulate import simulate

# Tolerance: a model with wave quantization and sampled L2 replay may move a little either way
# when a capability grows (one more wave's tail, a different hash of sets); 2 % is what we allow.
# More SMs on a single GEMM used to be an exception: with 1.5x or 2x the SMs,
# gemm(M=512, N=768, K=3072) ran 24.9 % slower because the vendor heuristic's score had no L2
# operand re-read term and picked 64x32 tiles on 198 SMs. The score now has that floor
# (lower/vendor.py tensor_gemm_plans) and the GEMMs below keep their time (`python
# benchmarks/sanity_sms.py`), so every GPU workload is held to the 2 %.
TOLERANCE = 0.02

GPU_WORKLOADS = ["gemm(M=512, N=768, K=3072)", "gemm(M=1024, N=768, K=3072)", "add(n=2**22)",
                 "softmax(rows=2048, cols=1024)", "attention(B=1, H=8, S=512, D=64)",
                 "layernorm(rows=4096, cols=768)", "bert-base(batch=1, seq=128, layers=1)",
                 "conv2d(N=8, C=64, K=64, H=28, W=28, R=3)"]
CPU_WORKLOADS = ["gemm(M=256, N=256, K=256, dtype='fp32')", "add(n=2**20, dtype='fp32')",
                 "softmax(rows=256, cols=1024, dtype='fp32')"]

_graphs: dict = {}
_runs: dict = {}


def _graph(spec):
    if spec not in _graphs:
        _graphs[spec] = build_workload(spec)
    return _graphs[spec]


def _run(hw, spec, overrides=()):
    key = (hw, spec, tuple(overrides))
    if key not in _runs:
        cfg = load_config(f"hwconfigs/{hw}.yaml", list(overrides))
        _runs[key] = (cfg, simulate(_graph(spec), cfg))
    return _runs[key]


def _gpu_upgrades(cfg, f):
    """--set lists that make the H200 more capable by factor f in one resource."""
    return {
        "hbm bandwidth": [f"hbm.peak_bandwidth={cfg.hbm.peak_bandwidth * f:.6g}B/s",
                          f"hbm.bandwidth={cfg.hbm.bandwidth * f:.6g}B/s"],
        "SMs": [f"sm.count={max(cfg.sm.count + 1, int(cfg.sm.count * f))}"],
        "L2 size": [f"l2.size={int(cfg.l2.size * f) // 2**20}MiB"],
        "clock": [f"clocks.{k}={getattr(cfg.clocks, k) * f:.6g}Hz"
                  for k in ("boost", "tensor_boost", "base", "min")],
    }


GPU_FACTORS = st.sampled_from([1.25, 1.5, 2.0])
ci_settings = settings(max_examples=6, deadline=None,
                       suppress_health_check=[HealthCheck.too_slow])


@ci_settings
@given(spec=st.sampled_from(GPU_WORKLOADS), f=GPU_FACTORS,
       what=st.sampled_from(["hbm bandwidth", "SMs", "L2 size", "clock"]))
def test_gpu_more_capable_machine_is_never_slower(spec, f, what):
    cfg, base = _run("h200", spec)
    overrides = _gpu_upgrades(cfg, f)[what]
    _, better = _run("h200", spec, overrides)
    tol = TOLERANCE
    assert better.time_s <= base.time_s * (1 + tol), (what, f, overrides)


@pytest.mark.parametrize("spec", GPU_WORKLOADS)
def test_gpu_time_at_least_roofline_and_energy_at_least_static(spec):
    cfg, r = _run("h200", spec)
    g = _graph(spec)
    peak_flops = max(list(cfg.sm.tensor_flops_per_cycle.values())
                     + list(cfg.sm.simt_flops_per_cycle.values())) * cfg.sm.count * cfg.clocks.boost
    bound = max(g.flops / peak_flops,
                (r.dram_read_bytes + r.dram_write_bytes) / cfg.hbm.peak_bandwidth)
    assert r.time_s >= bound * (1 - 1e-9)
    # the board draws idle power all along, and at least the lower of its static (kernel body)
    # and launch (kernel head) power above it while kernels run (archsim.energy's power states)
    p = cfg.power
    busy = sum(o.time_s for o in r.ops)
    floor_w = min(p.static, p.static if p.launch is None else p.launch)
    assert r.energy_j >= (p.idle * r.time_s + floor_w * busy) * (1 - 1e-9)


def _cpu_upgrades(cfg, f):
    return {
        "cores": [f"cores.count={max(cfg.cores.count + 1, int(cfg.cores.count * f))}"],
        "clock": [f"cores.clock={cfg.cores.clock * f:.6g}Hz"],
        "dram bandwidth": [f"dram.bandwidth={cfg.dram.bandwidth * f:.6g}B/s"],
        "L3 size": [f"l3.size={int(cfg.l3.size * f)}B"],
    }


@ci_settings
@given(spec=st.sampled_from(CPU_WORKLOADS), f=GPU_FACTORS,
       what=st.sampled_from(["cores", "clock", "dram bandwidth", "L3 size"]))
def test_cpu_more_capable_machine_is_never_slower(spec, f, what):
    cfg, base = _run("xeon-host", spec)
    _, better = _run("xeon-host", spec, _cpu_upgrades(cfg, f)[what])
    assert better.time_s <= base.time_s * (1 + TOLERANCE), (what, f)


@pytest.mark.parametrize("spec", CPU_WORKLOADS)
def test_cpu_time_at_least_roofline_and_energy_at_least_static(spec):
    cfg, r = _run("xeon-host", spec)
    g = _graph(spec)
    rates = list(cfg.cores.simd_flops_per_cycle.values()) + \
        list(cfg.cores.matrix_flops_per_cycle.values())
    peak_flops = max(rates) * cfg.cores.count * cfg.cores.clock
    bound = max(g.flops / peak_flops,
                (r.dram_read_bytes + r.dram_write_bytes) / cfg.dram.bandwidth)
    assert r.time_s >= bound * (1 - 1e-9)
    assert r.energy_j >= cfg.power.static * r.time_s * (1 - 1e-9)


def test_readme_what_if_makes_bert_no_slower():
    """The README's example: a bigger L2 and faster HBM. The GEMM heuristic used to switch
    BERT's FFN-down GEMMs to split-K at 6 TB/s, which the model ran 1.2 us slower each; the
    lowering's autotuner now keeps the faster plan."""
    spec = "bert-base(batch=8, seq=128, layers=1)"
    _, base = _run("h200", spec)
    _, what_if = _run("h200", spec, ("l2.size=80MiB", "hbm.peak_bandwidth=7TB/s",
                                     "hbm.bandwidth=6TB/s"))
    assert what_if.time_s <= base.time_s * (1 + 1e-9)


@pytest.mark.parametrize("spec", GPU_WORKLOADS)
def test_gpu_one_and_a_half_times_the_sms_every_workload(spec):
    """The SM upgrade for every workload (not only the ones hypothesis draws), within 2 %."""
    cfg, base = _run("h200", spec)
    _, better = _run("h200", spec, _gpu_upgrades(cfg, 1.5)["SMs"])
    assert better.time_s <= base.time_s * (1 + TOLERANCE)


MANYCORE_WORKLOADS = ["gemm(M=256, N=256, K=256, dtype='fp32')", "add(n=2**20, dtype='fp32')"]


def _manycore_upgrades(cfg, f):
    return {
        "clock": [f"tiles.clock={cfg.tiles.clock * f:.6g}Hz"],
        "hbm bandwidth": [f"hbm.bandwidth={cfg.hbm.bandwidth * f:.6g}B/s"],
        "LLC size": [f"llc.size={int(cfg.llc.size * f) // 2**20}MiB"],
    }


@pytest.mark.parametrize("what", ["clock", "hbm bandwidth", "LLC size"])
@pytest.mark.parametrize("spec", MANYCORE_WORKLOADS)
def test_manycore_more_capable_machine_is_never_slower(spec, what):
    """The many-core model (upcycle-2048) too, at 1.5x one resource; explicit cases, not
    hypothesis, to keep the file's time down."""
    cfg, base = _run("upcycle-2048", spec)
    _, better = _run("upcycle-2048", spec, _manycore_upgrades(cfg, 1.5)[what])
    assert better.time_s <= base.time_s * (1 + TOLERANCE)
