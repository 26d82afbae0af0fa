"""Issue 15, fourth stage: convolutions and the ResNet-50 training step. cuDNN's persistent grid
by thread-block cluster, its tile and segment-K choices, the data / weight gradient kernels it
runs (cuBLAS for most 1x1 data gradients, the strided 'indexed' dgrad, the padded cutlass stem
wgrad) and batch norm's parameter gradients in a training graph. Expected values are kernel
names, grids and counts read from the measurements (benchmarks/data/h200-fidelity2-cal6.json,
h200-fidelity2-cal.json's ResNet-50 steps) or follow from the definitions, never from the code
under test."""
import pytest

from archsim.config import load_config
from archsim.graph import GraphBuilder, build_workload
from archsim.graph.training import training_graph
from archsim.hw.gpu import run_program
from archsim.lower import lower, vendor


@pytest.fixture(scope="module")
def cfg():
    from archsim.cli import resolve_hw
    return load_config(resolve_hw("h200"))


def _ops(g, kind):
    return [op for op in g.ops if op.kind == kind]


# ---- batch norm's parameter gradients ----------------------------------------------------------

def test_resnet_batch_norm_backward_writes_the_parameter_gradient_itself():
    # the measured AMP step (F2-M6) launches, per batch norm, backward_reduce + backward_elemt
    # and nothing else: no fill, strided copy, prep backward or cast of its parameters
    fwd = build_workload("resnet50(batch=2, stage_blocks=(1, 1, 1, 1))")
    g = training_graph(fwd, optimizer="sgd")
    bwd = _ops(g, "batchnorm_bwd")
    n_bn = len(_ops(g, "batchnorm_stats"))
    assert n_bn > 0 and len(bwd) == n_bn
    params = {t.name for t in fwd.params()}
    for op in bwd:
        grads = op.attrs["grads"].values()
        assert any(p in params and p.endswith("running_stats") for p in grads)
    back = [op for op in g.ops if op.attrs.get("phase") == "backward"]
    assert not any(op.attrs.get("fn") in ("fill", "slice_copy", "bn_prep_bwd") for op in back)
    assert not any(op.kind == "copy" and ".bn." in op.name for op in back)
    # every batch-norm parameter still gets its optimizer update
    upd = [op for op in g.ops if op.attrs.get("phase") == "optimizer" and "running_stats" in op.name]
    assert len(upd) == n_bn


# ---- forward grids and tiles ------------------------------------------------------------------

def test_persistent_conv_grid_follows_the_cluster(cfg):
    # ncu: clusters of 1 or 2 launch 132 CTAs, of 4 or 8 launch 120 (grids (15, 8), (30, 4))
    assert vendor.CONV_CLUSTER_CTAS[2] == 132 and vendor.CONV_CLUSTER_CTAS[8] == 120
    # one N tile (128 output channels, 128-wide tiles) clusters along M: 120 CTAs (F6-K15)
    p = vendor.plan_conv_implicit(128 * 28 * 28, 128, 128 * 9, "bf16", cfg)
    assert (p.tile_m, p.tile_n, p.ctas) == (128, 128, 120)
    # two N tiles: clusters of 2, 132 CTAs (F6-K05..K07: 96-120 x 14x14x256)
    p = vendor.plan_conv_implicit(112 * 14 * 14, 256, 256 * 9, "bf16", cfg)
    assert (p.tile_m, p.tile_n, p.ctas) == (128, 128, 132)


def test_64_channel_3x3_tiles_as_measured(cfg):
    # F6-K20 (64 x 56x56x64): 256x64x32 on (15, 8); F6-K18 (32 x 56x56x64): 64x64x64 on (15, 8)
    p = vendor.plan_conv_implicit(64 * 56 * 56, 64, 64 * 9, "bf16", cfg)
    assert (p.tile_m, p.tile_n, p.k_step, p.ctas) == (256, 64, 32, 120)
    p = vendor.plan_conv_implicit(32 * 56 * 56, 64, 64 * 9, "bf16", cfg)
    assert (p.tile_m, p.tile_n, p.k_step, p.ctas) == (64, 64, 64, 120)


def test_segment_k_for_long_reductions_between_one_and_two_waves(cfg):
    # F2-K08 (128 x 7x7x512 3x3): execute_segment_k_on on 132 CTAs, no reduction kernel
    prog = lower(build_workload("conv2d(N=128, C=512, K=512, H=7, W=7, R=3)"), cfg)
    assert len(prog.kernels) == 1 and prog.kernels[0].grid[0] * prog.kernels[0].grid[1] == 132
    # the same size at stride 2 ran segment-K off (F6-K41): one tile per unit
    p = vendor.plan_conv_implicit(128 * 7 * 7, 512, 512 * 9, "bf16", cfg, stride=2)
    assert p.split_k == 1
    # 256 channels (K = 2304) never did (F2-K05)
    assert vendor.plan_conv_implicit(64 * 14 * 14, 256, 256 * 9, "bf16", cfg).split_k == 1


