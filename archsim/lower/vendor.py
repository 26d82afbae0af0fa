"""Vendor-library choices, made explicit: what cuBLAS / cuDNN / PyTorch would launch for an op.

Everything here is a small pure function of shapes and the machine config, so each choice can
be tested on its own (tests/lower/test_vendor.py).

GEMM (cuBLAS "nvjet" kernels, bf16/fp16 on tensor cores). PyTorch's row-major C[M,N] = A[M,K] B[K,N]
is cuBLAS's column-major C^T = B^T A^T, so in a kernel name `nvjet_sm90_tst_256x128_64x4` the
first tile number runs along N, the second along M; 64 is the K-step, 4 the pipeline stages.
The heuristic scores every (tile, split-K) candidate with a small cost model — waves of CTAs
(wave quantization) x K-steps x the cycles of one K-step (MMA issue + per-step overhead, or
the tile's operand load through the SM's bulk-copy path if slower) + the split-K reduction
kernel — and takes the cheapest, preferring the larger tile on ties. More tiles than SMs gives
a persistent kernel of one CTA per SM (grid (2, SMs/2)) looping over tiles, as nvjet does.
fp32 with TF32 off runs on the SIMT pipe (`sm80_xmma_gemm_f32f32..._tilesize256x128x8`).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

# (tile along N, tile along M): the nvjet tile shapes seen on Hopper (calibration kernel names)
TENSOR_TILES: tuple[tuple[int, int], ...] = (
    (64, 16), (64, 32), (64, 64), (128, 64), (128, 128), (192, 128), (128, 192),
    (256, 128), (128, 256), (192, 192), (320, 128),
)
SIMT_TILES: tuple[tuple[int, int], ...] = ((256, 128), (128, 128), (128, 64), (64, 64))
# threads per CTA of the sm80_xmma fp32 kernels (calibration: 256x128 -> 256 threads;
# held-out: 128x64 -> 128 threads, "warpsize2x2x1")
SIMT_TILE_THREADS = {(256, 128): 256, (128, 128): 256, (128, 64): 128, (64, 64): 64}
SIMT_LATENCY_WARPS = 2.1   # warps whose FFMA/LDS latency an SM hides at half issue rate


def simt_gemm_efficiency(warps_per_sm: int) -> float:
    """Fraction of SIMT issue slots an FFMA GEMM uses with this many warps per SM (latency
    hiding: W / (W + W0)); 8 warps (the 256x128 fp32 kernel) -> 0.79, as in the calibration."""
    return warps_per_sm / (warps_per_sm + SIMT_LATENCY_WARPS)
SPLITS = (1, 2, 3, 4, 6, 8)
K_STEP = 64          # bf16 K-step of every nvjet kernel in the calibration ("_64x<stages>")
SIMT_K_STEP = 8      # sm80_xmma fp32 kernels ("x8_stage3")
TMA_SMEM_LIMIT = 227 * 1024


@dataclass(frozen=True)
class GemmPlan:
    """One GEMM launch as a vendor library would configure it."""
    tile_n: int              # along N (cuBLAS m)
    tile_m: int              # along M (cuBLAS n)
    k_step: int
    stages: int
    split_k: int
    tiles: int               # output tiles (x batch)
    ctas: int                # CTAs launched
    persistent: bool
    pipe: str                # "tensor" or "simt"
    threads: int
    smem: int
    regs: int

    @property
    def units(self) -> int:
        return self.tiles * self.split_k

    def name(self, dtype: str) -> str:
        if self.pipe == "simt":
            return (f"sm80_xmma_gemm_f32f32_f32f32_f32_nn_n_tilesize{self.tile_n}x{self.tile_m}"
                    f"x{self.k_step}_stage{self.stages}")
        sk = "_splitK" if self.split_k > 1 else ""
        return f"nvjet_sm90_tst_{self.tile_n}x{self.tile_m}_{self.k_step}x{self.stages}{sk}_{dtype}"


def _smem_limit(cfg) -> int:
    """Shared memory one CTA may use: the Hopper TMA kernels' 227 KiB, or less where the SM has
    less (an A100 has 164 KiB), keeping 1 KiB the driver reserves per CTA."""
    return min(TMA_SMEM_LIMIT, cfg.sm.shared_memory - 1024)


def _stages(tile_n: int, tile_m: int, esize: int, limit: int = TMA_SMEM_LIMIT) -> int:
    """Pipeline stages that fit `limit` bytes of shared memory beside a 16 KiB epilogue buffer."""
    per_stage = (tile_n + tile_m) * K_STEP * esize
    return max(2, min(16, (limit - 16 * 1024) // per_stage))


def gemm_step_cycles(tile_m: int, tile_n: int, k_step: int, esize: int, rate: float,
                     overhead: float, load_bpc: float) -> float:
    """Cycles of one K-step of one tile on one SM: MMA issue or operand load, whichever is slower."""
    mma = 2.0 * tile_m * tile_n * k_step / rate + overhead
    load = (tile_m + tile_n) * k_step * esize / load_bpc
    return max(mma, load)


def tensor_gemm_plans(M: int, N: int, K: int, batch: int, esize: int, rate: float, cfg,
                      splits=None) -> list[tuple[float, int, int, int, int]]:
    """Every (tile, split-K) plan of a tensor-pipe GEMM with the heuristic's score (estimated
    cycles, lower is better), in candidate order: [(score, tile_n, tile_m, split, tiles)]."""
    sms = cfg.sm.count
    overhead = cfg.sm.mma_step_overhead
    load_bpc = cfg.sm.tma_bytes_per_cycle
    fixed_cycles = cfg.launch.kernel_fixed * cfg.clocks.tensor_boost
    dram_bpc = cfg.hbm.bandwidth / cfg.clocks.tensor_boost
    l2_bpc = cfg.l2.bandwidth / cfg.clocks.tensor_boost
    ksteps_total = math.ceil(K / K_STEP)
    plans = []
    for idx, (tn, tm) in enumerate(TENSOR_TILES):
        tiles = math.ceil(N / tn) * math.ceil(M / tm) * batch
        for split in (splits or SPLITS):
            if split > 1 and (ksteps_total < 8 * split or tiles * split > sms):
                continue  # split-K only to fill SMs in a single wave, with >= 8 K-steps per split
            units = tiles * split
            waves = math.ceil(units / sms)
            ksteps = math.ceil(ksteps_total / split)
            step = gemm_step_cycles(tm, tn, K_STEP, esize, rate, overhead, load_bpc)
            cyc = waves * (ksteps + 2) * step       # +2: pipeline fill and epilogue
            # L2 floor: beyond its first read, A is re-read once per further column of tiles
            # and B once per further row (small tiles on many SMs are L2-bound before they are
            # MMA-bound; without it 1.5x the SMs picked a plan 25 % slower:
            # benchmarks/sanity_sms.py). The first reads are the same for every plan.
            rereads = (M * (math.ceil(N / tn) - 1) + N * (math.ceil(M / tm) - 1)) * K * esize
            cyc = max(cyc, rereads * batch / l2_bpc)
            if split > 1:  # fp32 partials written, then a reduction kernel reads them back
                cyc += fixed_cycles + (split + 1) * M * N * batch * 4 / dram_bpc
            # prefer bigger tiles a little (fewer L2 re-reads, lower power per flop)
            plans.append((cyc * (1.0 - 0.002 * idx), tn, tm, split, tiles))
    return plans


def plan_gemm(M: int, N: int, K: int, batch: int, dtype: str, cfg,
              splits: tuple[int, ...] | None = None) -> GemmPlan:
    """The launch a cuBLAS-like library picks for C[b,M,N] = A[b,M,K] B[b,K,N].

    `splits` restricts the split-K factors considered (default: all of SPLITS; None is returned
    when none of them fits); the lowering's autotuner asks for the best plan of each split-K
    factor to time them."""
    sms = cfg.sm.count
    esize = 4 if dtype in ("fp32", "tf32") else (1 if dtype in ("fp8", "int8") else 2)
    if dtype == "fp32":  # TF32 off: the SIMT pipe
        rate = cfg.sm.simt_flops_per_cycle.get("fp32", 256)
        best = None
        for idx, (tn, tm) in enumerate(SIMT_TILES):
            tiles = math.ceil(N / tn) * math.ceil(M / tm) * batch
            waves = math.ceil(tiles / sms)
            eff = simt_gemm_efficiency(SIMT_TILE_THREADS[(tn, tm)] // 32)
            cyc = waves * math.ceil(K / SIMT_K_STEP) * 2.0 * tm * tn * SIMT_K_STEP / (rate * eff)
            key = (cyc * (1.0 + 0.02 * idx), )
            if best is None or key < best[0]:
                best = (key, tn, tm, tiles)
        _, tn, tm, tiles = best
        return GemmPlan(tn, tm, SIMT_K_STEP, 3, 1, tiles, tiles, False, "simt",
                        SIMT_TILE_THREADS[(tn, tm)], 3 * (tn + tm) * SIMT_K_STEP * 4, 232)
    rate = cfg.sm.tensor_flops_per_cycle.get(dtype, cfg.sm.tensor_flops_per_cycle.get("bf16", 4096))
    plans = tensor_gemm_plans(M, N, K, batch, esize, rate, cfg, splits)
    if not plans:  # only when `splits` excludes 1 and no split-K plan fits
        return None
    best = min(plans, key=lambda p: p[0])
    _, tn, tm, split, tiles = best
    units = tiles * split
    persistent = units > sms
    ctas = sms if persistent else units
    limit = _smem_limit(cfg)
    stages = _stages(tn, tm, esize, limit)
    return GemmPlan(tn, tm, K_STEP, stages, split, tiles, ctas, persistent,
                    "tensor", 384, min(limit, stages * (tn + tm) * K_STEP * esize), 168)


# cuDNN sm90 xmma implicit-GEMM convolution (3x3 and larger filters): one consumer warpgroup,
# a persistent grid of at most 120 CTAs ((15, 8) in every calibration/held-out case)
CONV_PERSISTENT_CTAS = 120


# The persistent grid is sized by the thread-block cluster cuDNN launches (Nsight Compute's
# launch__cluster_* columns, h200-fidelity2-cal5.json raw CSV and h200-fidelity2-cal6.json): all
# clusters the GPCs can hold at once, times the cluster size. On the H200 clusters of 1 or 2 give
# 132 CTAs, of 4 or 8 120 (30 x 4, 15 x 8), of 3 117, of 5 110, of 7 105. Which cluster cuDNN's
# heuristic picks is not a function of the shape we could find; the rule kept is the one the
# calibration sweep supports where it changes the wave count: output channels that fit one N tile
# cluster along M (4 or 8 CTAs multicast the filter tile: 120 CTAs; F5-K10, F5-K12, F5-K15,
# F6-K12..K22), several N tiles run clusters of 2 (132 CTAs: F2-K06, F5-K06, F5-K11, F6-K04..K10,
# F6-K28, F6-K34, F6-K39, F6-K41). Exceptions seen: F5-K08 (16 N tiles, 120 CTAs) and shapes of
# at most two waves either way (F2-K05, F6-K26, F6-K27, F6-K29), where the count changes no wave.
# Strided 1x1 convolutions keep 120 CTAs (measured 132, 132, 120 on F5-K06..K08): their per-tile
# time misses the strided input gather, which 132 CTAs would expose (F5-K07 -19 % instead of -5 %).
CONV_BIG_TILE_EFF = 0.9       # [cal] a 256x64x32 tile's time over four 64x64x64 tiles' in
                              # cuDNN's choice between them (F6-K18..K22, F5-K12)
SEGMENT_K_MIN_K = 4096        # [cal] reduction length (C x R x S) from which cuDNN's segment-K
                              # kernel ran (C = 512 3x3: F2-K08, F6-K26; C = 256 never: F2-K05)
CONV1X1_XMMA_MIN_PIXELS = 1 << 17   # [cal] 1x1 convolutions of 64 input channels into >= 256
                                    # outputs run cuDNN's xmma 64x128x64 kernel above this many
                                    # output pixels (batch-128 ResNet-50 step F2-M7, layer1 conv3
                                    # and downsample); cuBLAS nvjet below (F5-K00, step F2-M6)
CONV_CLUSTER_CTAS = {1: 132, 2: 132, 3: 117, 4: 120, 5: 110, 7: 105, 8: 120}


def conv1x1_on_xmma(at: dict) -> bool:
    """A stride-1 1x1 convolution that cuDNN runs as its own implicit GEMM rather than cuBLAS."""
    return (at["R"] * at["S"] == 1 and at.get("stride", 1) == 1 and at.get("groups", 1) == 1
            and at["C"] <= 64 and at["K"] >= 256
            and at["N"] * at["P"] * at["Q"] > CONV1X1_XMMA_MIN_PIXELS)


def plan_conv1x1_xmma(M: int, N: int, K: int, cfg, esize: int = 2) -> GemmPlan:
    tm, tn, tk = 64, 128, 64
    tiles = math.ceil(M / tm) * math.ceil(N / tn)
    ctas = min(tiles, cfg.sm.count)
    return GemmPlan(tn, tm, tk, 4, 1, tiles, ctas, tiles > ctas, "tensor", 256,
                    min(_smem_limit(cfg), 4 * (tm + tn) * tk * esize), 168)


def conv_persistent_ctas(n_tiles: int, sms: int) -> int:
    """CTAs of cuDNN's persistent sm90 xmma forward convolution (see CONV_CLUSTER_CTAS)."""
    if n_tiles == 1:
        return min(sms, CONV_PERSISTENT_CTAS)
    return sms


