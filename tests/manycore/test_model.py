"""The many-core machine end to end: bounds, determinism, multicast, repeats, modes, power."""
import json
import math

import pytest

from archsim.cli import main
from archsim.config import load_config
from archsim.errors import ConfigError, UserError
from archsim.graph import build_workload
from archsim.hw.manycore.power import area, peak_ops_per_s, static_power_by_component
from archsim.simulate import simulate

HW = "hwconfigs/upcycle-2048.yaml"
SMALL = ["tiles.rows=8", "tiles.cols=16"]


def _run(spec, overrides=(), mode=None, hw=HW):
    cfg = load_config(hw, overrides=list(overrides))
    return cfg, simulate(build_workload(spec), cfg, exec_mode=mode)


def test_a_gemm_never_beats_peak_compute_or_hbm_bandwidth():
    cfg, r = _run("gemm(M=2048, N=2048, K=2048, dtype='int8')")
    flops = 2 * 2048 ** 3
    assert r.time_s >= flops / peak_ops_per_s(cfg, "int8")
    assert r.time_s >= (r.dram_read_bytes + r.dram_write_bytes) / cfg.hbm.bandwidth
    # the inputs come from HBM once (cold LLC), the output fits on chip
    assert r.dram_read_bytes >= 2 * 2048 * 2048
    row = r.ops[0].kernels[0]
    assert row["l1_accesses"] > 0 and row["l2_accesses"] > 0 and row["llc_accesses"] > 0


def test_same_inputs_give_the_same_result():
    a = _run("bert-large(batch=1, seq=64, dtype='int8', layers=1)", SMALL)[1]
    b = _run("bert-large(batch=1, seq=64, dtype='int8', layers=1)", SMALL)[1]
    assert a.time_s == b.time_s and a.energy_by_action == b.energy_by_action
    assert [o.kernels for o in a.ops] == [o.kernels for o in b.ops]


def test_multicast_moves_fewer_bytes_over_the_mesh():
    spec = "gemm(M=512, N=512, K=512, dtype='int8')"
    on = _run(spec, SMALL)[1]
    off = _run(spec, SMALL + ["noc.multicast=false"])[1]
    assert on.counters["manycore.byte_hops"] < off.counters["manycore.byte_hops"]
    assert on.time_s <= off.time_s


def test_a_repeated_recurrent_gemm_finds_its_weights_on_chip():
    cfg, r = _run("rnnt(batch=1, frames=20, labels=4, dtype='int8', layers=1)", SMALL)
    hh = next(o for o in r.ops if o.name.endswith("pre0.hh"))
    k = hh.kernels[0]
    assert k["repeat"] == 20
    # weights are fetched from HBM once, not once per step
    w_bytes = 1024 * 4096
    assert hh.dram_read_bytes < 2 * w_bytes


def test_more_tiles_run_a_big_gemm_faster():
    spec = "gemm(M=4096, N=4096, K=1024, dtype='int8')"
    small = _run(spec, SMALL)[1]
    big = _run(spec)[1]
    assert big.time_s < small.time_s


def test_event_mode_runs_the_same_steps_through_the_mesh_components():
    spec = "gemm(M=128, N=256, K=256, dtype='int8')"
    over = ["tiles.rows=4", "tiles.cols=8"]
    _, s = _run(spec, over, "stepsync")
    _, e = _run(spec, over, "event")
    ks, ke = s.ops[0].kernels[0], e.ops[0].kernels[0]
    assert ks["steps"] == ke["steps"] and ks["l1_accesses"] == ke["l1_accesses"]
    assert e.events > 0 and ke["compute_cycles"] == ks["compute_cycles"]
    # both pay at least the compute; the event mesh can only add queueing to the estimate's
    # bandwidth term, not remove the latency of the longest route
    assert e.time_s >= ks["compute_cycles"] / 2.4e9


def test_power_and_area_follow_the_cited_constants():
    cfg = load_config(HW)
    st = static_power_by_component(cfg)
    assert st["cores"] == pytest.approx(2048 * 14e-3 * 0.2 * 2.4)   # 45 nm -> 12 nm, 1 -> 2.4 GHz
    assert st["noc"] == pytest.approx(2048 * 7.5e-3)
    assert st["hbm"] == pytest.approx(12.0)
    a = area(cfg)
    sram_mib = (32 * 1024 + 512 * 1024 / 32 + 32 * 2 ** 20 / 2048) / 2 ** 20
    assert a.tile_mm2 == pytest.approx(0.10 + 0.9 * sram_mib + 0.02)
    assert a.chip_mm2 == pytest.approx(2048 * a.tile_mm2 + 2 * 15)
    assert peak_ops_per_s(cfg, "int8") == pytest.approx(629.1e12, rel=1e-3)  # papers.md: 629
    assert peak_ops_per_s(cfg, "fp16") == pytest.approx(314.6e12, rel=1e-3)  # papers.md: 315


