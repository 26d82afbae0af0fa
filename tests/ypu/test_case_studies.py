"""Case-study drivers: the GPU study on the real component GPU (checked against the signal
bus's own WindowMonitor), the cycle-stack driver against a signal source this test drives (a
fixture, not a machine model), the value histograms against numpy, and area/power."""
import importlib.util
from pathlib import Path

import numpy as np
import pytest

from archsim.engine.signals import SignalBus, WindowMonitor
from archsim.errors import UserError
from archsim.hw.ypu import area
from archsim.hw.ypu.monitor import Monitor
from archsim.hw.ypu.programs import decode
from archsim.hw.ypu.unit import UnitConfig

BENCH = Path(__file__).resolve().parents[2] / "benchmarks"


def bench(name):
    spec = importlib.util.spec_from_file_location(name, BENCH / f"{name}.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_gpu_sm_util_on_the_component_gpu_agrees_with_window_monitor():
    from archsim.config import load_config
    from archsim.graph import build_workload
    from archsim.hw.ypu.monitor import attach
    from archsim.simulate import simulate
    cfg = load_config(Path(__file__).resolve().parents[2] / "hwconfigs" / "h200.yaml")
    g = build_workload("gemm(M=2560, N=128, K=2560, dtype='bf16')")
    mons, wms = [], []
    sigs = ["sm[3].simt_busy", "sm[3].tensor_busy", "sm[3].mem_outstanding"]

    def window_monitor(bus, hz):
        wms.append(WindowMonitor(bus, sigs[:2], window_cycles=256, clock_hz=hz))
    r = simulate(g, cfg, monitors=[attach(sigs, "sm_util", into=mons,
                                          unit=UnitConfig(interval_cycles=256)), window_monitor])
    end = round(r.time_s * 1e12)
    res = mons[0].finish(end)
    wm = wms[0].finish(end)
    rows = decode.sm_util(res.ideal.output_words)
    frac = np.stack([wm["sm[3].simt_busy"], wm["sm[3].tensor_busy"]], 1)
    n = min(len(rows), len(frac))
    assert n > 10 and abs(len(rows) - len(frac)) <= 1
    lengths = np.full(n, 256.0)
    got = rows[:n, :2] / lengths[:, None]
    # event times are floored to whole host cycles: a few cycles per window at most
    assert np.abs(got[:-1] - frac[:n - 1]).max() < 4 / 256
    assert res.ypu.arrivals == res.ideal.arrivals > 0


def fake_cpu(seed: int, n_cores: int = 3, n_ops: int = 5, hz: float = 2.6e9):
    """A test fixture standing in for a CPU model: drives core[i].state / core[i].op."""
    def run(monitors):
        bus = SignalBus()
        st = [bus.declare(f"core[{i}].state", width=3) for i in range(n_cores)]
        op = [bus.declare(f"core[{i}].op", width=16) for i in range(n_cores)]
        for fn in monitors:
            fn(bus, hz)
        rng = np.random.default_rng(seed)
        hp = round(1e12 / hz)
        events = []
        for i in range(n_cores):
            c = 0
            for k in range(n_ops):
                c += int(rng.integers(10, 200))
                events.append((c, op[i], k + 1))
                for _ in range(int(rng.integers(50, 150))):
                    c += int(rng.integers(1, 300))
                    events.append((c, st[i], int(rng.integers(1, 6))))
            events.append((c + 5, op[i], 0))
            events.append((c + 5, st[i], 0))
        events.sort(key=lambda e: e[0])
        for c, s, v in events:
            s.set(c * hp, v)
        return (events[-1][0] + 10) * hp
    return run


def test_cycle_stack_driver_against_a_fixture_source():
    mod = bench("ypu_cycle_stacks")
    res = mod.study(fake_cpu(1), [0, 1, 2], interval=20_000)
    ideal = res["stacks"]["ideal"]
    total = sum(ideal.values())
    assert total == 3 * res["end"] // round(1e12 / 2.6e9)    # every cycle of every core
    assert sum(res["stacks"]["change"].values()) == total    # drops move cycles, never lose
    assert res["cycle"]["drop_rate"] > 0.5                   # per-cycle sampling drops a lot
    assert 0 <= res["cycle"]["weighted_error"] < 0.2
    assert res["change"]["weighted_error"] <= res["cycle"]["weighted_error"] + 0.05


def test_cycle_stack_driver_reports_a_machine_without_signals():
    mod = bench("ypu_cycle_stacks")

    def run(fns):
        raise UserError("the cpu machine publishes no signals yet")
    with pytest.raises(UserError):
        mod.study(run, [0])


def test_value_histograms_ideal_equals_numpy():
    rng = np.random.default_rng(0)
    tensors = [("a", "gemm", rng.normal(size=3000).astype(np.float32)),
               ("b", "elementwise", np.maximum(rng.normal(size=500), 0).astype(np.float32))]
    mod = bench("ypu_values")
    r, _ = mod.stream(tensors, gap=2)
    ideal = decode.value_hist(r.ideal.output_words)
    for k, (_, _, a) in enumerate(tensors):
        assert np.array_equal(ideal[k + 1], np.bincount(a.view(np.uint32) >> 23, minlength=512))
    assert r.ypu.dropped > 0 and r.ypu.accepted > 0


def test_prefetch_ideal_monitor_matches_builtin_on_a_stream():
    mod = bench("ypu_prefetch")
    addrs = np.arange(5000, dtype=np.int64) * 64
    misses, r, built = mod.run_pattern(addrs, 4, 40)
    m, u, i = decode.nextline(r.ideal.output_words).sum(0)
    assert m == misses == 5000
    assert u == 4999 and built["pf_useful"] == 4999          # every line after the first


def test_area_and_power_from_the_paper_constants():
    b = area.ypu_budget("lite")
    assert b.area_mm2 == pytest.approx(0.019)
    assert b.parts["riscv_core"] == 0.0011 and b.parts["sram_40KB"] == 0.016
    assert area.ypu_budget("pro").area_mm2 == pytest.approx(0.019 + 0.22)
    s = area.share("a100-sm")
    assert s["area_share"] == pytest.approx(0.019 / (826 / 108))
    assert s["power_share"] == pytest.approx(4.7e-3 / (400 / 108))
    with pytest.raises(UserError, match="unknown YPU host"):
        area.share("tpu")
