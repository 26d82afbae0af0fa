"""bsp lowering: one kernel (or a vendor library's few) per graph op, as eager PyTorch runs.

Buffers are placed in one flat device address space (512-B aligned, like PyTorch's caching
allocator); a `view` aliases its input. Each op kind maps to kernels as archsim.lower.vendor
decides; kinds without a dedicated model (scatter_add other than an embedding's backward,
concat, fft, linalg) get a roofline kernel — their inputs streamed in, outputs streamed out, their flops on the SIMT
pipe — marked `approximate`.
"""
from __future__ import annotations

import dataclasses
import math

from archsim.errors import WorkloadError
from archsim.graph import Graph, Op
from archsim.graph.dtypes import dtype_bytes
from archsim.lower import vendor
from archsim.lower.program import (Access, AttentionTile, Buffer, GemmTile, Kernel, OpKernels,
                                   Program)

ALIGN = 512

# op kind -> lowerer; each lowerer registers itself with @lowers(kind) where it is defined
_LOWERERS: dict = {}


def lowers(kind: str):
    """Register `fn(op, cfg, mem) -> list[Kernel]` as the bsp lowering of op kind `kind`."""
    def deco(fn):
        _LOWERERS[kind] = fn
        return fn
    return deco


# other GPU lowering modes, registered by their modules: mode -> fn(graph, cfg, tuner=...)
# (archsim.lower.fused registers "fused"; archsim.lower imports it)
MODES: dict = {}


class _Memory:
    def __init__(self) -> None:
        self.buffers: dict[str, Buffer] = {}
        self.alias: dict[str, str] = {}
        self.top = 1 << 30
        self.tuner = None

    def place(self, name: str, nbytes: int, role: str) -> Buffer:
        name = self.alias.get(name, name)
        buf = self.buffers.get(name)
        if buf is None:
            buf = Buffer(name, self.top, int(nbytes), role)
            self.buffers[name] = buf
            self.top += (int(nbytes) + ALIGN - 1) // ALIGN * ALIGN + ALIGN
        return buf

    def of(self, t) -> str:
        return self.place(t.name, t.nbytes, t.role).name


def lower(graph: Graph, cfg, mode: str = "bsp", tuner=None) -> Program:
    """Graph -> Program for the GPU `cfg` in mode "bsp" (one kernel per op) or "fused"
    (vertical fusion: archsim.lower.fused).

    `tuner(candidates, buffers) -> index`, if given, is an autotuner: where the GEMM heuristic
    picks split-K, the best plan without split-K is lowered too and the tuner (which times both
    candidates' kernels on the machine model: archsim.simulate) picks the faster, as cuBLASLt's
    autotuning does; so a faster machine never gets a slower plan from a misjudged heuristic.
    """
    if mode in MODES:
        return MODES[mode](graph, cfg, tuner=tuner)
    if mode != "bsp":
        raise WorkloadError(f"lowering mode {mode!r} is not implemented for the GPU "
                            f"(have: {', '.join(('bsp', *MODES))})")
    mem = _Memory()
    mem.tuner = tuner
    mem.mta = multi_tensor_plan(graph)
    for t in graph.graph_inputs():
        mem.of(t)
    ops: list[OpKernels] = []
    for op in graph.topo_ops():
        if op.kind == "view":
            src = mem.of(op.inputs[0])
            mem.alias[op.outputs[0].name] = src
            ops.append(OpKernels(op.name, op.kind, 0, ()))
            continue
        fn = _LOWERERS.get(op.kind, _roofline)
        # a traced loop folds its iterations into one op run `repeat` times back to back: the
        # lowerers plan one execution from the shapes; the device runs it `repeat` times
        kernels = tuple(fn(op, cfg, mem)) * max(1, op.repeat)
        ops.append(OpKernels(op.name, op.kind, op.flops, kernels))
    resident = tuple(mem.alias.get(t.name, t.name) for t in graph.graph_inputs())
    return Program(graph.name, cfg.name, mode, tuple(ops), dict(mem.buffers), resident)


# ---- GEMM and friends -------------------------------------------------------------------------