def test_energy_splits_by_component_and_action():
    _, r = _run("gemm(M=512, N=512, K=512, dtype='int8')", SMALL)
    assert r.energy_j == pytest.approx(sum(r.energy_by_action.values()))
    assert r.energy_by_action["mac"] > 0 and r.energy_by_action["static.hbm"] > 0


def test_the_3840_tile_variant_loads():
    cfg = load_config("hwconfigs/upcycle-3840.yaml")
    assert cfg.tiles.tiles == 3840 and cfg.l2.group_rows * cfg.l2.group_cols == 32


def test_a_mesh_that_is_not_whole_groups_is_rejected_with_its_place():
    with pytest.raises(ConfigError) as e:
        load_config(HW, overrides=["tiles.rows=30"])
    assert "4x8" in str(e.value)


def test_cli_runs_a_manycore_machine_and_refuses_a_gpu_mode(tmp_path, capsys):
    assert main(["run", "--hw", HW, "-q", "--set", "tiles.rows=4", "--set", "tiles.cols=8",
                 "-w", "gemm(M=64, N=64, K=64, dtype='int8')", "--out", str(tmp_path)]) == 0
    rep = json.loads((tmp_path / "report.json").read_text())
    assert rep["exec_mode"] == "stepsync" and rep["ops"][0]["kernels"][0]["steps"] >= 1
    assert rep["extra"]["manycore"]["tiles"] == 32
    assert main(["run", "--hw", HW, "-q", "--exec", "bsp",
                 "-w", "gemm(M=64, N=64, K=64, dtype='int8')"]) == 2
    assert "not available on a manycore machine" in capsys.readouterr().err
    assert main(["run", "--hw", HW, "-q", "--repeat", "2",
                 "-w", "gemm(M=64, N=64, K=64, dtype='int8')"]) == 2
    assert "--repeat" in capsys.readouterr().err


def test_event_mode_components_wait_for_hbm_and_the_mesh():
    """The event mode's HBM stacks and links are real servers: halving HBM bandwidth or the
    link width slows a weight-streaming GEMM, an ideal HBM speeds it up, and a run repeats
    exactly."""
    spec = "gemm(M=8, N=256, K=512, dtype='int8')"
    over = ["tiles.rows=4", "tiles.cols=8"]
    base = _run(spec, over, "event")[1].time_s
    assert _run(spec, over, "event")[1].time_s == base
    slow_hbm = _run(spec, over + ["hbm.bandwidth=100 GiB/s"], "event")[1].time_s
    narrow = _run(spec, over + ["noc.link_bytes_per_cycle=8"], "event")[1].time_s
    ideal = _run(spec, over + ["hbm.bandwidth=1000000 GiB/s", "hbm.latency=0 ns"], "event")[1]
    assert slow_hbm > base and narrow > base and ideal.time_s < base
    # 256 KiB of weights at 100 GiB/s cannot arrive sooner than bytes / bandwidth
    assert slow_hbm >= 512 * 256 / (100 * 2**30)


def test_event_and_stepsync_modes_make_the_same_cache_look_ups():
    spec = "conv2d(N=1, H=14, W=14, C=32, K=64, R=3, dtype='int8')"
    over = ["tiles.rows=4", "tiles.cols=8"]
    s = _run(spec, over, "stepsync")[1].ops[0].kernels[0]
    e = _run(spec, over, "event")[1].ops[0].kernels[0]
    for k in ("l1_accesses", "l2_accesses", "llc_accesses", "offchip_bytes", "steps"):
        assert s[k] == e[k], k


def test_dropping_dead_activations_only_removes_write_backs():
    spec = "resnet50(batch=1, image=32, dtype='int8', bn='folded')"
    over = ["tiles.rows=4", "tiles.cols=8", "llc.size=128 KiB", "l2.size=64 KiB"]
    keep = _run(spec, over)[1]
    drop = _run(spec, over + ["lowering.invalidate_dead=true"])[1]
    assert drop.dram_write_bytes < keep.dram_write_bytes
    assert drop.dram_read_bytes <= keep.dram_read_bytes
    assert drop.time_s <= keep.time_s
