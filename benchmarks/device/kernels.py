"""Kernel microbenchmarks on the H200 (issue 3 item 6): held-out shapes for validating archsim.

    python3 kernels.py time OUT.json        # CUDA-event and CUDA-graph timings
    ncu ... python3 kernels.py profile ORDER.json   # one profiled call per case (see run_device.sh)

Schema follows /work/shared/reference/h200-calibration.json ("cases").
"""
import json
import sys
import traceback

import torch
import torch.nn.functional as F

from common import DTYPES, ESIZE, WARMUP, device_info, marker, time_call, write_json, clocks_snapshot

torch.backends.cuda.matmul.allow_tf32 = False
torch.backends.cudnn.allow_tf32 = False


def cases():
    L = []
    for M, N, K in [(1024, 1024, 1024), (4096, 4096, 4096), (1, 4096, 4096), (64, 4096, 14336),
                    (2048, 14336, 4096), (512, 512, 512), (16384, 1024, 1024), (8192, 1024, 8192),
                    (3072, 768, 768)]:
        L.append(dict(op="gemm", M=M, N=N, K=K, dtype="bf16"))
    L.append(dict(op="gemm", M=4096, N=4096, K=4096, dtype="fp16"))
    L.append(dict(op="gemm", M=1024, N=4096, K=1024, dtype="fp16"))
    L.append(dict(op="gemm", M=1024, N=1024, K=1024, dtype="fp32"))
    for op in ("add", "relu"):
        for p in (18, 20, 22, 24, 26, 28):
            L.append(dict(op=op, n=2 ** p, dtype="bf16"))
    L.append(dict(op="add", n=2 ** 24, dtype="fp16"))
    L.append(dict(op="softmax", rows=8192, cols=1024, dtype="bf16"))
    L.append(dict(op="softmax", rows=1024, cols=50257, dtype="bf16"))
    L.append(dict(op="layernorm", rows=16384, cols=4096, dtype="bf16"))
    L.append(dict(op="layernorm", rows=512, cols=1024, dtype="bf16"))
    for B, H, S, D in [(1, 32, 4096, 128), (16, 12, 512, 64), (8, 32, 1024, 128)]:
        L.append(dict(op="attention", B=B, H=H, S=S, D=D, dtype="bf16"))
    for N, C, K, H, W, R, st in [(32, 64, 64, 56, 56, 3, 1), (32, 256, 64, 56, 56, 1, 1), (32, 512, 512, 7, 7, 3, 1)]:
        L.append(dict(op="conv2d", N=N, C=C, K=K, H=H, W=W, R=R, stride=st, dtype="bf16"))
    L.append(dict(op="gather", table_rows=1000000, dim=128, n=262144, dtype="fp32"))
    L.append(dict(op="gather", table_rows=50257, dim=768, n=8192, dtype="bf16"))
    L.append(dict(op="copy", n=2 ** 24, dtype="fp32"))
    L.append(dict(op="copy", n=2 ** 28, dtype="fp32"))
    for i, c in enumerate(L):
        c["case"] = i
    return L


