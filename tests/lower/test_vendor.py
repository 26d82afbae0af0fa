"""The vendor-library heuristic (tile shape, split-K, CTA count) and the bsp lowering."""
import math
from pathlib import Path

import pytest

from archsim.config import load_config
from archsim.graph import build_workload
from archsim.lower import lower, occupancy, plan_gemm
from archsim.lower import vendor


@pytest.fixture(scope="module")
def cfg():
    return load_config("hwconfigs/h200.yaml")


def test_big_gemm_uses_a_big_tile_persistent(cfg):
    p = plan_gemm(8192, 8192, 8192, 1, "bf16", cfg)
    assert p.pipe == "tensor" and p.split_k == 1
    assert p.tile_m * p.tile_n >= 256 * 128          # calibration: 320x128
    assert p.persistent and p.ctas == cfg.sm.count    # grid (2, 66)
    assert p.tiles == math.ceil(8192 / p.tile_n) * math.ceil(8192 / p.tile_m)


def test_decode_gemm_splits_k_to_fill_the_sms(cfg):
    p = plan_gemm(16, 4096, 4096, 1, "bf16", cfg)
    assert p.split_k > 1                               # calibration: 64x16 splitK, 128 CTAs
    assert p.tile_m <= 32
    assert p.ctas <= cfg.sm.count


def test_small_gemm_uses_small_tiles_single_wave(cfg):
    p = plan_gemm(128, 768, 768, 1, "bf16", cfg)
    assert p.tile_m * p.tile_n <= 64 * 32 and not p.persistent
    assert p.ctas <= cfg.sm.count


def test_fp32_runs_on_simt_without_tf32(cfg):
    p = plan_gemm(4096, 4096, 4096, 1, "fp32", cfg)
    assert p.pipe == "simt" and p.name("fp32").startswith("sm80_xmma_gemm_f32f32")
    assert (p.tile_n, p.tile_m) == (256, 128)          # calibration: tilesize256x128x8, 512 CTAs
    assert p.ctas == 512


def test_occupancy_tightest_resource(cfg):
    assert occupancy(128, 32, 0, cfg) == 16            # threads: 2048 / 128
    assert occupancy(32, 32, 0, cfg) == cfg.sm.max_ctas  # CTA slots
    assert occupancy(384, 168, 200 * 1024, cfg) == 1   # shared memory
    assert occupancy(256, 255, 0, cfg) == 1            # registers


def test_pytorch_grids_match_calibration():
    assert vendor.elementwise_grid(16777216) == (16384, 128)
    assert vendor.elementwise_grid(65536) == (64, 128)
    assert vendor.softmax_plan(49152, 128)[1] == 6144
    assert vendor.softmax_plan(4096, 32000)[:3] == ("cunn_SoftMaxForward", 4096, 1024)
    assert vendor.gather_plan(65536, 768 * 4) == (65536, 192)


@pytest.mark.parametrize("spec,kinds", [
    ("gemm(M=256, N=4096, K=11008)", ["gemm", "stream"]),       # split-K + splitKreduce
    ("mul_add(n=65536)", ["stream", "stream"]),                 # two eager kernels
    ("softmax(rows=64, cols=4000)", ["row"]),
    ("layernorm(rows=64, cols=768)", ["row"]),
    ("attention(B=2, H=4, S=256, D=64)", ["dma", "attention"]),  # cuDNN's memset, then fprop
    ("conv2d(N=2, C=64, K=64, H=14, W=14, R=3)", ["gemm"]),
    ("conv2d(N=2, C=1, K=8, H=16, W=16, R=5)", ["stream"]),    # direct SIMT convolution
    ("gather(table_rows=1000, dim=64, n=100)", ["gather"]),
    ("copy(n=4096)", ["dma"]),                                  # copy engine
    ("transpose(rows=256, cols=128)", ["stream"]),             # strided-store copy
    ("pool(N=2, C=8, H=16, W=16)", ["row"]),                   # max_pool_forward_nhwc
])
def test_every_kind_lowers(cfg, spec, kinds):
    prog = lower(build_workload(spec), cfg)
    assert [k.model for k in prog.kernels] == kinds
    for k in prog.kernels:
        assert k.ctas >= 1 and k.units >= 1 and k.block >= 1
        for a in k.accesses:
            if a.kind != "gemm":
                assert a.buffer in prog.buffers


