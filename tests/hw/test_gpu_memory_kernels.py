"""Issue 15, third stage: the memory-bound kernel mechanisms (loads in flight per thread, a
reduction's unoverlapped epilogue, a streaming kernel's store phase after its load phase, the copy
engine's L2-side rate, RMS norm's short chain). Properties, not fitted numbers: bounds every kernel
must respect (rooflines) and the direction each mechanism moves a time."""
import dataclasses

import pytest

from archsim.config import load_config
from archsim.graph import build_workload
from archsim.hw.gpu import run_program
from archsim.lower import lower, vendor


@pytest.fixture(scope="module")
def cfg():
    from archsim.cli import resolve_hw
    return load_config(resolve_hw("h200"))


def run(spec, cfg, **kw):
    g = build_workload(spec)
    return run_program(lower(g, cfg), cfg, **kw)


def kernels(spec, cfg):
    return lower(build_workload(spec), cfg).kernels


# ---- reductions --------------------------------------------------------------------------------

def test_reduce_inflight_is_vector_loads_times_element_size(cfg):
    # 4 independent vector loads of 4 elements: fp32 keeps twice the bytes of bf16 in flight
    assert vendor.reduce_inflight(4) == 2 * vendor.reduce_inflight(2)
    assert vendor.reduce_inflight(4) == vendor.REDUCE_LOADS * vendor.REDUCE_VEC_ELEMS * 4
    k, = kernels("reduce(rows=4096, cols=4096, dtype='fp32')", cfg)
    assert k.load_inflight == vendor.reduce_inflight(4)
    assert k.tail_rounds == vendor.REDUCE_TAIL_ROUNDS


@pytest.mark.parametrize("dtype", ["fp32", "bf16"])
def test_reduce_time_monotone_in_size_and_above_dram_roofline(cfg, dtype):
    times = []
    for rows in (256, 1024, 4096, 16384, 65536):
        res = run(f"reduce(rows={rows}, cols=4096, dtype='{dtype}')", cfg)
        times.append(res.time_s)
        # never faster than its DRAM bytes at the HBM rate
        assert res.time_s >= (res.dram_read_bytes + res.dram_write_bytes) / cfg.hbm.bandwidth
    # more rows never take less time (while the CTAs still spread over idle SMs it may stay equal)
    assert all(b >= a for a, b in zip(times, times[1:]))
    assert times[-1] > 4 * times[2]     # 16x the bytes once the GPU is full


def test_reduce_epilogue_rounds_add_at_the_end(cfg):
    spec = "reduce(rows=2048, cols=2048, dtype='fp32')"
    t = run(spec, cfg).time_s
    k, = kernels(spec, cfg)
    prog = lower(build_workload(spec), cfg)
    # the same program with the epilogue's rounds removed is faster by exactly those rounds
    bare = dataclasses.replace(prog, ops=tuple(dataclasses.replace(
        o, kernels=tuple(dataclasses.replace(x, tail_rounds=0.0) for x in o.kernels)) for o in prog.ops))
    t0 = run_program(bare, cfg).time_s
    rt = k.tail_rounds * (cfg.l2.latency + cfg.hbm.latency)
    assert t - t0 == pytest.approx(rt, rel=1e-3)


def test_more_loads_in_flight_never_slower(cfg):
    prog = lower(build_workload("reduce(rows=1, cols=16777216, dtype='bf16')"), cfg)

    def with_inflight(b):
        return dataclasses.replace(prog, ops=tuple(dataclasses.replace(
            o, kernels=tuple(dataclasses.replace(x, load_inflight=b) for x in o.kernels)) for o in prog.ops))
    times = [run_program(with_inflight(b), cfg).time_s for b in (8, 16, 32, 64, 128)]
    assert all(a >= b for a, b in zip(times, times[1:]))
    assert times[0] > times[-1]          # one-stream 8-B loads are miss-bound, 128 B are not


# ---- streaming kernels ---------------------------------------------------------------------------

def test_elementwise_fp32_keeps_more_bytes_in_flight():
    assert vendor.elementwise_inflight(4) == 32 and vendor.elementwise_inflight(2) == 16


@pytest.mark.parametrize("spec", ["add(n=8388608, dtype='bf16')", "relu(n=16777216, dtype='fp32')",
                                  "add(n=67108864, dtype='fp32')"])
def test_stream_store_phase_follows_load_phase(cfg, spec):
    res = run(spec, cfg)
    k, = kernels(spec, cfg)
    reads = sum(a.nbytes for a in k.accesses if not a.write)
    writes = sum(a.nbytes for a in k.accesses if a.write)
    # at least the DRAM reads at the HBM rate plus the stores through every SM's LSU
    store = writes / (cfg.sm.count * cfg.sm.lsu_bytes_per_cycle * cfg.clocks.boost)
    assert res.time_s >= res.dram_read_bytes / cfg.hbm.bandwidth + store
    assert res.time_s >= (res.dram_read_bytes + res.dram_write_bytes) / cfg.hbm.bandwidth
    assert res.dram_read_bytes <= reads * 1.01