def build(c):
    """Return (fn, extra fields: flops/min_bytes/notes)."""
    dt = DTYPES[c["dtype"]]
    e = ESIZE[c["dtype"]]
    dev = "cuda"
    op = c["op"]
    ex = {}
    if op == "gemm":
        M, N, K = c["M"], c["N"], c["K"]
        a = torch.randn(M, K, device=dev, dtype=dt)
        b = torch.randn(K, N, device=dev, dtype=dt)
        fn = lambda: torch.mm(a, b)  # noqa: E731
        ex = dict(flops=2 * M * N * K, min_bytes=(M * K + K * N + M * N) * e)
    elif op in ("add", "relu", "gelu"):
        n = c["n"]
        x = torch.randn(n, device=dev, dtype=dt)
        if op == "add":
            y = torch.randn(n, device=dev, dtype=dt)
            fn = lambda: x + y  # noqa: E731
            ex = dict(min_bytes=3 * n * e)
        elif op == "relu":
            fn = lambda: torch.relu(x)  # noqa: E731
            ex = dict(min_bytes=2 * n * e)
        else:
            fn = lambda: F.gelu(x)  # noqa: E731
            ex = dict(min_bytes=2 * n * e)
    elif op == "softmax":
        x = torch.randn(c["rows"], c["cols"], device=dev, dtype=dt)
        fn = lambda: torch.softmax(x, dim=-1)  # noqa: E731
        ex = dict(min_bytes=2 * c["rows"] * c["cols"] * e)
    elif op == "layernorm":
        R, C = c["rows"], c["cols"]
        x = torch.randn(R, C, device=dev, dtype=dt)
        w = torch.randn(C, device=dev, dtype=dt)
        bb = torch.randn(C, device=dev, dtype=dt)
        fn = lambda: F.layer_norm(x, (C,), w, bb)  # noqa: E731
        ex = dict(min_bytes=2 * R * C * e)
    elif op == "attention":
        B, H, S, D = c["B"], c["H"], c["S"], c["D"]
        q, k, v = (torch.randn(B, H, S, D, device=dev, dtype=dt) for _ in range(3))
        fn = lambda: F.scaled_dot_product_attention(q, k, v)  # noqa: E731
        ex = dict(flops=4 * B * H * S * S * D, min_bytes=4 * B * H * S * D * e,
                  note="torch SDPA default backend selection, non-causal, no mask")
    elif op == "conv2d":
        N, C, K, H, W, R, st = c["N"], c["C"], c["K"], c["H"], c["W"], c["R"], c["stride"]
        x = torch.randn(N, C, H, W, device=dev, dtype=dt).to(memory_format=torch.channels_last)
        w = torch.randn(K, C, R, R, device=dev, dtype=dt).to(memory_format=torch.channels_last)
        pad = R // 2
        Ho = (H + 2 * pad - R) // st + 1
        Wo = (W + 2 * pad - R) // st + 1
        fn = lambda: F.conv2d(x, w, stride=st, padding=pad)  # noqa: E731
        ex = dict(flops=2 * N * K * Ho * Wo * C * R * R,
                  min_bytes=(N * C * H * W + K * C * R * R + N * K * Ho * Wo) * e,
                  note=f"channels_last, padding={pad}, no bias, cudnn.benchmark=False")
    elif op == "gather":
        T, D, n = c["table_rows"], c["dim"], c["n"]
        tab = torch.randn(T, D, device=dev, dtype=dt)
        idx = torch.randint(0, T, (n,), device=dev, dtype=torch.int64)
        fn = lambda: torch.index_select(tab, 0, idx)  # noqa: E731
        ex = dict(min_bytes=2 * n * D * e + n * 8, note="torch.index_select(table, 0, idx), int64 uniform random idx")
    elif op == "copy":
        n = c["n"]
        src = torch.randn(n, device=dev, dtype=dt)
        dst = torch.empty_like(src)
        fn = lambda: dst.copy_(src)  # noqa: E731
        ex = dict(min_bytes=2 * n * e, note="dst.copy_(src), contiguous same dtype (PyTorch issues cudaMemcpyAsync D2D)")
    else:
        raise ValueError(op)
    return fn, ex


def run_time(out_path):
    res = {"device": device_info(), "clocks_before": clocks_snapshot(), "cases": []}
    for c in cases():
        try:
            fn, ex = build(c)
            t = time_call(fn)
            r = dict(c)
            r.update(ex)
            r.update(t)
            if "flops" in r:
                r["tflops"] = r["flops"] / (r["median_us"] * 1e-6) / 1e12
            r["gbps_min_bytes"] = r["min_bytes"] / (r["median_us"] * 1e-6) / 1e9
            res["cases"].append(r)
            print(f"{c['case']:3d} {c['op']:10s} {json.dumps({k: v for k, v in c.items() if k not in ('op', 'case')})}"
                  f" median {r['median_us']:.2f} us graph {r.get('graph_us')}", flush=True)
        except Exception as e:  # noqa: BLE001
            traceback.print_exc()
            res["cases"].append(dict(c, error=repr(e)[:500]))
        finally:
            fn = None
            torch.cuda.synchronize()
            torch.cuda.empty_cache()
        write_json(out_path, res)
    res["clocks_after"] = clocks_snapshot()
    write_json(out_path, res)


def run_profile(order_path):
    done = []
    for c in cases():
        try:
            fn, _ = build(c)
            for _ in range(WARMUP):
                fn()
            torch.cuda.synchronize()
            torch.cuda.profiler.start()
            marker()
            fn()
            torch.cuda.synchronize()
            torch.cuda.profiler.stop()
            done.append(c["case"])
        except Exception:  # noqa: BLE001
            traceback.print_exc()
        finally:
            fn = None
            torch.cuda.synchronize()
            torch.cuda.empty_cache()
        with open(order_path, "w") as f:
            json.dump(done, f)


if __name__ == "__main__":
    if sys.argv[1] == "time":
        run_time(sys.argv[2])
    else:
        run_profile(sys.argv[2])
