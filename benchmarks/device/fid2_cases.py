"""The cases of issue 15's two H200 data sets, as plain data (no torch: tests and the correlator read it).

    python3 fid2_cases.py            # list every case with its id
    python3 fid2_cases.py --check    # ids unique, required fields present, held-out shapes new

Two sets, measured together on one machine but used apart:
- HELD-OUT ("heldout2" -> benchmarks/data/h200-heldout-2.json): new shapes of every kernel kind
  the project has, and whole models at sizes no earlier file has. Frozen: nobody tunes on it.
- CALIBRATION ("cal" -> benchmarks/data/h200-fidelity2-cal.json): the classes issue 15 names as
  weak (first-layer and small-spatial convolutions, max-pool, ~1 M-element row kernels, device
  copies, backward kernels, fused Adam, AMP casts, BERT training steps) for tuning.

Op names and keywords are archsim's workload names and keywords where one exists (gemm, attention,
conv2d, pool, softmax, layernorm, reduce, add, mul, gelu, relu, gather, copy, transpose), so a
case maps onto a workload spec directly; the rest (backward kernels, casts, Adam, ...) are named
for what PyTorch runs, and benchmarks/correlate_fidelity2.py says how (or whether) each maps.
"""
from __future__ import annotations

import json
import os
import sys

E = {"bf16": 2, "fp16": 2, "fp32": 4}

# BERT-base Linear layers (in, out): fused QKV, attention out, FFN up, FFN down
BERT_LINEARS = [(768, 2304), (768, 768), (768, 3072), (3072, 768)]


def _gemm(M, N, K, dtype="bf16", **kw):
    return dict(op="gemm", M=M, N=N, K=K, dtype=dtype, **kw)