def plan_conv_implicit(M: int, N: int, K: int, dtype: str, cfg, filter_taps: int = 9,
                       stride: int = 1) -> GemmPlan:
    """sm90_xmma_fprop_implicit_gemm_..._tilesize{tm}x{tn}x{tk}_warpgroupsize1x1x1.

    Tile N is 128 when the output channels are a multiple of 128 and 128-row tiles alone fill
    the SMs, else 64; tile M is 128 unless the N tile is 64 and there are plenty of M tiles;
    the K-step is 32 for 128x128 tiles (shared-memory budget), else 64. Seen in the data:
    C=K=128 28x28 -> 128x128x32, C=K=64 56x56 -> 64x64x64, C=K=512 7x7 -> 128x64x64.
    """
    sms = cfg.sm.count
    mt128 = math.ceil(M / 128)
    # issue 15 (h200-fidelity2-cal.json): 256 or more output channels take 128-wide N tiles
    # with a 64-deep K-step even when 128-row tiles do not fill the SMs (14x14x256 -> 128x128x64)
    # with 128-wide tiles still filling half the SMs (14x14x256 -> 128x128x64, 7x7x512 at batch
    # 32 -> 128x64x64); very long M (>= 2 x SMs of 128-row tiles: 64x28x28x128 and 256x14x14x256)
    # -> 256-row tiles on a grid of one CTA per SM
    esize = 4 if dtype == "fp32" else 2
    # (a strided 1x1 convolution keeps 128x128 tiles at any M: h200-fidelity2-cal5.json F5-K06..K08)
    if mt128 >= 2 * sms and filter_taps > 1:
        # issue 15, fourth stage (h200-fidelity2-cal6.json sweep): at most 64 output channels
        # -> 256x64x32 tiles (F5-K12, F6-K17, F6-K19..K22; F6-K18 ran 64x64x64), 65-128 ->
        # 128x128x64 (F5-K10, F6-K13..K16; F2-K09 ran 256x64x64), both on a cluster-of-8 grid of
        # 120 CTAs (one N tile); more -> 256x128x64 on one CTA per SM
        tm, tn, tk = (256, 64, 32) if N <= 64 else (128, 128, 64) if N <= 128 else (256, 128, 64)
        cap = conv_persistent_ctas(1, sms)
        if N <= 64 and math.ceil(M / 64 / cap) < 4 * CONV_BIG_TILE_EFF * math.ceil(M / 256 / cap):
            tm, tk = 64, 64   # 64-row tiles quantize into fewer waves (F6-K18, batch 32: 64x64x64)
        tiles = math.ceil(M / tm) * math.ceil(N / tn)
        ctas = min(tiles, conv_persistent_ctas(math.ceil(N / tn), sms))
        return GemmPlan(tn, tm, tk, 4, 1, tiles, ctas, tiles > ctas, "tensor", 384,
                        min(_smem_limit(cfg), 4 * (tm + tn) * tk * esize), 168)
    if filter_taps > 1 and stride == 1 and N % 128 == 0 and K >= SEGMENT_K_MIN_K and \
            sms < mt128 * (N // 128) < 2 * sms:
        # issue 15, fourth stage: between one and two waves of 128x128 tiles with a long
        # reduction, cuDNN runs its segment-K kernel (`execute_segment_k_on`, after an
        # init_device_workspace kernel): the K loops of the tiles are cut into segments spread
        # evenly over the persistent CTAs (F2-K08, F6-K26: 7x7x512 at batch 128 and 96), here
        # two K segments per tile, their partial tiles combined inside the kernel (a stride-2
        # one of the same size ran segment-K off: F6-K41)
        tiles = mt128 * (N // 128)
        ctas = min(2 * tiles, conv_persistent_ctas(N // 128, sms))
        return GemmPlan(128, 128, 64, 4, 2, tiles, ctas, True, "tensor", 256,
                        min(_smem_limit(cfg), 4 * 256 * 64 * esize), 168)
    wide = N % 128 == 0 and (mt128 >= sms or (N >= 256 and 2 * mt128 * (N // 128) >= sms))
    tn = 128 if wide else 64
    tm = 128 if tn == 128 or mt128 * math.ceil(N / tn) < sms else 64
    if tn == 64 and tm == 128:
        # few tiles: 64-row tiles when their extra wave parallelism beats the larger tile's MMA
        # efficiency by the cost model (waves x K-steps x step cycles); h200-fidelity2-cal5.json
        # F5-K14 (8x7x7x512: 64x64x64 tiles) beside F2-K07 (32x7x7x512: 128x64x64)
        rate = cfg.sm.tensor_flops_per_cycle.get(dtype, cfg.sm.tensor_flops_per_cycle.get("bf16", 4096))
        ov = cfg.sm.single_warpgroup_step_overhead

        def cost(m):
            return math.ceil(math.ceil(M / m) * math.ceil(N / 64) / min(sms, CONV_PERSISTENT_CTAS)) * \
                (2.0 * m * 64 * 64 / rate + ov)
        tm = 64 if cost(64) < cost(128) else 128
    tk = 32 if tn == 128 and tm == 128 and N < 256 else 64
    tiles = math.ceil(M / tm) * math.ceil(N / tn)
    ctas = min(tiles, conv_persistent_ctas(math.ceil(N / tn), sms) if filter_taps > 1 else
               min(sms, CONV_PERSISTENT_CTAS))
    return GemmPlan(tn, tm, tk, 4, 1, tiles, ctas, tiles > ctas, "tensor", 256,
                    min(_smem_limit(cfg), 4 * (tm + tn) * tk * esize), 168)


# Stem convolutions (C < 8 input channels, e.g. RGB): cuDNN pads C to 8 (nhwcAddPaddingKernel
# on the input and on the filter), then runs a cutlass sm80 mma.sync implicit GEMM with 256x64
# tiles and 32-deep K-steps (`cutlass_tensorop_bf16_s16816fprop_optimized_bf16_256x64_32x4_nhwc
# _align8`, 128 threads, 2 CTAs per SM), or, when its 256-row tiles cannot fill the SMs (batch 1),
# the direct SIMT convolution (`convolve_common_engine_float_NHWC`).
STEM_PAD_C = 8
STEM_TILE = (256, 64, 32)     # (tile M, tile N, K-step)
STEM_STEP_EXTRA = 1900        # [cal] cycles per K-step beyond the MMA: the 7x7 taps of 8 channels
                              # gathered 16 B at a time (h200-fidelity2-cal.json F2-K01..K03:
                              # ~2,300 cycles per step at 2 CTAs per SM)
PAD_OPS_PER_ELEM = 40         # [cal] nhwcAddPaddingKernel lane-instructions per padded element
                              # (index math per channel; F2-K01..K03: 21-84 us for 13-51 M elems)


def plan_stem(M: int, N: int, K: int, cfg) -> GemmPlan:
    tm, tn, tk = STEM_TILE
    tiles = math.ceil(M / tm) * math.ceil(N / tn)
    return GemmPlan(tn, tm, tk, 4, 1, tiles, tiles, False, "tensor", 128,
                    4 * (tm + tn) * tk * 2, 232)


# Stem weight gradient (C < 8): cuDNN pads the input to 8 channels again (nhwcAddPaddingKernel),
# runs the cutlass sm80 implicit-GEMM wgrad dW[K, 8*R*S] = dY^T X_im2col with 64x128 tiles,
# 32-deep K-steps, 128 threads, split over the output pixels into ~60 slices (grid (4, 1, 60) at
# batch 32, (4, 1, 61) at 64 and 128: h200-fidelity2-cal.json F2-K99 / F2-M7, cal6 F6-K79), then
# cutlass's ReduceSplitK and a last padding kernel that writes the 3-channel gradient.
STEM_WGRAD_TILE = (64, 128, 32)      # (tile M = output channels, tile N = 8*R*S, K-step)
STEM_WGRAD_SPLIT = 60                # [cal] pixel slices (F2-K99: 60; F6-K79, F2-M7: 61)
STEM_WGRAD_STEP_EXTRA = 330          # [cal] cycles per K-step beyond the MMA: the strided 7x7
                                     # gather of the padded input and dY (F2-K99, F6-K79)


def plan_stem_wgrad(M: int, N: int, K: int, cfg) -> GemmPlan:
    tm, tn, tk = STEM_WGRAD_TILE
    tiles = math.ceil(M / tm) * math.ceil(N / tn)
    split = max(1, min(STEM_WGRAD_SPLIT, math.ceil(K / tk)))
    return GemmPlan(tn, tm, tk, 4, split, tiles, tiles * split, False, "tensor", 128,
                    4 * (tm + tn) * tk * 2, 232)


def conv_name(plan: GemmPlan, kind: str = "fprop") -> str:
    return (f"sm90_xmma_{kind}_implicit_gemm_bf16bf16_bf16f32_f32_nhwckrsc_nhwc_tilesize"
            f"{plan.tile_m}x{plan.tile_n}x{plan.k_step}_warpgroupsize1x1x1")


# cuDNN sm90 xmma dgrad / wgrad implicit GEMMs (h200-fidelity2-cal.json kernel names, tile
# M x N along the GEMM's M and N): 128x64, 128x128, 256x64, 256x128 (two consumer warpgroups),
# and 64x64 / 64x128 for wgrad's few output-channel rows; K-step 64; persistent grids of at
# most one CTA per SM; wgrad splits its long reduction (the pixels) to fill the SMs.
XMMA_TILES: tuple[tuple[int, int], ...] = (
    (64, 64), (64, 128), (128, 64), (256, 64), (128, 128), (256, 128))
XMMA_SPLITS = (1, 2, 3, 4, 6, 8, 12, 16)


def plan_conv_grad(M: int, N: int, K: int, dtype: str, cfg, split_k: bool = False) -> GemmPlan:
    """The xmma dgrad (split_k False) or wgrad (split_k True) implicit GEMM for C[M,N] = A[M,K]
    B[K,N]: the (tile, split) with the fewest busiest-SM cycles by the GEMM cost model
    (`gemm_step_cycles` with the one-warpgroup step overhead), larger tiles preferred on ties.
    Seen in the calibration: dgrad 14x14x256 -> 128x128 (98 CTAs), 7x7x512 -> 128x64 (104),
    1x1 56x56 -> 128x128 (132, persistent); wgrad 64 output channels -> 64x64 split 13."""
    sms = cfg.sm.count
    esize = 4 if dtype == "fp32" else 2
    if not split_k and N <= 64:
        # issue 15, fourth stage: a data gradient into at most 64 channels ran 128x64x32 tiles
        # in every measurement (F2-K89, F6-K42, F6-K49 and the ResNet-50 steps' layer1 3x3s)
        tiles = math.ceil(M / 128) * math.ceil(N / 64)
        ctas = min(tiles, dgrad_persistent_ctas(math.ceil(N / 64), N, sms))
        return GemmPlan(64, 128, 32, 4, 1, tiles, ctas, tiles > ctas, "tensor", 384,
                        min(_smem_limit(cfg), 4 * (128 + 64) * 32 * esize), 168)
    rate = cfg.sm.tensor_flops_per_cycle.get(dtype, cfg.sm.tensor_flops_per_cycle.get("bf16", 4096))
    overhead = cfg.sm.single_warpgroup_step_overhead
    load_bpc = cfg.sm.tma_bytes_per_cycle
    dram_bpc = cfg.hbm.bandwidth / cfg.clocks.tensor_boost
    kst = math.ceil(K / K_STEP)
    best = None
    for idx, (tm, tn) in enumerate(XMMA_TILES):
        tiles = math.ceil(M / tm) * math.ceil(N / tn)
        for split in (XMMA_SPLITS if split_k else (1,)):
            if split > 1 and (kst < 8 * split or tiles * split > sms):
                continue
            units = tiles * split
            step = gemm_step_cycles(tm, tn, K_STEP, esize, rate, overhead, load_bpc)
            cyc = math.ceil(units / sms) * (math.ceil(kst / split) + 2) * step
            if split > 1:
                cyc += (split + 1) * M * N * 4 / dram_bpc
            key = cyc * (1.0 - 0.002 * idx)
            if best is None or key < best[0]:
                best = (key, tm, tn, split, tiles)
    _, tm, tn, split, tiles = best
    units = tiles * split
    ctas = min(units, sms if split_k else dgrad_persistent_ctas(math.ceil(N / tn), N, sms))
    limit = _smem_limit(cfg)
    stages = _stages(tn, tm, esize, limit)
    return GemmPlan(tn, tm, K_STEP, stages, split, tiles, ctas, units > ctas, "tensor", 384,
                    min(limit, stages * (tm + tn) * K_STEP * esize), 168)


def conv_dgrad_on_cublas(at: dict) -> bool:
    """A 1x1 stride-1 convolution's data gradient is a plain GEMM that cuDNN hands to cuBLAS
    (nvjet ..._NNT / _NNN), except when it reduces over few output channels into many input
    channels (K <= 64, C >= 4K: ResNet-50's 56x56 256->64 layers), which run the xmma dgrad
    kernel, up to ~128 K output pixels (batch 32 at 56x56: F2-K93 and the batch-32 ResNet-50
    training step F2-M6; at batch 128 the same layer runs nvjet: F6-K70 and step F2-M7)."""
    if at["R"] * at["S"] != 1 or at.get("stride", 1) != 1 or at.get("groups", 1) != 1:
        return False
    M = at["N"] * at["H"] * at["W"]
    return not (at["K"] <= 64 and at["C"] >= 4 * at["K"] and M <= DGRAD_XMMA_MAX_PIXELS)


DGRAD_XMMA_MAX_PIXELS = 1 << 17


def dgrad_persistent_ctas(n_tiles: int, channels: int, sms: int) -> int:
    """CTAs of cuDNN's persistent xmma dgrad (clusters as CONV_CLUSTER_CTAS): 64 input channels
    ran clusters of 7 (105 CTAs: F2-K89, F6-K42, F6-K49), other single-N-tile gradients clusters
    of 8 (120: F6-K51), several N tiles clusters of 2 (132: F6-K46, F6-K53)."""
    if channels <= 64:
        return min(sms, CONV_CLUSTER_CTAS[7])
    if n_tiles == 1:
        return min(sms, CONV_CLUSTER_CTAS[8])
    return sms


def dgrad_reduction(at: dict) -> tuple[int, int]:
    """(output pixels, reduction length) of the dgrad implicit GEMM. Stride 1: every input pixel
    gathers K x R x S. Stride s: cuDNN's 'indexed' strided kernel visits each input pixel's
    phase with the taps of the largest phase, ceil(R/s) x ceil(S/s) (a 3x3 stride-2 dgrad does
    4 taps where the forward averages 2.25: F6-K43/45/47/50/52/54, F2-K97); a 1x1 stride-s
    dgrad has taps in one phase of s^2 only, the rest of dX is written as zeros (F6-K78)."""
    s = at.get("stride", 1)
    M = at["N"] * at["H"] * at["W"]
    if s == 1:
        return M, at["K"] * at["R"] * at["S"]
    taps = math.ceil(at["R"] / s) * math.ceil(at["S"] / s)
    if at["R"] < s and at["S"] < s:
        return max(1, M // (s * s)), at["K"] * taps
    avg = at["R"] * at["S"] / (s * s)
    return M, math.ceil(at["K"] * (avg + STRIDED_DGRAD_TAP_SHARE * (taps - avg)))


STRIDED_DGRAD_TAP_SHARE = 0.5   # [cal] share of the largest phase's extra taps the strided
                                # kernel pays (F2-K97, F6-K43/45/47/50/52/54: 0.4 -> -8 % mean,
                                # 0.5 -> +1 %, 0.6 -> +5 %)


def gemm_grid(plan: GemmPlan, sms: int) -> tuple[int, int, int]:
    if plan.persistent:
        return (2, plan.ctas // 2, 1) if plan.ctas % 2 == 0 else (plan.ctas, 1, 1)
    return (plan.ctas, 1, 1)


# ---- attention (cuDNN flash forward, sm90) ----------------------------------------------------
ATTN_Q_TILE = 128   # query rows per work unit (two consumer warpgroups x 64)
ATTN_KV_TILE = 128  # key/value rows per inner step


ATTN_MMA_M = 16      # smallest query tile of an MMA (m16 fragments): decode kernels use it


def plan_attention(B: int, H: int, S: int, sms: int, Hkv: int | None = None
                   ) -> tuple[int, int, int, int]:
    """(work units, CTAs, query rows per unit, query heads packed per unit).

    Prefill-like shapes: one unit per (batch, head, 128-query tile), persistent over the SMs.
    Decode-like shapes (the S x group query rows of the heads that share one K/V head fit one
    128-row tile): those heads are packed into one unit that streams its K/V head once, with
    the query tile padded to the MMA's 16 rows — the flash-decoding layout (cuDNN's
    16x128x128 decode kernels); otherwise each query head would re-read its K/V head."""
    Hkv = Hkv or H
    group = H // Hkv
    if S * group <= ATTN_Q_TILE:
        bq = max(ATTN_MMA_M, math.ceil(S * group / ATTN_MMA_M) * ATTN_MMA_M)
        units = B * Hkv
        return units, min(units, sms), bq, group
    units = B * H * math.ceil(S / ATTN_Q_TILE)
    return units, min(units, sms), ATTN_Q_TILE, 1


# Causal flash attention: unit (batch, head, query tile qi) scores only the K/V tiles up to its
# diagonal (bottom-right aligned mask), so units differ in length; the persistent CTAs take the
# next unit in (batch, head, query-tile) order as each finishes (a dynamic tile scheduler). The
# diagonal tile is masked element by element: it costs 1 + CAUSAL_DIAG_EXTRA plain steps.
# [cal] h200-fidelity2-cal5.json F5-K23..K30 (causal beside non-causal at four shapes: measured
# causal/non-causal 0.60-0.84, where the pairs scored alone would give 0.51-0.63).
CAUSAL_DIAG_EXTRA = 0.5


def causal_attention_schedule(B: int, H: int, S: int, Skv: int, bq: int, bkv: int,
                              ctas: int) -> tuple[float, float]:
    """(steps of the busiest CTA, steps of all units) of a causal flash-attention forward whose
    `ctas` persistent CTAs take units in order as they free up (greedy list scheduling)."""
    import heapq
    T = math.ceil(S / bq)
    off = Skv - S                 # bottom-right aligned: query row i sees keys <= i + off
    per_head = []
    for qi in range(T):
        last_row = min(S, (qi + 1) * bq) - 1
        n = min(math.ceil(Skv / bkv), max(0, math.ceil((last_row + off + 1) / bkv)))
        per_head.append(n + (CAUSAL_DIAG_EXTRA if n else 0.0))
    total = B * H * sum(per_head)
    if ctas <= 0:
        return total, total
    heap = [0.0] * min(ctas, B * H * T)
    for _ in range(B * H):
        for w in per_head:
            t = heapq.heappop(heap)
            heapq.heappush(heap, t + w)
    return max(heap), total


# ---- PyTorch eager kernels -------------------------------------------------------------------
# SIMT lane-instructions per element of PyTorch's eager kernels (load, convert, math, store,
# index arithmetic). Instruction counts, not time corrections: fitted once against the
# calibration's sm-throughput of gelu/relu/add and the row kernels, used for every shape.
ELEMENTWISE_BASE_OPS = 6
ELEMENTWISE_FN_OPS = {"gelu": 36, "silu": 14, "sigmoid": 12, "tanh": 14, "exp": 6, "log": 6,
                      "div": 4, "sqrt": 4, "rsqrt": 4, "pow": 10, "sin": 10, "cos": 10,
                      "dropout": 10, "adam": 30, "rope": 8, "swiglu": 16,
                      # PyTorch's channels-last batch_norm_transform_input kernel, estimated from
                      # its source after the whole-model data showed it instruction-bound:
                      # channel index = i % C (~20 integer ops), four
                      # per-channel parameter loads, fp32 (x - mean) * invstd * w + b,
                      # conversions and index math (~35 beyond the base 6)
                      "batchnorm": 35,
                      # PyTorch's max_pool_backward_nhwc (each input element scans the outputs
                      # whose window holds it and compares their saved argmax; fitted on
                      # h200-fidelity2-cal.json F2-K100: 237 us for 25.7 M elements, plus a fill)
                      "maxpool_bwd": 300,
                      # erf-GELU's derivative (GeluBackwardCUDAKernelImpl): the normal CDF (erf, as
                      # the forward) plus the density's exp and the products; fitted on
                      # h200-fidelity2-cal.json F2-K66/K71 (simulated with the L2 flushed): the
                      # default 1 left the kernel DRAM-bound and 17-25 % fast
                      "gelu_bwd": 50}
# PyTorch's max_pool_forward_nhwc: a CTA of 1024 threads per (image, 2 output rows); lane-
# instructions per window tap (bounds checks, index math, NaN-aware max, 2-byte loads), fitted on
# h200-fidelity2-cal.json F2-K12..K14 (3x3 / stride 2 on 112x112x64: 113-822 us)
POOL_OPS_PER_TAP = 56
# A widening cast (bf16 -> fp32) runs PyTorch's non-vectorized unrolled_elementwise_kernel
# (direct_copy, 4 scalar elements per thread, 512 per CTA): lane-instructions per element fitted
# on h200-fidelity2-cal.json F2-K87/K88 (2.4 M and 67 M elements: 9.7 and 187 us)
CAST_WIDEN_OPS = 85
# A slice's backward copies the gradient into the zero-filled source with PyTorch's
# non-vectorized elementwise_kernel<128, 4> (direct_copy through a 4-d offset calculator):
# lane-instructions per element copied, from h200-fidelity2-cal.json's BERT training steps
# (36 such copies of [tokens, 768] per step: ~10 us each at 4096 tokens)
STRIDED_COPY_OPS = 80
REDUCE_ROW_SPLIT = 4096         # reduce_kernel: rows longer than this get one CTA each (F3-K02/K07)
TRANSPOSE_SECTOR_BYTES = 64     # L2 bytes per element a transpose stores: a 32-B sector read and
                                # written back (partial-sector write), F3-K08..K12
# Row kernels: lane-instructions per row = fixed (block reductions, barriers, index math) +
# per element (max, sub, exp, sum, div / Welford, normalize, affine, conversions). Fitted on the
# calibration's softmax/layernorm cases together with benchmarks/data/h200-kernels.json (the
# calibration has one column count per kernel, so fixed and per-element parts need both).
SOFTMAX_WARP_OPS = (400, 58)        # softmax_warp_forward (cols <= 2048 and <= 8 KiB a row)
# cunn_SoftMaxForward (3 passes, block reductions): ~70 lane-instructions per element, a small
# fixed part per row (issue 15: refitted on h200-calibration.json 4096x32000, h200-kernels.json
# 1024x50257 and h200-fidelity2-cal.json 256x4096; was (1_400_000, 32), whose per-row constant
# made short block rows 2-3x too slow)
SOFTMAX_BLOCK_OPS = (20_000, 70)
SOFTMAX_BWD_WARP_COLS = 1024       # softmax_warp_backward up to 1024 elements a row, else the smem block kernel
LAYERNORM_OPS = (35_000, 41)        # vectorized_layer_norm_kernel
# its per-thread dependent chain (Welford's sequential mean/M2 updates with a division, then the
# normalize pass): fixed + per element a thread holds (cols / 128), in dependent-issue slots; the
# loop's 16-B vector loads are dependent memory rounds (2 + one per 2 KiB of row), added to it.
# Fitted on h200-fidelity2-cal.json's ~1 M-element layernorms (F2-K16..K30, cold L2: 5.5-11 us,
# rising with the row length at the same element count) and h200-models.json's warm Llama
# decode rms-norm (1 x 4096: 6.4 us)
LAYERNORM_CHAIN = (0, 33)
LAYERNORM_ROUND_BYTES = 2048
# RMS norm (the same vectorized_layer_norm_kernel with rms_norm=1): no mean, so the per-thread chain
# is a sum of squares (one FMA per element, no Welford division) and the block reduction combines
# one sum instead of (mean, M2, count) pairs: fixed and per-element lane-instructions per row, and
# chain slots per element a thread holds
RMSNORM_OPS = (20_000, 16)
RMSNORM_CHAIN = (0, 16)
# layer-norm backward's GammaBetaBackward kernel: one 32x32-thread CTA per 32 columns, each thread
# walking rows / 32 rows of dY and X in a dependent chain: chain slots per row a thread visits, and
# fixed; fitted on h200-fidelity2-cal.json F2-K65/K70 (2048 and 8192 rows: 12.0 and 36.8 us) as
# (300, 42) while those cases were simulated inside a warm training graph; refitted (issue 15,
# fourth stage) to the slope of the 25 GammaBeta kernels of each BERT-base training step
# F2-M0..M4 (512-4096 rows: 3.3, 7.7, 16.2 us: ~0.115 us per 32 rows, no fixed part), which with
# the L2 flushed per kernel also fits F2-K65/K70 (+7 / +4 %). Inside the training steps the
# model's GammaBeta kernels are bound by the SM load path (sm.lsu_bytes_per_cycle, 24 CTAs
# reading dY and X), not by this chain: those stay 1.5x the measured 16 us at 4096 rows
GAMMA_BETA_CHAIN = (0, 38)
# PyTorch reduce_kernel over leading axes (bias gradients): CTAs of 128 threads cover 128 columns
# and rows / 64-row slices (at most 16 CTAs a SM in all); each thread accumulates its rows
# (4 loads in flight), then the column's last CTA reduces the slices' partials through global
# memory after a fence and semaphore: dependent memory rounds (h200-fidelity2-cal.json
# F2-K67/K68/K72/K73: 12.8-28.8 us for 1.6-25 M elements, far above their bytes)
COLUMN_REDUCE_ROWS = 64
# setReduceConfig (Reduce.cuh): the rows go to several CTAs (global partials, semaphores zeroed by
# a memset) only when a thread of the 32 x 4 block would otherwise sum >= 256 values
# (max_values_per_thread); fewer rows: one CTA per 128 columns walks all rows (BERT's bias
# gradients at 512 tokens: grid (6, 1, 1), 9-10 us in h200-fidelity2-cal.json F2-M0)
COLUMN_REDUCE_SPLIT_MIN = 256
COLUMN_REDUCE_LOADS = 4   # a thread's column loads in flight (one element each: 4 x 2 B for bf16)
REDUCTION_OPS_PER_ELEM = 6
# PyTorch's reduce_kernel along the contiguous axis (input_vectorized_thread_reduce_impl): each
# thread loads REDUCE_VEC_ELEMS-element vectors into as many independent accumulators, and the
# loop's iterations carry no dependence through memory, so REDUCE_LOADS of them are in flight
# at once: bytes in flight per thread = loads x vector elements x element size
REDUCE_VEC_ELEMS = 4
REDUCE_LOADS = 4
REDUCE_TAIL_ROUNDS = 4


def reduce_inflight(esize: int) -> int:
    """Bytes one reduce_kernel thread keeps in flight (Kernel.load_inflight)."""
    return REDUCE_LOADS * REDUCE_VEC_ELEMS * esize
DIRECT_CONV_OPS_PER_MAC = 5.5   # bf16 converts, per-tap address math and predicates, fp32 FMA (cuDNN direct conv; one calibration case)


# Batch norm in training mode, NHWC (PyTorch's *_channels_last kernels): CTAs of 32 channels x 16
# row lanes (512 threads), grid (C / 32, row blocks); each thread folds its rows of one channel
# into a Welford (statistics) or sum (backward) accumulator -- a dependent chain per element.
# [cal] h200-fidelity2-cal.json F2-K101/K102 and h200-fidelity2-cal5.json F5-K31..K38 (five
# shapes, 3.2-51 M elements): lane-instructions per element (issue-bound large cases) and
# dependent-issue slots per element a thread folds (the one-row-block case: 98 rows a thread).
BN_STATS_OPS = 95           # batch_norm_collect_statistics_channels_last (Welford, fp32 divide)
BN_STATS_CHAIN = 82         # ALU slots; its loads (4 rows an iteration) are dependent memory rounds
BN_STATS_ROWS_PER_ROUND = 4
BN_BWD_REDUCE_OPS = 60      # batch_norm_backward_reduce_channels_last (sum dY, sum dY*(x-mean))
BN_BWD_REDUCE_CHAIN = 70
BN_BWD_ELEMT_OPS = 66      # batch_norm_backward_elemt_channels_last (dX from dY, x and 4 per-channel
                           # terms: c = i % C index math per element; issue-bound, same cases)
BN_ROWS_PER_THREAD = 16     # PyTorch's ELEMENTS_PER_THREAD in flexible_launch_configs
BN_MAX_ROW_BLOCKS = 128     # MAX_H_BLOCK


def batchnorm_grid(rows: int, C: int, reduction: bool) -> tuple[int, int, int, int]:
    """(grid x, grid y, threads, rows each thread folds) of PyTorch's channels-last batch-norm
    kernels (flexible_launch_configs): a reduction kernel with fewer than 8 row blocks runs one
    row block (no grid-wide reduction), as measured (F5-K35: 1568 rows -> grid (64, 1))."""
    bx = min(1 << (max(C, 1).bit_length() - 1), 32)
    need = max(1, math.ceil(rows / BN_ROWS_PER_THREAD))
    by = min(1 << (need.bit_length() - 1), 512 // bx)
    gx = math.ceil(C / bx)
    gy = min(math.ceil(rows / (by * BN_ROWS_PER_THREAD)), BN_MAX_ROW_BLOCKS)
    if reduction and gy < 8:
        gy = 1
    return gx, gy, bx * by, math.ceil(rows / (by * gy))


def elementwise_ops(fn: str) -> int:
    return ELEMENTWISE_BASE_OPS + ELEMENTWISE_FN_OPS.get(fn, 1)


ELEMENTWISE_THREAD_ELEMS = 8   # elements per thread of vectorized_elementwise_kernel (1024 per CTA)


def elementwise_inflight(esize: int) -> int:
    """Bytes in flight per thread and input of vectorized_elementwise_kernel: all its elements are
    loaded (16-B vectors) before any is used, so 8 x the element size (16 B for 2-byte types: the
    load sm.miss_bytes_per_cycle was calibrated on; 32 B for fp32)."""
    return ELEMENTWISE_THREAD_ELEMS * esize


def elementwise_grid(n: int) -> tuple[int, int]:
    """(CTAs, threads): vectorized_elementwise_kernel, 128 threads x 8 elements per thread."""
    return max(1, math.ceil(n / 1024)), 128


def softmax_plan(rows: int, cols: int, esize: int = 2) -> tuple[str, int, int, int]:
    """(kernel, CTAs, threads, passes over each row). PyTorch's host_softmax: the persistent
    warp kernel when a row has at most 2048 elements and 8 KiB (h200-fidelity2-cal.json: 512x2048
    and 768x1536 bf16 run softmax_warp_forward), else the block kernel."""
    if cols <= 2048 and cols * esize <= 8192:  # softmax_warp_forward: a warp per row (two when cols <= 128), row in registers
        rows_per_cta = 8 if cols <= 128 else 4
        return "softmax_warp_forward", math.ceil(rows / rows_per_cta), 128, 1
    return "cunn_SoftMaxForward", rows, 1024, 3   # max pass, sum pass, write pass


def layernorm_plan(rows: int, cols: int) -> tuple[str, int, int, int]:
    return "vectorized_layer_norm_kernel", rows, 128, 2


def gather_plan(n: int, row_bytes: int) -> tuple[int, int]:
    """(CTAs, threads): vectorized_gather_kernel<16>, one CTA per index, 16 B per thread."""
    return n, max(32, min(1024, math.ceil(row_bytes / 16)))


def occupancy(threads: int, regs: int, smem: int, cfg) -> int:
    """Resident CTAs per SM: the tightest of threads, registers, shared memory, CTA slots."""
    sm = cfg.sm
    by_threads = sm.max_threads // max(threads, 1)
    by_regs = sm.registers // max(threads * regs, 1)
    by_smem = sm.shared_memory // smem if smem > 0 else sm.max_ctas
    return max(1, min(sm.max_ctas, by_threads, by_regs, by_smem))
# cuDNN flash backward (sm90 bprop wgmma 64x64x64): a unit is one (batch, head, 128-row K/V
# block) looping over the queries 64 rows a step; per score it recomputes P = exp(S - lse) and
# dS = P (dP - D) with conversions: lane-instructions per score fitted on
# h200-fidelity2-cal.json F2-K77..K79 (BERT-base attention backward at 128 and 512 tokens)
ATTN_BWD_KV_TILE = 128
ATTN_BWD_Q_STEP = 64
ATTENTION_BWD_OPS_PER_SCORE = 18
ATTENTION_BWD_UNIT_CYCLES = 9000   # [cal] per unit outside the query loop (same fit: ~4.9 us a wave)
ATTENTION_OPS_PER_SCORE = 6    # scale, running max, exp, running sum, conversions per score
RASTER_GROUP_M = 8             # tiles are visited in bands of this many M-tiles (L2-friendly raster)


# ---- PyTorch's multi_tensor_apply (fused / foreach optimizers; issue 15, fourth stage) ----------
# aten/src/ATen/native/cuda/MultiTensorApply.cuh: a launch of multi_tensor_apply_kernel carries
# the addresses of up to depth_to_max_tensors[depth - 1] tensors and up to
# depth_to_max_blocks[depth - 1] chunks of kChunkSize elements, one 512-thread CTA (kBlockSize)
# per chunk; the host walks the tensor list and launches whenever either table is full (a tensor
# cut by a full block table continues in the next launch). Fused Adam (FusedAdamKernel.cu) is
# depth 4 (param, grad, exp_avg, exp_avg_sq) plus its step counters, which a depth-1
# _foreach_add_ (110 tensors a launch) advances first. Each thread walks its chunk kILP = 4
# elements of every list at a time: load all four, update, store three, then the next group
# (kChunkSize / (kBlockSize x kILP) = 32 load-compute-store rounds per CTA).
MTA_CHUNK = 65536
MTA_BLOCK = 512
MTA_ILP = 4
MTA_MAX_TENSORS = {1: 110, 2: 64, 3: 48, 4: 36, 5: 30}
MTA_MAX_BLOCKS = 320
# [cal] DRAM traffic of fused Adam's launches runs at this fraction of hbm.bandwidth: three of its
# four lists are read, updated and written back in place (40 % of the traffic is write-back),
# against the read-dominated streams hbm.bandwidth was fitted on. Fitted on the 320-CTA launches
# inside the BERT-base training steps of h200-fidelity2-cal.json (F2-M0..M5: 155-158 us for
# ~520 MB each, 3.3-3.4 TB/s); the mechanism (read/write turnaround in the HBM controllers) is
# not modelled as such.
MTA_DRAM_EFFICIENCY = 0.85


def multi_tensor_launches(numels, depth: int = 4) -> list[list[tuple[int, int, int]]]:
    """multi_tensor_apply's launches over tensors of `numels` elements (in list order): each launch
    a list of (tensor index, first chunk, end chunk) segments; CTAs = the segments' chunks."""
    max_t, max_b = MTA_MAX_TENSORS[depth], MTA_MAX_BLOCKS
    launches: list[list[tuple[int, int, int]]] = []
    segs: list[tuple[int, int, int]] = []
    blocks = 0
    for t, n in enumerate(numels):
        if n <= 0:
            continue
        chunks = math.ceil(n / MTA_CHUNK)
        start = 0
        for c in range(chunks):
            blocks += 1
            tensors_full = len(segs) + 1 == max_t and c == chunks - 1
            if tensors_full or blocks == max_b:
                segs.append((t, start, c + 1))
                launches.append(segs)
                segs, blocks, start = [], 0, c + 1
        if start < chunks:
            segs.append((t, start, chunks))
    if segs:
        launches.append(segs)
    return launches


# ---- PyTorch's embedding_dense_backward_cuda (issue 15, fourth stage) ---------------------------
# aten/src/ATen/native/cuda/Embedding.cu: up to EMBEDDING_FEATURE_MAX indices (and no
# scale_grad_by_freq) the table gradient is zero-filled, then embedding_backward_feature_kernel
# (ceil(dim / 32) CTAs of 32 x 32 threads) walks the indices 32 at a time: each chunk loads 32
# gradient rows into shared memory, then the leader warp of each destination row adds them into
# the table (a read-modify-write; EMBEDDING_CHUNK_CHAIN). More indices: the indices
# are sorted (cub radix sort of int64 keys with their positions: a histogram pass, an exclusive
# sum, one onesweep pass per 8 key bits, a memset before each), the table is zero-filled, runs of
# equal indices become segments (unique_by_key, a scan, segment offsets: small kernels), then
# compute_grad_weight sums each partial segment (<= EMBEDDING_ROWS_PER_PARTIAL rows) into fp32
# partials, one CTA of ceil(dim / 32) warps per partial segment of the host's upper bound
# n / 10 + min(n, rows), and sum_and_scatter adds each segment's partials into its table row
# (min(n, rows) CTAs) (EmbeddingBackwardKernel.cu).
EMBEDDING_FEATURE_MAX = 3072
# [cal] the feature kernel's chunk of 32 indices: two __syncthreads of 32 warps, the match ballot
# and the leader warps' shared-memory adds form a dependent chain around the chunk's one
# dependent memory round (the table row's read-modify-write; the 32 gradient rows load
# together): chain slots per chunk, fitted on h200-fidelity2-cal.json F2-K69 (n = 2048, L2
# flushed: 92 us) and the same kernel inside the BERT training steps F2-M1/M3 (warm: 86 us);
# measured ~1.4 us a chunk whether the L2 is warm or cold
EMBEDDING_CHUNK_CHAIN = 230
EMBEDDING_ROWS_PER_PARTIAL = 10
# [cal] dependent memory rounds a wave of compute_grad_weight / sum_and_scatter CTAs costs: each
# CTA chains three loads (segment offsets, then indices or partials, then gradient rows or the
# table row), but an SM's two resident 768-thread CTAs interleave their rounds across waves;
# fitted on h200-fidelity2-cal.json F2-K74 (L2 flushed: 52 and 55 us for ~30 waves each)
EMBEDDING_SEGMENT_ROUNDS = 2
RADIX_BITS_PER_PASS = 8
RADIX_TILE_ITEMS = 384 * 16      # keys one onesweep CTA ranks (384 threads x 16 items)
# [cal] dependent lane-instruction chain of one onesweep thread (ranking its items' 8-bit digits
# through warp match/ballot and shared-memory scans): h200-fidelity2-cal.json F2-K74's eight
# onesweep passes (7.5-9.0 us each under Nsight Compute, one or two CTAs)
RADIX_PASS_CHAIN = 1300