def test_1x1_conv_of_64_channels_runs_xmma_only_at_large_batch(cfg):
    # F2-M7 (batch 128): layer1 conv3 / downsample ran sm90_xmma_fprop ... 64x128x64; F5-K00
    # (batch 32, same layer) ran nvjet
    big = lower(build_workload("conv2d(N=128, C=64, K=256, H=56, W=56, R=1)"), cfg)
    assert big.kernels[0].name.startswith("sm90_xmma_fprop") and "64x128x64" in big.kernels[0].name
    small = lower(build_workload("conv2d(N=32, C=64, K=256, H=56, W=56, R=1)"), cfg)
    assert small.kernels[0].name.startswith("nvjet")


# ---- gradients --------------------------------------------------------------------------------

def _grad_kernels(cfg, spec, kind):
    # the input is a parameter so that it gets a gradient (as the correlator maps conv grads)
    from archsim.graph.spec import parse_spec
    _, a = parse_spec(spec)
    b = GraphBuilder("conv", "bf16")
    b.conv2d(b.param("x", (a["N"], a["H"], a["W"], a["C"])), a["K"], a["R"], stride=a.get("stride", 1),
             pad=a["R"] // 2, name="conv")
    g = training_graph(b.build(), precision="pure")
    prog = lower(g, cfg)
    names = {op.name for op in _ops(g, kind)}
    return [k for k in prog.kernels if k.op in names]


def test_1x1_dgrad_on_cublas_except_256_to_64_at_batch_32(cfg):
    # measured: F6-K70..K77 (batch 128) all nvjet; F2-K93 (batch 32, 256 <- 64) sm90_xmma_dgrad
    for spec in ("conv2d(N=128, C=256, K=64, H=56, W=56, R=1)",
                 "conv2d(N=128, C=512, K=2048, H=7, W=7, R=1)"):
        ks = _grad_kernels(cfg, spec, "conv2d_dgrad")
        assert ks and ks[0].name.startswith("nvjet")
    ks = _grad_kernels(cfg, "conv2d(N=32, C=256, K=64, H=56, W=56, R=1)", "conv2d_dgrad")
    assert ks[0].name.startswith("sm90_xmma_dgrad")


def test_strided_dgrad_pays_more_taps_and_a_1x1_stores_its_zeros():
    at = dict(N=2, C=8, K=16, H=8, W=8, R=3, S=3, stride=2)
    M, K = vendor.dgrad_reduction(at)
    # between the forward's average (9/4 taps) and the largest phase's 2x2 taps
    assert M == 2 * 8 * 8 and 16 * 9 / 4 < K < 16 * 4
    M, K = vendor.dgrad_reduction(dict(at, R=1, S=1))
    assert (M, K) == (2 * 8 * 8 // 4, 16)   # one phase of four has a tap
    assert vendor.dgrad_reduction(dict(at, stride=1)) == (2 * 8 * 8, 16 * 9)


def test_stem_wgrad_is_cudnns_padded_split_k_kernel(cfg):
    # F2-K99 / F6-K79: nhwcAddPadding, cutlass implicit-GEMM wgrad grid (4, 1, 60), ReduceSplitK,
    # nhwcAddPadding
    ks = _grad_kernels(cfg, "conv2d(N=32, C=3, K=64, H=224, W=224, R=7, stride=2)", "conv2d_wgrad")
    names = [k.name for k in ks]
    assert names[0] == names[-1] == "nhwcAddPaddingKernel"
    assert "wgrad" in names[1] and ks[1].units == 4 * 60
    assert names[2] == "cutlass::reduction::ReduceSplitK" and len(ks) == 4


def test_resnet_training_step_has_the_measured_kernel_counts(cfg):
    # F2-M6's CUPTI list: 22 xmma dgrad, 19 xmma fprop launches, 32 residual adds (fwd + bwd)
    g = training_graph(build_workload("resnet50(batch=32)"), optimizer="sgd")
    prog = lower(g, cfg)
    dgrad = [k for k in prog.kernels if k.name.startswith("sm90_xmma_dgrad")]
    fprop = [k for k in prog.kernels if k.name.startswith("sm90_xmma_fprop")]
    adds = [op for op in g.ops if op.kind == "elementwise" and op.attrs.get("fn") == "add"]
    assert 19 <= len(dgrad) <= 22 and len(fprop) == 19 and len(adds) == 32
    t = run_program(prog, cfg).time_s
    assert t > 0