def heldout_kernels() -> list[dict]:
    L = []
    # -- GEMM (torch.mm, row-major A[M,K] @ B[K,N]); skinny, odd, large; fp16; fp32 (SIMT, TF32 off)
    for M, N, K in [(2048, 3072, 768), (8, 8192, 8192), (32, 14336, 4096), (6144, 6144, 6144),
                    (1000, 1000, 2048), (12288, 4096, 1024), (256, 2048, 2048), (4096, 128, 4096)]:
        L.append(_gemm(M, N, K))
    L.append(_gemm(2048, 2048, 8192, "fp16"))
    L.append(_gemm(2048, 2048, 2048, "fp32"))
    L.append(_gemm(512, 4096, 1024, "fp32"))
    # -- batched GEMM (torch.bmm)
    for b, M, N, K in [(64, 512, 512, 64), (32, 128, 128, 4096), (96, 256, 64, 256)]:
        L.append(_gemm(M, N, K, batch=b))
    # -- attention (F.scaled_dot_product_attention, default backend): prefill, causal, GQA decode
    L.append(dict(op="attention", B=2, H=16, S=2048, D=128, dtype="bf16"))
    L.append(dict(op="attention", B=4, H=32, S=1024, D=64, dtype="bf16", causal=True))
    L.append(dict(op="attention", B=1, H=8, S=8192, D=128, dtype="bf16", causal=True))
    L.append(dict(op="attention", B=32, H=32, S=1, D=128, dtype="bf16", Skv=4096, Hkv=8))
    L.append(dict(op="attention", B=8, H=32, S=1, D=128, dtype="bf16", Skv=8192, Hkv=32))
    # -- conv2d (channels_last, padding R//2, cudnn.benchmark off): stem, 14x14x256, strided
    L.append(dict(op="conv2d", N=8, C=3, K=64, H=224, W=224, R=7, stride=2, dtype="bf16"))
    L.append(dict(op="conv2d", N=96, C=3, K=64, H=224, W=224, R=7, stride=2, dtype="bf16"))
    L.append(dict(op="conv2d", N=16, C=256, K=256, H=14, W=14, R=3, stride=1, dtype="bf16"))
    L.append(dict(op="conv2d", N=128, C=256, K=256, H=14, W=14, R=3, stride=1, dtype="bf16"))
    L.append(dict(op="conv2d", N=32, C=128, K=128, H=56, W=56, R=3, stride=2, dtype="bf16"))
    L.append(dict(op="conv2d", N=32, C=256, K=512, H=56, W=56, R=1, stride=2, dtype="bf16"))
    L.append(dict(op="conv2d", N=64, C=64, K=256, H=56, W=56, R=1, stride=1, dtype="bf16"))
    # -- max-pool (F.max_pool2d 3x3 stride 2 padding 1, channels_last: ResNet's)
    L.append(dict(op="pool", N=16, C=64, H=112, W=112, window=3, stride=2, pad=1, dtype="bf16"))
    L.append(dict(op="pool", N=64, C=64, H=112, W=112, window=3, stride=2, pad=1, dtype="bf16"))
    # -- softmax / layernorm at several row sizes, ~1M elements (1024x1024) among them
    for r, c, dt in [(1024, 1024, "bf16"), (16384, 512, "bf16"), (256, 32768, "bf16"),
                     (65536, 64, "bf16"), (4096, 4096, "fp32")]:
        L.append(dict(op="softmax", rows=r, cols=c, dtype=dt))
    for r, c, dt in [(1024, 1024, "bf16"), (8192, 1024, "bf16"), (32768, 2048, "bf16"),
                     (2048, 4096, "fp32")]:
        L.append(dict(op="layernorm", rows=r, cols=c, dtype=dt))
    L.append(dict(op="layernorm", rows=2048, cols=4096, dtype="bf16", rms=True))
    # -- elementwise
    L.append(dict(op="add", n=3 * 2 ** 20, dtype="bf16"))
    L.append(dict(op="add", n=2 ** 25, dtype="fp32"))
    L.append(dict(op="gelu", n=2 ** 22, dtype="bf16"))
    L.append(dict(op="mul", n=2 ** 23, dtype="fp16"))
    L.append(dict(op="relu", n=5 * 2 ** 20, dtype="fp32"))
    # -- copies: cudaMemcpyAsync D2D (dst.copy_(src)), a materialised transpose, an AMP cast
    L.append(dict(op="copy", n=2 ** 20, dtype="fp32"))
    L.append(dict(op="copy", n=2 ** 26, dtype="fp32"))
    L.append(dict(op="copy", n=2 ** 27, dtype="bf16"))
    L.append(dict(op="transpose", rows=4096, cols=4096, dtype="bf16"))
    L.append(dict(op="cast", n=2 ** 24, dtype="fp32", to="bf16"))
    # -- gather / embedding
    L.append(dict(op="gather", table_rows=100000, dim=256, n=65536, dtype="fp32"))
    L.append(dict(op="embedding", table_rows=30522, dim=768, n=16384, dtype="bf16"))
    L.append(dict(op="embedding", table_rows=128256, dim=4096, n=2048, dtype="bf16"))
    # -- reductions (torch.sum over the last dim; one whole-tensor sum)
    L.append(dict(op="reduce", rows=8192, cols=8192, dtype="fp32"))
    L.append(dict(op="reduce", rows=65536, cols=1024, dtype="bf16"))
    L.append(dict(op="reduce", rows=1, cols=2 ** 26, dtype="fp32"))
    for i, c in enumerate(L):
        c["id"] = f"H2-K{i:02d}"
    return L