def test_roofline_kinds_are_marked_approximate(cfg):
    from archsim.graph import GraphBuilder
    b = GraphBuilder("p", "bf16")
    b.pool(b.input("x", (2, 16, 16, 8)), 2, 2, fn="avg", name="avgpool")   # no avg-pool model
    prog = lower(b.build(), cfg)
    assert all(k.approximate for k in prog.kernels)
    prog = lower(build_workload("transpose(rows=256, cols=128)"), cfg)     # modelled (issue 15)
    assert not any(k.approximate for k in prog.kernels) and prog.kernels[0].l2_scale > 1
    prog = lower(build_workload("add(n=1024)"), cfg)
    assert not any(k.approximate for k in prog.kernels)


def test_views_alias_and_launch_nothing(cfg):
    from archsim.graph import GraphBuilder
    b = GraphBuilder("v")
    x = b.input("x", (4, 256))
    y = b.view(x, (1024,))
    b.relu(y)
    prog = lower(b.build(), cfg)
    assert len(prog.kernels) == 1
    acc = prog.kernels[0].accesses[0]
    assert acc.buffer == x.name                         # the view reads its source buffer


def test_buffers_do_not_overlap(cfg):
    prog = lower(build_workload("mul_add(n=100000)"), cfg)
    spans = sorted((b.addr, b.addr + b.nbytes) for b in prog.buffers.values())
    assert all(a[1] <= b[0] for a, b in zip(spans, spans[1:]))


def test_cudnn_implicit_gemm_plans_match_the_measured_kernels(cfg):
    # sm90_xmma_fprop_implicit_gemm ... tilesize{M}x{N}x{K}, grids as Nsight Compute saw them
    p = vendor.plan_conv_implicit(32 * 28 * 28, 128, 128 * 9, "bf16", cfg)
    assert (p.tile_m, p.tile_n, p.k_step, p.ctas) == (128, 128, 32, 120)     # grid (15, 8)
    p = vendor.plan_conv_implicit(32 * 56 * 56, 64, 64 * 9, "bf16", cfg)
    assert (p.tile_m, p.tile_n, p.k_step, p.ctas) == (64, 64, 64, 120)
    p = vendor.plan_conv_implicit(32 * 7 * 7, 512, 512 * 9, "bf16", cfg)
    assert (p.tile_m, p.tile_n, p.k_step, p.ctas) == (128, 64, 64, 104)      # grid (104, 1)
    assert vendor.conv_name(p).endswith("tilesize128x64x64_warpgroupsize1x1x1")


def test_1x1_conv_goes_to_cublas(cfg):
    prog = lower(build_workload("conv2d(N=32, C=256, K=1024, H=14, W=14, R=1)"), cfg)
    assert prog.kernels[0].name.startswith("nvjet")
    prog = lower(build_workload("conv2d(N=32, C=128, K=128, H=28, W=28, R=3)"), cfg)
    assert prog.kernels[0].name.startswith("sm90_xmma_fprop_implicit_gemm")


def test_attention_plan_packs_gqa_heads_for_decode_and_tiles_prefill():
    from archsim.lower.vendor import plan_attention
    # decode: 1 query x 4 heads sharing a K/V head -> one unit per (batch, K/V head), 16 rows
    assert plan_attention(64, 32, 1, 132, Hkv=8) == (64 * 8, 132, 16, 4)
    # prefill: one unit per (batch, head, 128-query tile)
    assert plan_attention(1, 32, 2048, 132, Hkv=8) == (32 * 16, 132, 128, 1)
    # multi-head (no GQA) at 128 queries: the two layouts coincide
    units, _, bq, _ = plan_attention(32, 12, 128, 132)
    assert (units, bq) == (32 * 12, 128)