def _gemm_kernels(op: Op, cfg, mem: _Memory, M: int, N: int, K: int, batch: int, a: str, b: str,
                  out: str, dtype: str, extra_reads: tuple[str, ...] = (), name_tag: str = "",
                  a_ld: int | None = None, b_trans: bool = False,
                  plan: vendor.GemmPlan | None = None, xmma: bool = False,
                  conv_kind: str = "fprop", step_extra: float = 0.0,
                  kname: str = "") -> list[Kernel]:
    plan = plan or vendor.plan_gemm(M, N, K, batch, dtype, cfg)
    esize = dtype_bytes(dtype)
    sms = cfg.sm.count
    kernels = []
    split = plan.split_k
    c_buf, c_es = out, esize
    if split > 1:
        ws = mem.place(f"{op.name}:splitk_ws", split * batch * M * N * 4, "workspace")
        c_buf, c_es = ws.name, 4
    ksteps = math.ceil(math.ceil(K / plan.k_step) / split)
    epi = op.attrs.get("epilogue") or ""
    epi_ops = M * N * batch * (vendor.elementwise_ops(epi) if epi and epi != "identity" else 0)
    tile = GemmTile(single_warpgroup=xmma, M=M, N=N, K=K, batch=batch, tm=plan.tile_m, tn=plan.tile_n, tk=plan.k_step,
                stages=plan.stages, split=split, esize=esize, c_esize=c_es, a=a, b=b, c=c_buf,
                persistent=plan.persistent, a_ld=a_ld or K, b_trans=b_trans,
                group_m=vendor.RASTER_GROUP_M, step_extra=step_extra)
    accesses = [Access("gemm", a)] + [Access("stream", e, nbytes=mem.buffers[e].nbytes)
                                      for e in extra_reads]
    kname = kname or vendor.conv_name(plan, conv_kind) if xmma else kname or \
        plan.name(dtype) + (f"_{epi}" if epi and epi not in ("identity",) else "") + name_tag
    kernels.append(Kernel(
        kname, op.name, op.kind, "gemm", vendor.gemm_grid(plan, sms), plan.threads, plan.regs,
        plan.smem, plan.units, ksteps, plan.pipe, dtype,
        tensor_flops=2 * M * N * K * batch if plan.pipe == "tensor" else 0,
        simt_ops=(2 * M * N * K * batch // 2 if plan.pipe == "simt" else 0) + epi_ops,
        accesses=tuple(accesses), tile=tile))
    if split > 1:
        n_out = M * N * batch
        gx, gy = math.ceil(N / 32), max(1, min(8, math.ceil(M * batch / 16)))
        kernels.append(Kernel(
            "cublasLt::splitKreduce_kernel", op.name, op.kind, "stream", (gx, gy, 1), 512, 32, 0,
            gx * gy, 1, "simt", dtype, simt_ops=n_out * (split + 4),
            dep_rounds=2,   # the partials (loads issued together), then the reduced store
            accesses=(Access("stream", c_buf, nbytes=split * n_out * 4),
                      Access("stream", out, write=True, nbytes=n_out * esize))))
    return kernels


@lowers("gemm")
def _gemm(op: Op, cfg, mem: _Memory) -> list[Kernel]:
    at = op.attrs
    a, b = mem.of(op.inputs[0]), mem.of(op.inputs[1])
    extra = tuple(mem.of(t) for t in op.inputs[2:])
    out = mem.of(op.outputs[0])
    args = (op, cfg, mem, at["M"], at["N"], at["K"], at.get("batch", 1), a, b, out,
            op.inputs[0].dtype, extra)
    plan = vendor.plan_gemm(*args[3:7], args[10], cfg)
    if mem.tuner is None or plan.split_k == 1:
        return _gemm_kernels(*args, plan=plan)
    plans = [plan, vendor.plan_gemm(*args[3:7], args[10], cfg, splits=(1,))]
    candidates = [_gemm_kernels(*args, plan=p) for p in plans]
    return candidates[mem.tuner(candidates, dict(mem.buffers))]


@lowers("conv2d")
def _conv2d(op: Op, cfg, mem: _Memory) -> list[Kernel]:
    at = op.attrs
    x, w = mem.of(op.inputs[0]), mem.of(op.inputs[1])
    out = mem.of(op.outputs[0])
    groups = at.get("groups", 1)
    M = at["N"] * at["P"] * at["Q"]
    Ng = at["K"] // groups
    Cg = at["C"] // groups
    Kg = Cg * at["R"] * at["S"]
    dtype = op.inputs[0].dtype
    stem = groups == 1 and at["C"] < vendor.STEM_PAD_C and Kg >= 32
    if stem and M >= vendor.STEM_TILE[0] * cfg.sm.count:
        return _conv_stem(op, cfg, mem, x, w, out, M, dtype)
    if Kg < 32 or groups > 1 or stem:
        # cuDNN's direct SIMT convolution for tiny reductions (C x R x S) and grouped convs
        macs = M * at["K"] * Kg
        ctas = max(1, math.ceil(M * at["K"] / 2048))
        return [Kernel("convolve_common_engine_float_NHWC", op.name, op.kind, "stream",
                       (ctas, 1, 1), 64, 64, 8 * 1024, ctas, 1, "simt", dtype,
                       simt_ops=int(macs * vendor.DIRECT_CONV_OPS_PER_MAC),
                       accesses=(Access("stream", x, nbytes=op.inputs[0].nbytes),
                                 Access("stream", w, nbytes=op.inputs[1].nbytes),
                                 Access("stream", out, write=True, nbytes=op.outputs[0].nbytes)))]
    # implicit GEMM on NHWC: A[M, C*R*S] gathered from the input (each input pixel re-read R*S
    # times: L2 hits), B = the weights [K, R*S*C] (k-contiguous), C = the output [M, K]
    if vendor.conv1x1_on_xmma(at):
        plan = vendor.plan_conv1x1_xmma(M, Ng, Kg, cfg, dtype_bytes(dtype))
        return _gemm_kernels(op, cfg, mem, M, Ng, Kg, 1, x, w, out, dtype, a_ld=Cg, b_trans=True,
                             plan=plan, xmma=True)
    if at["R"] * at["S"] == 1 and at.get("stride", 1) == 1:
        # 1x1 stride 1: cuDNN hands it to cuBLAS (nvjet), as measured; a strided 1x1 (ResNet's
        # downsampling projections) runs the implicit-GEMM kernel below (h200-fidelity2-cal5.json
        # F5-K06..K08: sm90_xmma_fprop_implicit_gemm ... tilesize128x128x64)
        return _gemm_kernels(op, cfg, mem, M, Ng, Kg, 1, x, w, out, dtype, a_ld=Cg,
                             b_trans=True)
    plan = vendor.plan_conv_implicit(M, Ng, Kg, dtype, cfg, filter_taps=at["R"] * at["S"],
                                     stride=at.get("stride", 1))
    ks = _gemm_kernels(op, cfg, mem, M, Ng, Kg, 1, x, w, out, dtype, a_ld=Cg, b_trans=True,
                       plan=plan, xmma=True)
    # segment-K (plan.split_k > 1): the partial tiles are combined inside the kernel, no
    # separate reduction kernel
    return ks[:1] if plan.split_k > 1 else ks


def _conv_stem(op: Op, cfg, mem: _Memory, x: str, w: str, out: str, M: int, dtype: str):
    """C < 8: pad the input and the filter to 8 channels, then the cutlass sm80 implicit GEMM."""
    at = op.attrs
    pc = vendor.STEM_PAD_C
    es = dtype_bytes(dtype)
    kernels = []
    for src, n_px in ((x, at["N"] * at["H"] * at["W"]), (w, at["K"] * at["R"] * at["S"])):
        pad = mem.place(f"{op.name}:{src}:pad8", n_px * pc * es, "workspace")
        ctas = max(1, min(2 * cfg.sm.count, math.ceil(n_px * pc / 1024)))
        kernels.append(Kernel(
            "nhwcAddPaddingKernel", op.name, op.kind, "stream", (ctas, 1, 1), 1024, 32, 0, ctas,
            1, "simt", dtype, simt_ops=n_px * pc * vendor.PAD_OPS_PER_ELEM,
            accesses=(Access("stream", src, nbytes=mem.buffers[src].nbytes),
                      Access("stream", pad.name, write=True, nbytes=pad.nbytes))))
    xp, wp = f"{op.name}:{x}:pad8", f"{op.name}:{w}:pad8"
    Kg = pc * at["R"] * at["S"]
    plan = vendor.plan_stem(M, at["K"], Kg, cfg)
    tm, tn, tk = vendor.STEM_TILE
    return kernels + _gemm_kernels(
        op, cfg, mem, M, at["K"], Kg, 1, xp, wp, out, dtype, a_ld=pc, b_trans=True, plan=plan,
        step_extra=vendor.STEM_STEP_EXTRA,
        kname=f"cutlass_tensorop_{dtype}_s16816fprop_optimized_{dtype}_{tm}x{tn}_{tk}x4_nhwc_align8")


@lowers("conv2d_dgrad")
def _conv2d_dgrad(op: Op, cfg, mem: _Memory) -> list[Kernel]:
    """dX = dY (*) W^T: cuDNN's sm90 xmma dgrad implicit GEMM, C[N*H*W, C] = A[N*H*W, K*R*S/s^2]
    B[K*R*S/s^2, C]. A is dY gathered like the forward's im2col (rows of K channels re-read by
    the taps: a_ld = K); B the weights [K*R*S, C]. A stride-s convolution's dgrad touches only
    1/s^2 of the taps per input pixel (the 'indexed' kernels), so its flops equal the forward's."""
    at = op.attrs
    dy, w = mem.of(op.inputs[0]), mem.of(op.inputs[1])
    dx = mem.of(op.outputs[0])
    if at.get("groups", 1) > 1:
        return _roofline(op, cfg, mem)
    M = at["N"] * at["H"] * at["W"]
    if vendor.conv_dgrad_on_cublas(at):
        # dX[M, C] = dY[M, K] W[K, C]: a plain GEMM (the 1x1 weights are K x C row-major)
        return _gemm_kernels(op, cfg, mem, M, at["C"], at["K"], 1, dy, w, dx, op.inputs[0].dtype,
                             a_ld=at["K"])
    Mg, Kg = vendor.dgrad_reduction(at)
    plan = vendor.plan_conv_grad(Mg, at["C"], Kg, op.inputs[0].dtype, cfg)
    ks = _gemm_kernels(op, cfg, mem, Mg, at["C"], Kg, 1, dy, w, dx, op.inputs[0].dtype,
                       a_ld=at["K"], plan=plan, xmma=True, conv_kind="dgrad")
    if Mg < M:
        # the input pixels no tap reaches (a strided 1x1): the kernel stores their zeros
        zeros = (M - Mg) * at["C"] * op.inputs[0].itemsize
        ctas = max(1, min(4 * cfg.sm.count, math.ceil(zeros / 16384)))
        ks.append(Kernel("dgrad_zero_pixels", op.name, op.kind, "stream", (ctas, 1, 1), 256, 32, 0,
                         ctas, 1, "simt", op.inputs[0].dtype,
                         simt_ops=zeros // 16 * vendor.ELEMENTWISE_BASE_OPS,
                         accesses=(Access("stream", dx, write=True, nbytes=zeros),)))
    return ks


@lowers("conv2d_wgrad")
def _conv2d_wgrad(op: Op, cfg, mem: _Memory) -> list[Kernel]:
    """dW = dY^T (*) X: C[K, C*R*S] = A[K, N*P*Q] B[N*P*Q, C*R*S], reducing over the output
    pixels. 1x1 (stride 1): cuDNN hands it to cuBLAS (nvjet with split-K, as measured); larger
    filters: the xmma wgrad kernel, split over the pixels to fill the SMs, then a reduction.
    Replay approximation: B is X's im2col read row-major (C*R*S per pixel), so for R*S > 1 the
    L2 sees R*S/s^2 times X's bytes as distinct lines (the real kernel re-reads X's rows from L2)."""
    at = op.attrs
    x, dy = mem.of(op.inputs[0]), mem.of(op.inputs[1])
    dw = mem.of(op.outputs[0])
    if at.get("groups", 1) > 1:
        return _roofline(op, cfg, mem)
    dtype = op.inputs[0].dtype
    M, N, K = at["K"], at["C"] * at["R"] * at["S"], at["N"] * at["P"] * at["Q"]
    extra = tuple(mem.of(t) for t in op.outputs[1:])   # bias gradient: same kernel's epilogue
    if at["R"] * at["S"] == 1 and at.get("stride", 1) == 1:
        return _gemm_kernels(op, cfg, mem, M, N, K, 1, dy, x, dw, dtype, a_ld=K)
    if at["C"] < vendor.STEM_PAD_C and at.get("groups", 1) == 1:
        return _conv_stem_wgrad(op, cfg, mem, x, dy, dw, dtype)
    plan = vendor.plan_conv_grad(M, N, K, dtype, cfg, split_k=True)
    return _gemm_kernels(op, cfg, mem, M, N, K, 1, dy, x, dw, dtype, a_ld=K, plan=plan,
                         xmma=True, conv_kind="wgrad")


def _conv_stem_wgrad(op: Op, cfg, mem: _Memory, x: str, dy: str, dw: str, dtype: str):
    """C < 8 weight gradient: pad the input to 8 channels, the cutlass sm80 split-K implicit
    GEMM over the output pixels (its fp32 partials reduced by cutlass's ReduceSplitK), then a
    padding kernel that writes the C-channel filter gradient."""
    at = op.attrs
    pc = vendor.STEM_PAD_C
    es = dtype_bytes(dtype)
    n_px = at["N"] * at["H"] * at["W"]
    pad = mem.place(f"{op.name}:{x}:pad8", n_px * pc * es, "workspace")

    def pad_kernel(src, dst, n, nbytes_out):
        ctas = max(1, min(2 * cfg.sm.count, math.ceil(n * pc / 1024)))
        return Kernel("nhwcAddPaddingKernel", op.name, op.kind, "stream", (ctas, 1, 1), 1024, 32, 0,
                      ctas, 1, "simt", dtype, simt_ops=n * pc * vendor.PAD_OPS_PER_ELEM,
                      accesses=(Access("stream", src, nbytes=mem.buffers[src].nbytes),
                                Access("stream", dst, write=True, nbytes=nbytes_out)))
    M, N, K = at["K"], pc * at["R"] * at["S"], at["N"] * at["P"] * at["Q"]
    plan = vendor.plan_stem_wgrad(M, N, K, cfg)
    wp = mem.place(f"{op.name}:dw_pad8", M * N * es, "workspace")
    tm, tn, tk = vendor.STEM_WGRAD_TILE
    ks = _gemm_kernels(op, cfg, mem, M, N, K, 1, dy, pad.name, wp.name, dtype, a_ld=K, plan=plan,
                       step_extra=vendor.STEM_WGRAD_STEP_EXTRA,
                       kname=f"cutlass_tensorop_{dtype}_s16816wgrad_optimized_{dtype}_{tm}x{tn}_{tk}x4_nhwc_align8")
    ks = ks[:1] + [dataclasses.replace(k, name="cutlass::reduction::ReduceSplitK") for k in ks[1:]]
    return [pad_kernel(x, pad.name, n_px, pad.nbytes)] + ks + \
        [pad_kernel(wp.name, dw, at["K"] * at["R"] * at["S"], mem.buffers[dw].nbytes)]


@lowers("attention")
def _attention(op: Op, cfg, mem: _Memory) -> list[Kernel]:
    at = op.attrs
    B, H, S, Skv, D = at["B"], at["H"], at["S"], at.get("Skv", at["S"]), at["D"]
    q, k, v = (mem.of(t) for t in op.inputs[:3])
    out = mem.of(op.outputs[0])
    units, ctas, bq, pack = vendor.plan_attention(B, H, S, cfg.sm.count, at.get("Hkv", H))
    steps = math.ceil(Skv / vendor.ATTN_KV_TILE)
    causal = bool(at.get("causal"))
    scores = B * H * S * Skv // (2 if causal else 1)
    busiest = total = 0.0
    if causal and pack == 1:   # units of unequal length on a dynamic scheduler
        busiest, total = vendor.causal_attention_schedule(B, H, S, Skv, bq, vendor.ATTN_KV_TILE, ctas)
    tile = AttentionTile(B=B, H=H, Hkv=at.get("Hkv", H), S=S, Skv=Skv, D=D, q=q, k=k, v=v, o=out,
                bq=bq, pack=pack, bkv=vendor.ATTN_KV_TILE, causal=causal,
                esize=op.inputs[0].itemsize, busiest_steps=busiest, total_steps=total)
    # eager SDPA clears a small cuDNN buffer with a cudaMemsetAsync before a prefill's fprop
    # (h200-models.json / h200-fidelity2-cal.json kernel lists: one Memset per BERT layer)
    pre = [_memset(op, mem, out)] if S > 1 else []
    return pre + [Kernel("cudnn_generated_fort_native_sdpa_sm90_flash_fprop_wgmma_f16", op.name, op.kind,
                   "attention", (ctas, 1, 1), 384, 168, 160 * 1024, units, steps, "tensor",
                   op.inputs[0].dtype, tensor_flops=op.flops,
                   simt_ops=scores * vendor.ATTENTION_OPS_PER_SCORE, tile=tile,
                   accesses=(Access("stream", q, nbytes=op.inputs[0].nbytes),
                             Access("stream", k, nbytes=op.inputs[1].nbytes),
                             Access("stream", v, nbytes=op.inputs[2].nbytes),
                             Access("stream", out, write=True, nbytes=op.outputs[0].nbytes)))]


@lowers("attention_bwd")
def _attention_bwd(op: Op, cfg, mem: _Memory) -> list[Kernel]:
    """cuDNN's flash backward, three kernels: D = rowsum(dO * O) (compute_dot_do_o), the bprop
    kernel (K/V-stationary units, dQ accumulated in fp32), dQ converted to 16 bits."""
    at = op.attrs
    B, H, S, Skv, D = at["B"], at["H"], at["S"], at.get("Skv", at["S"]), at["D"]
    Hkv = at.get("Hkv", H)
    q, k, v, o, do = (op.inputs[i] for i in range(5))
    outs = op.outputs
    dt = q.dtype
    es = q.itemsize
    causal = bool(at.get("causal"))
    dsum = mem.place(f"{op.name}:dot_do_o", B * H * S * 4, "workspace")
    dq_acc = mem.place(f"{op.name}:dq_accum", B * H * S * D * 4, "workspace")
    n_qo = B * H * S * D
    c1 = B * H * math.ceil(S / 16)
    kernels = [_memset(op, mem, dsum.name),   # a cudaMemsetAsync before the first kernel
               Kernel("compute_dot_do_o_specialized", op.name, op.kind, "stream", (c1, 1, 1), 128,
                      32, 0, c1, 1, "simt", dt, simt_ops=n_qo * vendor.ELEMENTWISE_BASE_OPS,
                      accesses=(Access("stream", mem.of(do), nbytes=do.nbytes),
                                Access("stream", mem.of(o), nbytes=o.nbytes),
                                Access("stream", dsum.name, write=True, nbytes=dsum.nbytes)))]
    units = B * Hkv * math.ceil(Skv / vendor.ATTN_BWD_KV_TILE) * (H // Hkv)
    ctas = min(units, cfg.sm.count)
    steps = math.ceil(S / vendor.ATTN_BWD_Q_STEP)
    scores = B * H * S * Skv // (2 if causal else 1)
    dk = outs[1] if len(outs) > 1 else outs[0]
    # replay: the unit's K/V block plays the query tile, the queries and dO stream past it
    tile = AttentionTile(B=B, H=Hkv, Hkv=Hkv, S=Skv, Skv=S, D=D, q=mem.of(k), k=mem.of(q),
                         v=mem.of(do), o=mem.of(dk), bq=vendor.ATTN_BWD_KV_TILE, pack=1,
                         bkv=vendor.ATTN_BWD_Q_STEP, causal=causal, esize=es, mma_factor=2.5,
                         unit_extra=vendor.ATTENTION_BWD_UNIT_CYCLES)
    # 200 KiB of buffers on Hopper; an SM with less shared memory (an A100's 164 KiB) gets the
    # same plan with its buffers cut to what fits (cuDNN's sm80 kernel uses smaller tiles: the
    # A100 timing of this kernel is not calibrated)
    smem = min(200 * 1024, vendor._smem_limit(cfg))
    kernels.append(Kernel(
        "cudnn_generated_fort_native_sdpa_sm90_flash_bprop_wgmma_f16_64x64x64", op.name, op.kind,
        "attention", (ctas, 1, 1), 384, 168, smem, units, steps, "tensor", dt,
        tensor_flops=op.flops, simt_ops=scores * vendor.ATTENTION_BWD_OPS_PER_SCORE, tile=tile,
        accesses=(Access("stream", mem.of(q), nbytes=q.nbytes),
                  Access("stream", mem.of(k), nbytes=k.nbytes),
                  Access("stream", mem.of(v), nbytes=v.nbytes),
                  Access("stream", mem.of(do), nbytes=do.nbytes),
                  Access("stream", dq_acc.name, write=True, nbytes=dq_acc.nbytes))))
    c3 = B * H * math.ceil(S / 32)
    kernels.append(Kernel("convert_dq_to_16bits", op.name, op.kind, "stream", (c3, 1, 1), 128, 32,
                          0, c3, 1, "simt", dt, simt_ops=n_qo * vendor.ELEMENTWISE_BASE_OPS,
                          accesses=(Access("stream", dq_acc.name, nbytes=dq_acc.nbytes),
                                    Access("stream", mem.of(outs[0]), write=True,
                                           nbytes=outs[0].nbytes))))
    return kernels


# ---- SIMT / memory kernels --------------------------------------------------------------------

def _unrolled_copy(name: str, op: Op, mem: _Memory, src, dst, n: int, write_bytes: int,
                   ops_per_elem: int) -> Kernel:
    """PyTorch's unrolled (non-vectorized) copy kernel: 128 threads, 4 elements each, over `n`
    elements, reading all of `src` and writing `write_bytes` of `dst`."""
    ctas = max(1, math.ceil(n / 512))
    return Kernel(name, op.name, op.kind, "stream", (ctas, 1, 1), 128, 32, 0, ctas, 1, "simt",
                  dst.dtype, simt_ops=n * ops_per_elem,
                  accesses=(Access("stream", mem.of(src), nbytes=src.nbytes),
                            Access("stream", mem.of(dst), write=True, nbytes=write_bytes)))


@lowers("elementwise")
def _elementwise(op: Op, cfg, mem: _Memory) -> list[Kernel]:
    mta = getattr(mem, "mta", None)
    if mta and op.name in mta:    # fused Adam: multi_tensor_apply launches (multi_tensor_kernels)
        return multi_tensor_kernels(op, mem, mta)
    out = op.outputs[0]
    n = out.numel
    ctas, threads = vendor.elementwise_grid(n)
    if op.attrs.get("fn") == "slice_copy":   # dY copied into a slice of the zero-filled source
        src = op.inputs[-1]
        return [_unrolled_copy("elementwise_kernel<128,4,direct_copy>", op, mem, src, out,
                               src.numel, src.nbytes, vendor.STRIDED_COPY_OPS)]
    acc = [Access("stream", mem.of(t), nbytes=t.nbytes) for t in _distinct(op.inputs)]
    acc.append(Access("stream", mem.of(out), write=True, nbytes=out.nbytes))
    fn = op.attrs.get("fn", "add")
    return [Kernel(f"vectorized_elementwise_kernel<{fn}>", op.name, op.kind, "stream",
                   (ctas, 1, 1), threads, 32, 0, ctas, 1, "simt", out.dtype,
                   simt_ops=n * vendor.elementwise_ops(fn), accesses=tuple(acc),
                   load_inflight=vendor.elementwise_inflight((op.inputs or (out,))[0].itemsize))]


@lowers("copy")
def _copy(op: Op, cfg, mem: _Memory) -> list[Kernel]:
    x, out = op.inputs[0], op.outputs[0]
    ctas, threads = vendor.elementwise_grid(out.numel)
    if x.dtype == out.dtype:  # a same-type device copy is a cudaMemcpy: the copy engine (DMA)
        return [Kernel("memcpy_dtod", op.name, op.kind, "dma", (ctas, 1, 1), threads, 32, 0, ctas,
                       1, "memory", out.dtype,
                       accesses=(Access("stream", mem.of(x), nbytes=x.nbytes),
                                 Access("stream", mem.of(out), write=True, nbytes=out.nbytes)))]
    if out.itemsize > x.itemsize:   # widening: the unrolled (non-vectorized) copy kernel
        return [_unrolled_copy("unrolled_elementwise_kernel<direct_copy>", op, mem, x, out,
                               out.numel, out.nbytes, vendor.CAST_WIDEN_OPS)]
    return [Kernel("copy_kernel", op.name, op.kind, "stream", (ctas, 1, 1), threads, 32, 0, ctas,
                   1, "memory", out.dtype, simt_ops=out.numel * vendor.ELEMENTWISE_BASE_OPS,
                   load_inflight=vendor.elementwise_inflight(x.itemsize),
                   accesses=(Access("stream", mem.of(x), nbytes=x.nbytes),
                             Access("stream", mem.of(out), write=True, nbytes=out.nbytes)))]


def _row_kernel(op: Op, mem: _Memory, name: str, ctas: int, threads: int, passes: int,
                ops: int, dep_rounds: int, dep_chain: float = 0.0,
                load_inflight: int = 16, tail_rounds: float = 0.0) -> list[Kernel]:
    x, out = op.inputs[0], op.outputs[0]
    acc = [Access("stream", mem.of(x), nbytes=x.nbytes, passes=passes)]
    acc += [Access("stream", mem.of(t), nbytes=t.nbytes) for t in op.inputs[1:]]
    acc.append(Access("stream", mem.of(out), write=True, nbytes=out.nbytes))
    return [Kernel(name, op.name, op.kind, "row", (ctas, 1, 1), threads, 32, 0, ctas, 1, "simt",
                   out.dtype, simt_ops=int(ops), dep_rounds=dep_rounds, dep_chain=dep_chain,
                   load_inflight=load_inflight, tail_rounds=tail_rounds, accesses=tuple(acc))]


@lowers("softmax")
def _softmax(op: Op, cfg, mem: _Memory) -> list[Kernel]:
    rows, cols = op.attrs["rows"], op.attrs["cols"]
    name, ctas, threads, passes = vendor.softmax_plan(rows, cols, op.inputs[0].itemsize)
    a, b = vendor.SOFTMAX_WARP_OPS if passes == 1 else vendor.SOFTMAX_BLOCK_OPS
    return _row_kernel(op, mem, name, ctas, threads, passes, rows * (a + b * cols), passes + 1)


@lowers("softmax_bwd")
def _softmax_bwd(op: Op, cfg, mem: _Memory) -> list[Kernel]:
    """aten._softmax_backward_data as PyTorch runs it on 16-bit tensors: an elementwise product
    dY * Y (vectorized_elementwise_kernel, into a temporary), then the backward row kernel reading
    that product and Y (the warp kernel for rows of at most 1024 elements, else the shared-memory
    block kernel), both with the forward's launch shapes (h200-fidelity2-cal*.json F2-K75/K76,
    F4-K29/K30)."""
    dy, y = op.inputs[0], op.inputs[1]
    g = op.outputs[0]
    rows, cols = op.attrs["rows"], op.attrs["cols"]
    n = g.numel
    prod = mem.place(f"{op.name}:dy_y", n * dy.itemsize, "workspace")
    ctas, threads = vendor.elementwise_grid(n)
    mul = Kernel("vectorized_elementwise_kernel<mul>", op.name, op.kind, "stream", (ctas, 1, 1),
                 threads, 32, 0, ctas, 1, "simt", dy.dtype, simt_ops=n * vendor.elementwise_ops("mul"),
                 load_inflight=vendor.elementwise_inflight(dy.itemsize),
                 accesses=(Access("stream", mem.of(dy), nbytes=dy.nbytes),
                           Access("stream", mem.of(y), nbytes=y.nbytes),
                           Access("stream", prod.name, write=True, nbytes=prod.nbytes)))
    if cols <= vendor.SOFTMAX_BWD_WARP_COLS:
        name, rctas, rthreads, (a, b) = ("softmax_warp_backward", math.ceil(rows / (8 if cols <= 128 else 4)),
                                         128, vendor.SOFTMAX_WARP_OPS)
    else:
        name, rctas, rthreads, (a, b) = "cunn_SoftMaxBackwardSmem", rows, 1024, vendor.SOFTMAX_BLOCK_OPS
    row = Kernel(name, op.name, op.kind, "row", (rctas, 1, 1), rthreads, 32, 0, rctas, 1, "simt",
                 g.dtype, simt_ops=int(rows * (a + b * cols)), dep_rounds=2,
                 accesses=(Access("stream", prod.name, nbytes=prod.nbytes),
                           Access("stream", mem.of(y), nbytes=y.nbytes),
                           Access("stream", mem.of(g), write=True, nbytes=g.nbytes)))
    return [mul, row]


@lowers("layernorm")
def _layernorm(op: Op, cfg, mem: _Memory) -> list[Kernel]:
    rows, cols = op.attrs["rows"], op.attrs["cols"]
    name, ctas, threads, passes = vendor.layernorm_plan(rows, cols)
    rms = bool(op.attrs.get("rms"))
    a, b = vendor.RMSNORM_OPS if rms else vendor.LAYERNORM_OPS
    c0, c1 = vendor.RMSNORM_CHAIN if rms else vendor.LAYERNORM_CHAIN
    per_cta = rows / ctas
    rounds = 2 + math.ceil(cols * op.inputs[0].itemsize / vendor.LAYERNORM_ROUND_BYTES)
    return _row_kernel(op, mem, name, ctas, threads, passes, rows * (a + b * cols), rounds,
                       dep_chain=per_cta * (c0 + c1 * cols / threads))


@lowers("pool")
def _pool(op: Op, cfg, mem: _Memory) -> list[Kernel]:
    """Max pooling: PyTorch's max_pool_forward_nhwc, one 1024-thread CTA per image and pair of
    output rows, SIMT-bound (vendor.POOL_OPS_PER_TAP per window tap). Other pools: roofline."""
    at = op.attrs
    if at.get("fn", "max") != "max" or len(op.outputs[0].shape) != 4:
        return _roofline(op, cfg, mem)
    x, y = op.inputs[0], op.outputs[0]
    N, P = y.shape[0], y.shape[1]
    ctas = max(1, N * math.ceil(P / 2))
    return [Kernel("max_pool_forward_nhwc", op.name, op.kind, "row", (ctas, 1, 1), 1024, 32, 0,
                   ctas, 1, "simt", y.dtype,
                   simt_ops=int(y.numel * at.get("R", 1) * at.get("S", 1) * vendor.POOL_OPS_PER_TAP),
                   dep_rounds=2,
                   accesses=(Access("stream", mem.of(x), nbytes=x.nbytes),
                             Access("stream", mem.of(y), write=True, nbytes=y.nbytes)))]


@lowers("layernorm_bwd")
def _layernorm_bwd(op: Op, cfg, mem: _Memory) -> list[Kernel]:
    """PyTorch's two kernels: layer_norm_grad_input (a CTA per row, like the forward) and, when
    the affine parameters need gradients, GammaBetaBackward (column reduction, dependent chain)."""
    rows, cols = op.attrs["rows"], op.attrs["cols"]
    dy, x = op.inputs[0], op.inputs[1]
    dx = [t for t in op.outputs if t.shape == x.shape]
    dparams = [t for t in op.outputs if t.shape != x.shape]
    a, b = vendor.LAYERNORM_OPS
    c0, c1 = vendor.LAYERNORM_CHAIN
    kernels = []
    if dx:
        acc = (Access("stream", mem.of(dy), nbytes=dy.nbytes),
               Access("stream", mem.of(x), nbytes=x.nbytes),
               *(Access("stream", mem.of(t), nbytes=t.nbytes) for t in op.inputs[2:]),
               Access("stream", mem.of(dx[0]), write=True, nbytes=dx[0].nbytes))
        rounds = 2 + math.ceil(cols * dy.itemsize / vendor.LAYERNORM_ROUND_BYTES)
        kernels.append(Kernel("layer_norm_grad_input_kernel_vectorized", op.name, op.kind, "row",
                              (rows, 1, 1), 128, 32, 0, rows, 1, "simt", dy.dtype,
                              simt_ops=rows * (a + b * cols), dep_rounds=rounds,
                              dep_chain=c0 + c1 * cols / 128, accesses=acc))
    if dparams:
        g0, g1 = vendor.GAMMA_BETA_CHAIN
        ctas = max(1, math.ceil(cols / 32))
        acc = (Access("stream", mem.of(dy), nbytes=dy.nbytes),
               Access("stream", mem.of(x), nbytes=x.nbytes),
               *(Access("stream", mem.of(t), write=True, nbytes=t.nbytes) for t in dparams))
        kernels.append(Kernel("GammaBetaBackwardCUDAKernelTemplate", op.name, op.kind, "row",
                              (ctas, 1, 1), 1024, 32, 0, ctas, 1, "simt", dy.dtype,
                              simt_ops=rows * cols * 10, dep_rounds=2,
                              dep_chain=g0 + g1 * rows / 32, accesses=acc))
    return kernels or _roofline(op, cfg, mem)


@lowers("batchnorm_stats")
def _batchnorm_stats(op: Op, cfg, mem: _Memory) -> list[Kernel]:
    """Training batch norm's statistics: batch_norm_collect_statistics_channels_last, a per-channel
    Welford over the N*H*W rows (row model: issue-bound, or a thread's dependent chain when few
    row blocks hold many rows each)."""
    x, st = op.inputs[0], op.outputs[0]
    C = x.shape[-1]
    rows = x.numel // C
    gx, gy, threads, per_thread = vendor.batchnorm_grid(rows, C, reduction=True)
    return [Kernel("batch_norm_collect_statistics_channels_last_kernel", op.name, op.kind, "row",
                   (gx, gy, 1), threads, 32, 0, gx * gy, 1, "simt", x.dtype,
                   simt_ops=x.numel * vendor.BN_STATS_OPS,
                   dep_chain=per_thread * vendor.BN_STATS_CHAIN,
                   dep_rounds=math.ceil(per_thread / vendor.BN_STATS_ROWS_PER_ROUND),
                   accesses=(Access("stream", mem.of(x), nbytes=x.nbytes),
                             Access("stream", mem.of(st), write=True, nbytes=st.nbytes)))]


@lowers("batchnorm_bwd")
def _batchnorm_bwd(op: Op, cfg, mem: _Memory) -> list[Kernel]:
    """Training batch norm's backward: batch_norm_backward_reduce_channels_last (per-channel sums
    of dY and dY*(x-mean): the scale / shift gradients) then batch_norm_backward_elemt (dX)."""
    dy, x = op.inputs[0], op.inputs[1]
    C = x.shape[-1]
    rows = x.numel // C
    dx = [t for t in op.outputs if t.shape == x.shape]
    dpar = [t for t in op.outputs if t.shape != x.shape]
    sums = mem.place(f"{op.name}:sums", 2 * C * 4, "workspace")
    gx, gy, threads, per_thread = vendor.batchnorm_grid(rows, C, reduction=True)
    kernels = [Kernel(
        "batch_norm_backward_reduce_channels_last_kernel", op.name, op.kind, "row", (gx, gy, 1),
        threads, 32, 0, gx * gy, 1, "simt", dy.dtype, simt_ops=x.numel * vendor.BN_BWD_REDUCE_OPS,
        dep_chain=per_thread * vendor.BN_BWD_REDUCE_CHAIN,
        accesses=(Access("stream", mem.of(dy), nbytes=dy.nbytes),
                  Access("stream", mem.of(x), nbytes=x.nbytes),
                  *(Access("stream", mem.of(t), write=True, nbytes=t.nbytes) for t in dpar),
                  Access("stream", sums.name, write=True, nbytes=sums.nbytes)))]
    if dx:
        gx, gy, threads, _ = vendor.batchnorm_grid(rows, C, reduction=False)
        kernels.append(Kernel(
            "batch_norm_backward_elemt_channels_last_kernel", op.name, op.kind, "stream",
            (gx, gy, 1), threads, 32, 0, gx * gy, 1, "simt", dy.dtype,
            simt_ops=x.numel * vendor.BN_BWD_ELEMT_OPS,
            accesses=(Access("stream", mem.of(dy), nbytes=dy.nbytes),
                      Access("stream", mem.of(x), nbytes=x.nbytes),
                      Access("stream", sums.name, nbytes=sums.nbytes),
                      Access("stream", mem.of(dx[0]), write=True, nbytes=dx[0].nbytes))))
    return kernels


@lowers("reduction")
def _reduction(op: Op, cfg, mem: _Memory) -> list[Kernel]:
    x = op.inputs[0]
    y = op.outputs[0]
    nd = len(x.shape)
    axes = op.attrs.get("axes")
    if isinstance(axes, int):
        axes = (axes,)
    if axes is not None and nd >= 2 and (nd - 1) not in {a % nd for a in axes} and y.numel > 1:
        # a column reduction (bias gradient): column blocks x row slices, then the partials
        cols = y.numel
        rows = max(1, x.numel // cols)
        cx = math.ceil(cols / 128)
        cy = max(1, min(math.ceil(rows / vendor.COLUMN_REDUCE_ROWS), 16 * cfg.sm.count // cx))
        if math.ceil(rows / 4) < vendor.COLUMN_REDUCE_SPLIT_MIN:
            cy = 1   # PyTorch splits the rows over CTAs only from 256 values a thread (4 a column)
        # accumulate (16 rows a round per thread), fence + semaphore + partials write and
        # read (6 rounds), then a tree over the slices' partials
        rounds = math.ceil(rows / (cy * 16)) + 6 + math.ceil(math.log2(cy)) if cy > 1 else \
            math.ceil(rows / 16)
        ks = _row_kernel(op, mem, "reduce_kernel<column>", cx * cy, 128, 1,
                         x.numel * vendor.REDUCTION_OPS_PER_ELEM, rounds,
                         load_inflight=vendor.COLUMN_REDUCE_LOADS * x.itemsize)
        # slices reduced through global memory: PyTorch zeroes the semaphores first (a memset)
        return ([_memset(op, mem, mem.of(y))] if cy > 1 else []) + ks
    if y.numel > 1 and nd >= 1 and x.numel > y.numel:
        # rows reduced along the last axis: reduce_kernel<512, 1>, 32 x 16 threads, a warp per
        # row and 16 rows a CTA; rows longer than vendor.REDUCE_ROW_SPLIT get a CTA each
        # (h200-fidelity2-cal.json F3-K00..K07)
        rows = y.numel
        cols = x.numel // rows
        ctas = rows if cols > vendor.REDUCE_ROW_SPLIT else math.ceil(rows / 16)
        return _row_kernel(op, mem, "reduce_kernel<512,1>", max(1, ctas), 512, 1,
                           x.numel * vendor.REDUCTION_OPS_PER_ELEM, 2,
                           load_inflight=vendor.reduce_inflight(x.itemsize),
                           tail_rounds=vendor.REDUCE_TAIL_ROUNDS)
    ctas = max(1, min(x.numel // 4096 + 1, 4 * cfg.sm.count))
    return _row_kernel(op, mem, "reduce_kernel", ctas, 512, 1,
                       x.numel * vendor.REDUCTION_OPS_PER_ELEM, 2,
                       load_inflight=vendor.reduce_inflight(x.itemsize),
                       tail_rounds=vendor.REDUCE_TAIL_ROUNDS)


@lowers("transpose")
def _transpose(op: Op, cfg, mem: _Memory) -> list[Kernel]:
    """x.t().contiguous(): PyTorch's elementwise_kernel<128, 4> copy, reads coalesced and every
    element's store a separate 32-B sector that the L2 read-modify-writes (vendor.
    TRANSPOSE_SECTOR_BYTES of L2 traffic per element stored; h200-fidelity2-cal.json F3-K08..K12:
    ~150 G elements/s whatever the dtype)."""
    x, out = op.inputs[0], op.outputs[0]
    n = out.numel
    ctas = max(1, math.ceil(n / 512))
    req = x.nbytes + out.nbytes
    scale = (x.nbytes + n * vendor.TRANSPOSE_SECTOR_BYTES) / max(req, 1)
    return [Kernel("elementwise_kernel<128,4,direct_copy>(transpose)", op.name, op.kind, "stream",
                   (ctas, 1, 1), 128, 32, 0, ctas, 1, "simt", out.dtype,
                   simt_ops=n * vendor.STRIDED_COPY_OPS, l2_scale=scale,
                   accesses=(Access("stream", mem.of(x), nbytes=x.nbytes),
                             Access("stream", mem.of(out), write=True, nbytes=out.nbytes)))]


@lowers("gather")
def _gather(op: Op, cfg, mem: _Memory) -> list[Kernel]:
    table, idx = op.inputs[0], op.inputs[1]
    out = op.outputs[0]
    n = idx.numel
    row_bytes = out.nbytes // max(n, 1)
    ctas, threads = vendor.gather_plan(n, row_bytes)
    return [Kernel("vectorized_gather_kernel<16>", op.name, op.kind, "gather", (ctas, 1, 1),
                   threads, 32, 0, ctas, 1, "memory", out.dtype,
                   simt_ops=out.numel * 2, dep_rounds=2,
                   accesses=(Access("stream", mem.of(idx), nbytes=idx.nbytes),
                             Access("rows", mem.of(table), row_bytes=row_bytes,
                                    table_rows=table.shape[0], count=n),
                             Access("stream", mem.of(out), write=True, nbytes=out.nbytes)))]


@lowers("gather_add")   # LookupFFN (issue 12); fwht and code_score: roofline
def _gather_add(op: Op, cfg, mem: _Memory) -> list[Kernel]:
    """LookupFFN gather-add (kind gather_add): one CTA per token block reads its rows and
    accumulates score-weighted sums. Token-major fetches every lookup's row from L2;
    table-major tiled (order='table') stages each tile's distinct rows of a table once
    (attrs tile_rows). Rows are replayed through the L2 model as random rows of the table set."""
    a = op.attrs
    table, idx = op.inputs[0], op.inputs[1]
    out = op.outputs[0]
    row_bytes = a["dim"] * table.itemsize
    fetched = a["tile_rows"] if a.get("order") == "table" else a["lookups"]
    units = math.ceil(a["tokens"] / (a.get("tile", 64) if a.get("order") == "table" else 1))
    ctas, threads = vendor.gather_plan(units, row_bytes)
    acc = [Access("stream", mem.of(t), nbytes=t.nbytes) for t in _distinct(op.inputs[1:])]
    acc.append(Access("rows", mem.of(table), row_bytes=row_bytes,
                      table_rows=a["tables"] * a["rows"], count=fetched, seed=a.get("seed", 0)))
    acc.append(Access("stream", mem.of(out), write=True, nbytes=out.nbytes))
    return [Kernel("lookup_gather_add_kernel", op.name, op.kind, "gather", (ctas, 1, 1),
                   threads, 32, 0, ctas, 1, "memory", out.dtype,
                   simt_ops=op.flops + out.numel * 2, dep_rounds=2, accesses=tuple(acc))]


def _roofline(op: Op, cfg, mem: _Memory) -> list[Kernel]:
    """Approximate: stream every distinct input in and every output out; flops on the SIMT pipe."""
    out_elems = sum(t.numel for t in op.outputs)
    ctas, threads = vendor.elementwise_grid(max(out_elems, 1))
    acc = [Access("stream", mem.of(t), nbytes=t.nbytes) for t in _distinct(op.inputs)]
    acc += [Access("stream", mem.of(t), write=True, nbytes=t.nbytes) for t in op.outputs]
    dtype = op.outputs[0].dtype if op.outputs else "fp32"
    return [Kernel(f"{op.kind}_kernel", op.name, op.kind, "stream", (ctas, 1, 1), threads, 32, 0,
                   ctas, 1, "simt", dtype,
                   simt_ops=op.flops + out_elems * vendor.ELEMENTWISE_BASE_OPS, dep_rounds=2,
                   accesses=tuple(acc), approximate=True)]


def _distinct(ts):
    seen, out = set(), []
    for t in ts:
        if t.name not in seen:
            seen.add(t.name)
            out.append(t)
    return out


# ---- fused Adam as multi_tensor_apply launches (issue 15, fourth stage) -------------------------

def multi_tensor_plan(graph: Graph) -> dict:
    """The dense Adam updates of a training graph (phase "optimizer", one op per parameter) as
    torch.optim.Adam(fused=True) runs them: multi_tensor_apply launches over the parameter list
    in graph order (vendor.multi_tensor_launches). Returns {op name: (that op's index in the
    list, the ops in list order, the launches)}; {} when the graph has no such ops."""
    ops = [op for op in graph.topo_ops()
           if op.kind == "elementwise" and op.attrs.get("fn") == "adam"
           and op.attrs.get("phase") == "optimizer" and "sparse_rows" not in op.attrs
           and op.repeat <= 1 and len(op.inputs) == 4]
    if not ops:
        return {}
    launches = vendor.multi_tensor_launches([op.inputs[0].numel for op in ops], depth=4)
    plan = {"ops": ops, "launches": launches, "done_at": {}}
    for li, segs in enumerate(launches):
        plan["done_at"].setdefault(segs[-1][0], []).append(li)
    return {op.name: (i, plan) for i, op in enumerate(ops)}


def multi_tensor_kernels(op: Op, mem: _Memory, mta: dict) -> list[Kernel]:
    """The kernels lowered at Adam op `op`: at the first parameter, the step counters' depth-1
    _foreach_add_ launches; at the parameter that closes a launch, that launch of
    multi_tensor_apply_kernel<FusedOptimizerTensorListMetadata<4>> (one 512-thread CTA per
    65536-element chunk, each CTA MTA_CHUNK / (512 x 4) load-update-store rounds: the
    `multi_tensor` kernel model); nothing at the others. Updates are in place."""
    i, plan = mta[op.name]
    ops = plan["ops"]
    for o in (op,):
        for t_in, t_out in zip((o.inputs[0], o.inputs[2], o.inputs[3]), o.outputs):
            mem.alias[t_out.name] = mem.of(t_in)
    kernels = []
    if i == 0:
        steps = mem.place(f"{op.name}:adam_steps", 4 * len(ops), "state")
        per = vendor.MTA_MAX_TENSORS[1]
        for s in range(0, len(ops), per):
            n = min(per, len(ops) - s)
            kernels.append(Kernel("multi_tensor_apply_kernel<TensorListMetadata<1>,BinaryOpScalar>",
                                  op.name, op.kind, "stream", (n, 1, 1), vendor.MTA_BLOCK, 32, 0, n,
                                  1, "simt", "fp32", simt_ops=n * vendor.ELEMENTWISE_BASE_OPS,
                                  accesses=(Access("stream", steps.name, offset=4 * s, nbytes=4 * n),
                                            Access("stream", steps.name, write=True, offset=4 * s,
                                                   nbytes=4 * n))))
    per_round = vendor.MTA_BLOCK * vendor.MTA_ILP
    for li in plan["done_at"].get(i, []):
        segs = plan["launches"][li]
        rd, wr, elems, ctas, longest = [], [], 0, 0, 0
        for t, c0, c1 in segs:
            p, g, m, v = ops[t].inputs
            e0, e1 = c0 * vendor.MTA_CHUNK, min(p.numel, c1 * vendor.MTA_CHUNK)
            elems += e1 - e0
            ctas += c1 - c0
            longest = max(longest, min(vendor.MTA_CHUNK, e1 - e0))
            for x in (p, g, m, v):
                rd.append(Access("stream", mem.of(x), offset=e0 * x.itemsize,
                                 nbytes=(e1 - e0) * x.itemsize))
            for x in (p, m, v):
                wr.append(Access("stream", mem.of(x), write=True, offset=e0 * x.itemsize,
                                 nbytes=(e1 - e0) * x.itemsize))
        kernels.append(Kernel("multi_tensor_apply_kernel<FusedOptimizerTensorListMetadata<4>,FusedAdam>",
                              op.name, op.kind, "multi_tensor", (ctas, 1, 1), vendor.MTA_BLOCK, 32, 0,
                              ctas, 1, "simt", "fp32",
                              simt_ops=elems * vendor.elementwise_ops("adam"),
                              dep_rounds=max(1, math.ceil(longest / per_round)),
                              load_inflight=vendor.MTA_ILP * 4, accesses=tuple(rd + wr)))
    return kernels


# ---- embedding backward as PyTorch runs it (issue 15, fourth stage) -----------------------------

def _small(name: str, op: Op, mem: _Memory, ctas: int, threads: int, rounds: int, accesses,
           chain: float = 0.0, ops: int = 0) -> Kernel:
    """A small latency-bound kernel (sort, scan and segment kernels): `rounds` dependent memory
    round trips, an optional per-thread dependent instruction chain (row model)."""
    ctas = max(1, int(ctas))
    return Kernel(name, op.name, op.kind, "row", (ctas, 1, 1), threads, 32, 0, ctas, 1, "simt",
                  "int64", simt_ops=int(ops or ctas * threads * 4), dep_rounds=rounds,
                  dep_chain=chain, accesses=tuple(accesses))


@lowers("scatter_add")
def _scatter_add(op: Op, cfg, mem: _Memory) -> list[Kernel]:
    if not op.attrs.get("embedding"):
        return _roofline(op, cfg, mem)
    return embedding_backward_kernels(op, cfg, mem)


def embedding_backward_kernels(op: Op, cfg, mem: _Memory) -> list[Kernel]:
    """embedding_dense_backward_cuda (vendor.EMBEDDING_*): the zero-filled table gradient, then
    the feature kernel (few indices) or the sort-and-segment sequence. Inputs (zeros, dY, idx)."""
    _, dy, idx = op.inputs[:3]
    gw = op.outputs[0]
    mem.alias[op.inputs[0].name] = mem.of(gw)          # at::zeros: the gradient buffer itself
    rows, n = gw.shape[0], idx.numel
    dim = gw.numel // max(rows, 1)
    es = gw.itemsize
    row_bytes = dim * es
    fctas, fthreads = vendor.elementwise_grid(gw.numel)
    fill = Kernel("vectorized_elementwise_kernel<FillFunctor>", op.name, op.kind, "stream",
                  (fctas, 1, 1), fthreads, 32, 0, fctas, 1, "simt", gw.dtype,
                  simt_ops=gw.numel * vendor.ELEMENTWISE_BASE_OPS,
                  accesses=(Access("stream", mem.of(gw), write=True, nbytes=gw.nbytes),))
    grad_rows = Access("rows", mem.of(gw), row_bytes=row_bytes, table_rows=rows, count=n)
    if n <= vendor.EMBEDDING_FEATURE_MAX:
        chunks = math.ceil(n / 32)
        feat = Kernel("embedding_backward_feature_kernel", op.name, op.kind, "row",
                      (math.ceil(dim / 32), 1, 1), 1024, 32, 8192, math.ceil(dim / 32), 1, "simt",
                      gw.dtype, simt_ops=n * dim * 8, dep_rounds=chunks,
                      dep_chain=chunks * vendor.EMBEDDING_CHUNK_CHAIN,
                      accesses=(Access("stream", mem.of(idx), nbytes=idx.nbytes),
                                Access("stream", mem.of(dy), nbytes=dy.nbytes), grad_rows))
        return [fill, feat]
    ks = []
    keys = mem.place(f"{op.name}:sort_keys", 4 * n * 8, "workspace")   # keys, values, in and out
    kacc = (Access("stream", keys.name, nbytes=keys.nbytes // 2),
            Access("stream", keys.name, write=True, offset=keys.nbytes // 2, nbytes=keys.nbytes // 2))
    ks.append(_small("elementwise_kernel_with_index<arange>", op, mem, math.ceil(n / 64), 64, 1,
                     (Access("stream", keys.name, write=True, nbytes=8 * n),)))
    ks.append(_memset(op, mem, keys.name))
    ks.append(_memset(op, mem, keys.name))
    ks.append(_small("DeviceRadixSortHistogramKernel", op, mem, cfg.sm.count * 7, 128, 2,
                     (Access("stream", mem.of(idx), nbytes=idx.nbytes),)))
    ks.append(_small("DeviceRadixSortExclusiveSumKernel", op, mem, 8, 256, 2, ()))
    tiles = math.ceil(n / vendor.RADIX_TILE_ITEMS)
    for _ in range(64 // vendor.RADIX_BITS_PER_PASS):
        ks.append(_memset(op, mem, keys.name))
        ks.append(_small("DeviceRadixSortOnesweepKernel", op, mem, tiles, 384, 3, kacc,
                         chain=vendor.RADIX_PASS_CHAIN))
    ks.append(fill)
    segs = min(n, rows)
    partials = n // vendor.EMBEDDING_ROWS_PER_PARTIAL + segs
    seg_ws = mem.place(f"{op.name}:segments", 8 * 4 * n, "workspace")
    sacc = (Access("stream", seg_ws.name, nbytes=8 * n),
            Access("stream", seg_ws.name, write=True, offset=8 * n, nbytes=8 * n))
    ks.append(_small("DeviceCompactInitKernel", op, mem, 1, 128, 1, ()))
    ks.append(_small("DeviceUniqueByKeySweepKernel", op, mem, math.ceil(n / 4096), 640, 3, kacc[:1] + sacc[1:]))
    ks.append(_small("krn_partials_per_segment", op, mem, math.ceil(n / 32), 32, 2, sacc))
    ks.append(_small("DeviceScanInitKernel", op, mem, 1, 128, 1, ()))
    ks.append(_small("DeviceScanKernel", op, mem, math.ceil(n / 896), 128, 3, sacc))
    ks.append(_small("compute_num_of_partial_segments", op, mem, 1, 1, 2, ()))
    ks.append(_small("krn_partial_segment_offset", op, mem, math.ceil(n / 32), 32, 2, sacc))
    threads = min(1024, math.ceil(dim / 32) * 32)
    part = mem.place(f"{op.name}:partials", partials * dim * 4, "workspace")
    # distinct rows of n uniformly drawn indices: the segments that exist (CTAs past them exit at
    # once: they are launched, but carry no work unit)
    uniq = max(1, round(rows * (1.0 - (1.0 - 1.0 / rows) ** n)))
    used = min(partials, uniq + n // vendor.EMBEDDING_ROWS_PER_PARTIAL)
    ks.append(Kernel("compute_grad_weight", op.name, op.kind, "row", (partials, 1, 1), threads, 32, 0,
                     used, 1, "simt", "fp32", simt_ops=n * dim * 4,
                     dep_rounds=vendor.EMBEDDING_SEGMENT_ROUNDS,
                     accesses=(Access("stream", seg_ws.name, nbytes=8 * n),
                               Access("rows", mem.of(dy), row_bytes=row_bytes, table_rows=n, count=n),
                               Access("stream", part.name, write=True, nbytes=used * dim * 4))))
    ks.append(Kernel("sum_and_scatter", op.name, op.kind, "row", (segs, 1, 1), threads, 32, 0, uniq, 1,
                     "simt", gw.dtype, simt_ops=used * dim * 4,
                     dep_rounds=vendor.EMBEDDING_SEGMENT_ROUNDS,
                     accesses=(Access("stream", part.name, nbytes=used * dim * 4),
                               Access("rows", mem.of(gw), row_bytes=row_bytes, table_rows=rows,
                                      count=uniq))))
    return ks


def _memset(op: Op, mem: _Memory, buf: str) -> Kernel:
    """A small cudaMemsetAsync (cub's and reduce_kernel's counters, cuDNN's buffers): a
    copy-engine-side write of 4 KB (~0.9 us; the measured Memset activities take 0.8-1.2 us)."""
    return Kernel("memset", op.name, op.kind, "dma", (1, 1, 1), 32, 32, 0, 1, 1, "memory", "int32",
                  accesses=(Access("stream", buf, write=True, nbytes=4096),))