def cal_kernels() -> list[dict]:
    L = []
    # 1. convolutions outside the common case
    for N in (1, 32, 64, 128):
        L.append(dict(op="conv2d", N=N, C=3, K=64, H=224, W=224, R=7, stride=2, dtype="bf16"))
    for N in (32, 64, 256):
        L.append(dict(op="conv2d", N=N, C=256, K=256, H=14, W=14, R=3, stride=1, dtype="bf16"))
    for N in (32, 128):
        L.append(dict(op="conv2d", N=N, C=512, K=512, H=7, W=7, R=3, stride=1, dtype="bf16"))
    L.append(dict(op="conv2d", N=64, C=128, K=128, H=28, W=28, R=3, stride=1, dtype="bf16"))
    L.append(dict(op="conv2d", N=64, C=256, K=256, H=28, W=28, R=3, stride=2, dtype="bf16"))
    for N in (1, 32, 128, 256):
        L.append(dict(op="pool", N=N, C=64, H=112, W=112, window=3, stride=2, pad=1, dtype="bf16"))
    # 2. small row kernels around 1 M elements (and two sizes either side)
    for r, c in [(512, 2048), (2048, 512), (768, 1536), (1536, 768), (4096, 256), (256, 4096),
                 (1024, 768)]:
        L.append(dict(op="softmax", rows=r, cols=c, dtype="bf16"))
        L.append(dict(op="layernorm", rows=r, cols=c, dtype="bf16"))
    L.append(dict(op="softmax", rows=1024, cols=1024, dtype="fp32"))
    L.append(dict(op="layernorm", rows=1024, cols=1024, dtype="fp32"))
    # 3. copies: memcpy D2D at several sizes vs a copy kernel (strided slice, PyTorch's elementwise copy)
    for p in (18, 21, 23, 25, 27):
        L.append(dict(op="copy", n=2 ** p, dtype="fp32"))
        L.append(dict(op="copy_kernel", n=2 ** p, dtype="fp32",
                      note="dst.copy_(src[:, :1024]) with src (n/1024, 1040): not contiguous, so an "
                           "elementwise copy kernel rather than cudaMemcpyAsync"))
    # 4. backward kernels of BERT-base training (T = batch*seq tokens)
    for T in (2048, 8192):
        for fin, fout in BERT_LINEARS:
            # forward y = x W^T: (T,fin) @ (fout,fin)^T ; dgrad dx = dy W ; wgrad dW = dy^T x
            L.append(_gemm(T, fout, fin, role="fwd", layout="NT"))
            L.append(_gemm(T, fin, fout, role="dgrad", layout="NN"))
            L.append(_gemm(fout, fin, T, role="wgrad", layout="TN"))
    for T in (2048, 8192):
        L.append(dict(op="layernorm_backward", rows=T, cols=768, dtype="bf16"))
        L.append(dict(op="gelu_backward", n=T * 3072, dtype="bf16"))
        L.append(dict(op="bias_grad", rows=T, cols=768, dtype="bf16",
                      note="torch.sum(dy, 0): the Linear bias gradient"))
        L.append(dict(op="bias_grad", rows=T, cols=3072, dtype="bf16",
                      note="torch.sum(dy, 0): the Linear bias gradient"))
        L.append(dict(op="embedding_backward", table_rows=30522, dim=768, n=T, dtype="fp32"))
    for r, c in [(12288, 128), (49152, 512)]:
        L.append(dict(op="softmax_backward", rows=r, cols=c, dtype="bf16"))
    for B, S in [(8, 128), (8, 512), (32, 128)]:
        L.append(dict(op="attention_backward", B=B, H=12, S=S, D=64, dtype="bf16"))
    L.append(dict(op="adam_fused", model="bert-base", n_tensors=None, n=None, dtype="fp32",
                  note="torch.optim.Adam(fused=True, capturable=True).step() over BERT-base's parameters"))
    for n_t, n in [(1, 2 ** 24), (64, 2 ** 18)]:
        L.append(dict(op="adam_fused", n_tensors=n_t, n=n, dtype="fp32"))
    for n, src, dst in [(768 * 768, "fp32", "bf16"), (768 * 3072, "fp32", "bf16"),
                        (30522 * 768, "fp32", "bf16"), (2 ** 26, "fp32", "bf16"),
                        (768 * 3072, "bf16", "fp32"), (2 ** 26, "bf16", "fp32")]:
        L.append(dict(op="cast", n=n, dtype=src, to=dst))
    # 5. (second run) convolution backward of ResNet-50 training: data and weight gradients,
    #    max-pool backward, batch norm in training mode (forward and backward)
    for N, C, K, H, R, st in [(32, 64, 64, 56, 3, 1), (32, 256, 256, 14, 3, 1), (32, 256, 64, 56, 1, 1),
                              (32, 512, 512, 7, 3, 1), (32, 128, 128, 56, 3, 2)]:
        for role in ("dgrad", "wgrad"):
            L.append(dict(op=f"conv2d_{role}", N=N, C=C, K=K, H=H, W=H, R=R, stride=st, dtype="bf16"))
    L.append(dict(op="conv2d_wgrad", N=32, C=3, K=64, H=224, W=224, R=7, stride=2, dtype="bf16"))
    L.append(dict(op="pool_backward", N=32, C=64, H=112, W=112, window=3, stride=2, pad=1, dtype="bf16"))
    L.append(dict(op="batchnorm_train", N=32, C=256, H=56, W=56, dtype="bf16"))
    L.append(dict(op="batchnorm_backward", N=32, C=256, H=56, W=56, dtype="bf16"))
    for i, c in enumerate(L):
        c["id"] = f"F2-K{i:02d}"
    return L