def test_decode_attention_is_bound_by_streaming_the_kv_cache():
    from archsim.config import load_config
    from archsim.graph import build_workload
    from archsim.simulate import simulate
    cfg = load_config(Path(__file__).resolve().parents[2] / "hwconfigs" / "h200.yaml")
    g = build_workload("attention(B=64, H=32, S=1, Skv=2048, D=128, Hkv=8)")
    kv = sum(t.nbytes for t in g.ops[0].inputs[1:3])
    res = simulate(g, cfg)
    assert res.time_s >= kv / cfg.hbm.peak_bandwidth
    assert res.time_s <= 1.5 * kv / cfg.hbm.bandwidth + 10e-6   # not MMA-bound on padded tiles


def test_softmax_warp_kernel_up_to_2048_columns():
    # h200-fidelity2-cal.json: 512x2048 and 768x1536 bf16 run softmax_warp_forward, 256x4096 the
    # block kernel; PyTorch also caps the warp kernel's row at 8 KiB
    assert vendor.softmax_plan(512, 2048)[0] == "softmax_warp_forward"
    assert vendor.softmax_plan(256, 4096)[0] == "cunn_SoftMaxForward"
    assert vendor.softmax_plan(512, 2048, esize=8)[0] == "cunn_SoftMaxForward"


def test_conv_grad_plans_match_the_measured_kernels(cfg):
    # sm90_xmma_dgrad/wgrad_implicit_gemm tiles (h200-fidelity2-cal.json F2-K91, K95, K90)
    p = vendor.plan_conv_grad(32 * 14 * 14, 256, 256 * 9, "bf16", cfg)
    assert (p.tile_m, p.tile_n, p.ctas, p.split_k) == (128, 128, 98, 1)
    p = vendor.plan_conv_grad(32 * 7 * 7, 512, 512 * 9, "bf16", cfg)
    assert (p.tile_m, p.tile_n, p.ctas) == (128, 64, 104)
    p = vendor.plan_conv_grad(64, 64 * 9, 32 * 56 * 56, "bf16", cfg, split_k=True)
    assert (p.tile_m, p.tile_n) == (64, 64) and p.split_k > 8 and p.ctas <= cfg.sm.count


def test_training_convs_lower_to_tensor_core_kernels(cfg):
    from archsim.graph.training import training_graph
    from archsim.graph import GraphBuilder
    b = GraphBuilder("c", "bf16")
    b.conv2d(b.param("x", (8, 28, 28, 64)), 64, 3, stride=1, pad=1, name="conv")
    prog = lower(training_graph(b.build()), cfg)
    names = {k.op_kind: k.name for k in prog.kernels}
    assert names["conv2d_dgrad"].startswith("sm90_xmma_dgrad_implicit_gemm")
    assert names["conv2d_wgrad"].startswith("sm90_xmma_wgrad_implicit_gemm") or \
        names["conv2d_wgrad"].startswith("cublasLt::splitKreduce")
    assert all(not k.approximate for k in prog.kernels if k.op_kind.startswith("conv2d"))


def test_stem_conv_pads_channels_then_runs_cutlass(cfg):
    prog = lower(build_workload("conv2d(N=32, C=3, K=64, H=224, W=224, R=7, stride=2)"), cfg)
    assert [k.name for k in prog.kernels][:2] == ["nhwcAddPaddingKernel"] * 2
    assert prog.kernels[2].name.startswith("cutlass_tensorop_bf16_s16816fprop")
    assert prog.kernels[2].tile.K == 8 * 49            # C padded to 8, 7x7 taps
    prog = lower(build_workload("conv2d(N=1, C=3, K=64, H=224, W=224, R=7, stride=2)"), cfg)
    assert prog.kernels[0].name == "convolve_common_engine_float_NHWC"   # batch 1: direct


def test_attention_backward_is_three_cudnn_kernels(cfg):
    from archsim.graph.training import training_graph
    from archsim.graph import GraphBuilder
    b = GraphBuilder("a", "bf16")
    q, k, v = (b.param(n, (2, 4, 256, 64)) for n in "qkv")
    b.attention(q, k, v, name="attn")
    prog = lower(training_graph(b.build()), cfg)
    bwd = [k for k in prog.kernels if k.op_kind == "attention_bwd"]
    # a cudaMemsetAsync first (the kernel lists show one before compute_dot_do_o), then cuDNN's three
    assert [k.model for k in bwd] == ["dma", "stream", "attention", "stream"]
    assert bwd[2].tile.mma_factor == 2.5 and bwd[2].tensor_flops > 0