def test_stream_time_monotone_in_size(cfg):
    prev = 0.0
    for n in (1 << 16, 1 << 20, 1 << 22, 1 << 24, 1 << 26):
        t = run(f"add(n={n}, dtype='bf16')", cfg).time_s
        assert t > prev
        prev = t


# ---- copies --------------------------------------------------------------------------------------

@pytest.mark.parametrize("n", [1 << 18, 3 << 20, 1 << 24, 1 << 26])
def test_memcpy_bounded_by_l2_side_and_dram_side_rates(cfg, n):
    for start in ("cold", "warm"):
        res = run(f"copy(n={n}, dtype='fp32')", cfg, l2_start=start, repeat=2)
        moved = 2 * 4 * n                          # read + written
        assert res.time_s >= moved / cfg.launch.copy_engine_l2_bandwidth
        assert res.time_s >= (res.dram_read_bytes + res.dram_write_bytes) / cfg.launch.copy_engine_bandwidth


def test_l2_resident_copy_is_faster_than_dram_rate(cfg):
    n = 3 << 20                                     # 12.6 MB each way: both sides fit in L2
    warm = run(f"copy(n={n}, dtype='fp32')", cfg, l2_start="warm", repeat=2).time_s
    cold = run(f"copy(n={n}, dtype='fp32')", cfg, l2_start="cold").time_s
    assert warm <= cold
    assert cold >= 4 * n / cfg.launch.copy_engine_bandwidth   # its reads come from DRAM
    # faster than moving all its bytes at the DRAM-side rate (what a >= 60 MB copy does)
    assert warm < 2 * 4 * n / cfg.launch.copy_engine_bandwidth
    # without an L2-side rate of its own, the engine moves every byte at the DRAM-side rate
    flat = dataclasses.replace(cfg, launch=dataclasses.replace(cfg.launch, copy_engine_l2_bandwidth=0.0))
    assert run(f"copy(n={n}, dtype='fp32')", flat, l2_start="warm", repeat=2).time_s > warm


# ---- RMS norm --------------------------------------------------------------------------------------

@pytest.mark.parametrize("rows,cols", [(256, 4096), (4096, 4096), (16384, 1024)])
def test_rms_norm_no_slower_than_layer_norm(cfg, rows, cols):
    ln = run(f"layernorm(rows={rows}, cols={cols})", cfg)
    rms = run(f"layernorm(rows={rows}, cols={cols}, rms=True)", cfg)
    assert rms.time_s <= ln.time_s
    assert rms.time_s >= (rms.dram_read_bytes + rms.dram_write_bytes) / cfg.hbm.bandwidth
    assert vendor.RMSNORM_CHAIN[1] < vendor.LAYERNORM_CHAIN[1]


# ---- both engines ------------------------------------------------------------------------------

@pytest.mark.parametrize("spec,start", [("reduce(rows=8192, cols=2048, dtype='fp32')", "cold"),
                                        ("add(n=8388608, dtype='fp32')", "cold"),
                                        ("copy(n=3145728, dtype='fp32')", "warm")])
def test_formula_and_components_agree(cfg, spec, start):
    a = run(spec, cfg, l2_start=start, repeat=2, engine="formula").time_s
    b = run(spec, cfg, l2_start=start, repeat=2, engine="components").time_s
    assert b == pytest.approx(a, rel=1e-6, abs=1e-11)


# ---- softmax backward ------------------------------------------------------------------------------

@pytest.mark.parametrize("cols,row_kernel", [(512, "softmax_warp_backward"), (4096, "cunn_SoftMaxBackwardSmem")])
def test_softmax_backward_is_product_then_row_kernel(cfg, cols, row_kernel):
    from archsim.graph import GraphBuilder
    from archsim.graph.training import training_graph
    b = GraphBuilder("sm", "bf16")
    b.softmax(b.param("x", (4096, cols)), name="softmax")
    g = training_graph(b.build(), precision="pure")
    prog = lower(g, cfg)
    bwd = [o for o in prog.ops if o.kind == "softmax_bwd"]
    assert len(bwd) == 1
    names = [k.name for k in bwd[0].kernels]
    assert names == ["vectorized_elementwise_kernel<mul>", row_kernel]
    assert not any(k.approximate for k in bwd[0].kernels)
    res = run_program(prog, cfg)
    op = next(o for o in res.ops if o.kind == "softmax_bwd")
    # the product is written and read back: at least dY, Y twice and dX through DRAM or L2
    assert op.time_s >= 3 * 4096 * cols * 2 / cfg.l2.bandwidth