def cal3_kernels() -> list[dict]:
    """Issue 15, tuning pass: calibration cases for the classes the first calibration set had no
    shape of (row / whole-tensor sums, materialised transposes). New shapes only: --check fails if
    one equals a held-out case. Appended to h200-fidelity2-cal.json (ids F3-Kxx, set "cal")."""
    L = []
    for r, c, dt in [(4096, 4096, "bf16"), (16384, 1024, "fp32"), (1024, 16384, "bf16"), (32768, 256, "bf16"),
                     (2048, 2048, "fp32"), (1, 2 ** 24, "bf16"), (1, 2 ** 22, "fp32"), (256, 65536, "fp32")]:
        L.append(dict(op="reduce", rows=r, cols=c, dtype=dt))
    for r, c, dt in [(2048, 2048, "bf16"), (8192, 2048, "bf16"), (2048, 8192, "fp32"), (1024, 1024, "fp32"),
                     (16384, 4096, "bf16")]:
        L.append(dict(op="transpose", rows=r, cols=c, dtype=dt))
    for i, c in enumerate(L):
        c["id"] = f"F3-K{i:02d}"
    return L


def cal4_kernels() -> list[dict]:
    """Issue 15, third stage (memory and row kernels): calibration shapes for the classes whose
    mechanisms the calibration had too few sizes of: large row / whole-tensor sums (loads in
    flight, several waves), fp32 -> bf16 casts, device copies around the L2 size, RMS norms,
    mid-size elementwise kernels, fused Adam over many tensors, softmax backward. New shapes only
    (--check). Stored in h200-fidelity2-cal4.json (ids F4-Kxx) by fid2_assemble_cal4.py."""
    L = []
    for r, c, dt in [(16384, 4096, "fp32"), (4096, 16384, "bf16"), (1, 2 ** 27, "bf16"), (131072, 512, "fp32"),
                     (32768, 2048, "bf16"), (2048, 32768, "fp32"), (1, 2 ** 25, "fp32")]:
        L.append(dict(op="reduce", rows=r, cols=c, dtype=dt))
    for n, dt, to in [(2 ** 23, "fp32", "bf16"), (2 ** 25, "fp32", "bf16"), (2 ** 27, "fp32", "bf16"),
                      (2 ** 25, "bf16", "fp32")]:
        L.append(dict(op="cast", n=n, dtype=dt, to=to))
    for n in (2 ** 19, 3 * 2 ** 19, 3 * 2 ** 20, 3 * 2 ** 21, 3 * 2 ** 22):
        L.append(dict(op="copy", n=n, dtype="fp32"))
    for r, c in [(4096, 4096), (1024, 8192), (8192, 2048), (256, 4096), (16384, 1024)]:
        L.append(dict(op="layernorm", rows=r, cols=c, dtype="bf16", rms=True))
    for op, n, dt in [("relu", 2 ** 21, "fp32"), ("relu", 2 ** 24, "fp32"), ("add", 2 ** 23, "bf16"),
                      ("add", 2 ** 22, "fp32"), ("mul", 3 * 2 ** 19, "bf16")]:
        L.append(dict(op=op, n=n, dtype=dt))
    for nt, n in [(16, 2 ** 20), (256, 2 ** 16), (4, 2 ** 22)]:
        L.append(dict(op="adam_fused", n_tensors=nt, n=n, dtype="fp32"))
    for r, c in [(4096, 1024), (1024, 4096)]:
        L.append(dict(op="softmax_backward", rows=r, cols=c, dtype="bf16"))
    for i, c in enumerate(L):
        c["id"] = f"F4-K{i:02d}"
    return L


def cal5_kernels() -> list[dict]:
    """Issue 15, third stage (tensor kernels and model time): calibration cases for the classes the
    first two calibration sets had no shape of -- 1x1 convolutions (stride 1 and 2) at ResNet-50's
    shapes and other batches, 3x3 convolutions at large and small batch, batched GEMMs, causal
    attention beside the same shape non-causal, and batch norm (training forward, backward,
    inference) at ResNet-50's shapes. New shapes only: --check fails if one equals a held-out case.
    Stored in their own file, h200-fidelity2-cal5.json (ids F5-Kxx, set "cal5")."""
    L = []
    for N, C, K, H, st in [(32, 64, 256, 56, 1), (32, 256, 64, 56, 1), (128, 512, 128, 28, 1),
                           (64, 1024, 256, 14, 1), (16, 2048, 512, 7, 1), (8, 256, 64, 56, 1),
                           (64, 256, 512, 56, 2), (32, 512, 1024, 28, 2), (128, 1024, 2048, 14, 2),
                           (8, 512, 1024, 28, 2)]:
        L.append(dict(op="conv2d", N=N, C=C, K=K, H=H, W=H, R=1, stride=st, dtype="bf16"))
    for N, C, K, H, st in [(256, 128, 128, 28, 1), (192, 256, 256, 14, 1), (128, 64, 64, 56, 1),
                           (8, 64, 64, 56, 1), (8, 512, 512, 7, 1), (128, 128, 128, 56, 2)]:
        L.append(dict(op="conv2d", N=N, C=C, K=K, H=H, W=H, R=3, stride=st, dtype="bf16"))
    for b, M, N, K in [(128, 256, 256, 64), (32, 1024, 1024, 64), (48, 512, 512, 128), (64, 512, 64, 512),
                       (16, 2048, 2048, 64), (256, 128, 128, 64), (24, 1024, 64, 1024)]:
        L.append(_gemm(M, N, K, batch=b))
    for B, H, S, D in [(1, 16, 4096, 128), (4, 16, 2048, 64), (16, 12, 512, 64), (2, 8, 8192, 64)]:
        for causal in (True, False):
            L.append(dict(op="attention", B=B, H=H, S=S, D=D, dtype="bf16", causal=causal))
    for N, C, H in [(32, 64, 112), (32, 512, 28), (32, 2048, 7), (128, 128, 56)]:
        for op in ("batchnorm_train", "batchnorm_backward"):
            L.append(dict(op=op, N=N, C=C, H=H, W=H, dtype="bf16"))
    for N, C, H in [(32, 256, 56), (8, 1024, 14), (8, 64, 112)]:
        L.append(dict(op="batchnorm_eval", N=N, C=C, H=H, W=H, dtype="bf16"))
    for i, c in enumerate(L):
        c["id"] = f"F5-K{i:02d}"
    return L


def cal6_kernels() -> list[dict]:
    """Issue 15, fourth stage (convolutions and ResNet training): a sweep of 3x3 forward
    convolutions over batch and channels, to find how cuDNN sizes the persistent grid of its sm90
    xmma implicit GEMM (120 or 132 CTAs: Nsight Compute's launch__cluster_* columns say which thread
    block cluster it launched), and the data / weight gradients of ResNet-50's convolutions at batch
    64 and 128 (3x3 incl. stride 2, 1x1, the 7x7 C=3 stem). New shapes only: --check fails if one
    equals a held-out case. Stored in h200-fidelity2-cal6.json (ids F6-Kxx, set "cal6")."""
    L = []
    fwd = [(n, 256, 256, 14, 1) for n in (8, 24, 40, 48, 80, 96, 112, 120, 144, 160, 224)]
    fwd += [(n, 128, 128, 28, 1) for n in (16, 32, 48, 96, 128, 192)]
    fwd += [(n, 64, 64, 56, 1) for n in (16, 32, 48, 64, 96, 256)]
    fwd += [(n, 512, 512, 7, 1) for n in (16, 48, 64, 96, 192, 256)]
    fwd += [(64, 128, 256, 14, 1), (64, 256, 128, 14, 1), (32, 256, 512, 14, 1), (64, 512, 256, 7, 1),
            (32, 384, 384, 14, 1), (32, 256, 256, 28, 1), (64, 256, 256, 28, 1), (64, 64, 64, 28, 1)]
    fwd += [(64, 128, 128, 56, 2), (32, 256, 256, 28, 2), (128, 256, 256, 28, 2), (32, 512, 512, 14, 2),
            (128, 512, 512, 14, 2)]
    for N, C, K, H, st in fwd:
        L.append(dict(op="conv2d", N=N, C=C, K=K, H=H, W=H, R=3, stride=st, dtype="bf16"))
    # ResNet-50's 3x3 convolutions (torchvision v1.5: the stride sits on the 3x3)
    r3 = [(64, 64, 56, 1), (128, 128, 56, 2), (128, 128, 28, 1), (256, 256, 28, 2), (256, 256, 14, 1),
          (512, 512, 14, 2), (512, 512, 7, 1)]
    for op in ("conv2d_dgrad", "conv2d_wgrad"):
        for N in (64, 128):
            for C, K, H, st in r3:
                L.append(dict(op=op, N=N, C=C, K=K, H=H, W=H, R=3, stride=st, dtype="bf16"))
    for C, K, H, st in [(256, 64, 56, 1), (64, 256, 56, 1), (512, 128, 28, 1), (128, 512, 28, 1),
                        (1024, 256, 14, 1), (256, 1024, 14, 1), (2048, 512, 7, 1), (512, 2048, 7, 1),
                        (256, 512, 56, 2)]:
        L.append(dict(op="conv2d_dgrad", N=128, C=C, K=K, H=H, W=H, R=1, stride=st, dtype="bf16"))
    L.append(dict(op="conv2d_wgrad", N=64, C=3, K=64, H=224, W=224, R=7, stride=2, dtype="bf16"))
    for i, c in enumerate(L):
        c["id"] = f"F6-K{i:02d}"
    return L


def heldout_models() -> list[dict]:
    L = []
    for B, S in [(4, 256), (16, 384)]:
        L.append(dict(model="bert", batch=B, seq=S, mode="inference",
                      workload=f"bert-base(batch={B}, seq={S}, layers=12)"))
    for B in (8, 64):
        L.append(dict(model="resnet50", batch=B, mode="inference", workload=f"resnet50(batch={B})"))
    L.append(dict(model="llama", phase="decode", batch=8, context=4096, mode="inference",
                  workload="llama3-8b(phase='decode', batch=8, context=4096, layers=1)"))
    L.append(dict(model="llama", phase="prefill", batch=1, seq=1024, mode="inference",
                  workload="llama3-8b(phase='prefill', batch=1, seq=1024, layers=1)"))
    for B, S in [(16, 256), (4, 384)]:
        L.append(dict(model="bert", batch=B, seq=S, mode="training",
                      workload=f"bert-base(batch={B}, seq={S}, layers=12)"))
    for i, c in enumerate(L):
        c["id"] = f"H2-M{i}"
        c["name"] = f"{c['model']}_{c['mode']}_h2m{i}"
    return L


def cal_models() -> list[dict]:
    L = []
    for B, S in [(4, 128), (16, 128), (32, 128), (8, 256), (8, 512), (32, 512)]:
        L.append(dict(model="bert", batch=B, seq=S, mode="training",
                      workload=f"bert-base(batch={B}, seq={S}, layers=12)"))
    for B in (32, 128):  # (second run) ResNet-50 training steps
        L.append(dict(model="resnet50", batch=B, mode="training", workload=f"resnet50(batch={B})"))
    for i, c in enumerate(L):
        c["id"] = f"F2-M{i}"
        c["name"] = f"{c['model']}_{c['mode']}_f2m{i}"
    return L


def cal_energy() -> list[dict]:
    """Kernel classes whose board energy issue 15 asks for; each looped ~2.5 s from a CUDA graph."""
    L = [
        dict(op="conv2d", N=64, C=3, K=64, H=224, W=224, R=7, stride=2, dtype="bf16"),
        dict(op="conv2d", N=256, C=256, K=256, H=14, W=14, R=3, stride=1, dtype="bf16"),
        dict(op="pool", N=128, C=64, H=112, W=112, window=3, stride=2, pad=1, dtype="bf16"),
        dict(op="softmax", rows=1536, cols=768, dtype="bf16"),
        dict(op="layernorm", rows=1536, cols=768, dtype="bf16"),
        dict(op="copy", n=2 ** 27, dtype="fp32"),
        dict(op="copy_kernel", n=2 ** 27, dtype="fp32"),
        dict(op="add", n=2 ** 27, dtype="fp32"),
        dict(op="gemm", M=3072, N=3072, K=3072, dtype="fp32"),
        dict(op="gemm", M=8192, N=768, K=3072, dtype="bf16", role="dgrad", layout="NN"),
        dict(op="gemm", M=3072, N=768, K=8192, dtype="bf16", role="wgrad", layout="TN"),
        dict(op="layernorm_backward", rows=8192, cols=768, dtype="bf16"),
        dict(op="attention_backward", B=32, H=12, S=128, D=64, dtype="bf16"),
        dict(op="adam_fused", model="bert-base", n_tensors=None, n=None, dtype="fp32"),
        dict(op="cast", n=2 ** 26, dtype="fp32", to="bf16"),
    ]
    for i, c in enumerate(L):
        c["id"] = f"F2-E{i:02d}"
    return L


def all_kernel_cases():
    return [dict(c, set="heldout2") for c in heldout_kernels()] + [dict(c, set="cal") for c in cal_kernels()] + \
        [dict(c, set="cal3") for c in cal3_kernels()] + [dict(c, set="cal4") for c in cal4_kernels()] + \
        [dict(c, set="cal5") for c in cal5_kernels()] + [dict(c, set="cal6") for c in cal6_kernels()]


def all_model_cases():
    return [dict(c, set="heldout2") for c in heldout_models()] + [dict(c, set="cal") for c in cal_models()]


SHAPE_SKIP = {"id", "set", "note", "case", "name", "workload"}
MEAS_FIELDS = {"flops", "min_bytes", "median_us", "min_us", "graph_us", "reps", "tflops", "gbps_min_bytes",
               "kernels", "kernel_ns_sum", "dram_bytes_sum", "compiled", "note", "graph_reps",
               "kernel_ns_sum_no_flush", "dram_bytes_sum_no_flush", "kernels_no_flush", "median_us_rep",
               "graph_us_rep", "is_kernel", "cupti_activities", "graph_error", "run", "cupti_kernels",
               "cupti_ns_sum", "cupti_ns_sum_rep", "kernel_names", "n_params", "n_tensors_actual"}


def shape_key(c: dict) -> str:
    """What makes a kernel case the same measurement: op, shape fields and dtype (nothing measured)."""
    return json.dumps({k: v for k, v in c.items() if k not in SHAPE_SKIP | MEAS_FIELDS and v is not None},
                      sort_keys=True)


def model_key(c: dict) -> str:
    return f"{c['workload']}|{c.get('mode', 'inference')}"


def check(root: str) -> list[str]:
    """Problems with the case lists: duplicate ids, and held-out cases that some other file measured."""
    probs = []
    ks, ms = all_kernel_cases(), all_model_cases()
    ids = [c["id"] for c in ks + ms]
    if len(ids) != len(set(ids)):
        probs.append("duplicate ids")
    older = []
    for p in [os.path.join(root, "..", "shared", "reference", "h200-calibration.json"),
              os.path.join(root, "benchmarks", "data", "h200-kernels.json"),
              os.path.join(root, "benchmarks", "data", "h200-models.json")]:
        with open(p) as f:
            older += json.load(f)["cases"]
    old_k = {shape_key(c) for c in older if "op" in c}
    old_m = {model_key(c) for c in older if "workload" in c}
    cal_k = {shape_key(c) for c in cal_kernels() + cal3_kernels() + cal4_kernels() + cal5_kernels() +
             cal6_kernels()}
    cal_m = {model_key(c) for c in cal_models()}
    for c in heldout_kernels():
        if shape_key(c) in old_k or shape_key(c) in cal_k:
            probs.append(f"held-out {c['id']} was measured elsewhere: {shape_key(c)}")
    for c in heldout_models():
        if model_key(c) in old_m or model_key(c) in cal_m:
            probs.append(f"held-out {c['id']} was measured elsewhere: {model_key(c)}")
    return probs


if __name__ == "__main__":
    if "--check" in sys.argv:
        here = os.path.dirname(os.path.abspath(__file__))
        pr = check(os.path.dirname(os.path.dirname(here)))
        print("\n".join(pr) or "ok")
        sys.exit(1 if pr else 0)
    for c in all_kernel_cases() + all_model_cases() + cal_energy():
        print(c["id"], json.dumps({k: v for k, v in c.items() if k != "id"}))
    print(len(heldout_kernels()), "held-out kernels,", len(cal_kernels()), "cal kernels,",
          len(heldout_models()), "held-out models,", len(cal_models()), "cal models,",
          len(cal_energy()), "energy cases")
