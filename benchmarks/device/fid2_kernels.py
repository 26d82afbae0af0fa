"""Issue 15 kernel cases on the H200 (both sets of fid2_cases.py), by the method of kernels.py.

    python3 fid2_kernels.py time OUT.json [SET]        # CUDA events, CUDA-graph replay, CUPTI kernel list
    ncu ... python3 fid2_kernels.py profile ORDER.json [SET [IDS]]   # one profiled call per case (marker first)
    python3 fid2_kernels.py dry                        # no GPU: build every case's description only

Per case (as kernels.py): inputs made once with torch.randn (never zeros), 3 warm-up calls, then
CUDA-event times of back-to-back calls (reps sized to ~50 ms, 10-200), then the call captured in a
one-call CUDA graph and replayed (graph_us, median). Added here: `cupti_kernels`, every GPU activity
(kernels, memcpy, memset) of one more eager call seen by torch.profiler/CUPTI, with its duration
(warm L2: same inputs as the timed calls), and `cupti_ns_sum`. TF32 off everywhere.
"""
import json
import sys
import traceback

from fid2_cases import E, all_kernel_cases

if __name__ == "__main__" and len(sys.argv) > 1 and sys.argv[1] == "dry":
    torch = None
else:
    import torch
    import torch.nn.functional as F

    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    torch.backends.cudnn.benchmark = False


def _rand(*shape, dt):
    return torch.randn(*shape, device="cuda", dtype=dt)


def build(c):
    """Return (fn, extra): fn() runs the case once; extra has flops/min_bytes/note where known."""
    from common import DTYPES
    op = c["op"]
    dt = DTYPES[c["dtype"]]
    e = E[c["dtype"]]
    ex = {}
    if op == "gemm":
        M, N, K, lay, bt = c["M"], c["N"], c["K"], c.get("layout", "NN"), c.get("batch", 1)
        if bt > 1:
            a, b = _rand(bt, M, K, dt=dt), _rand(bt, K, N, dt=dt)
            fn = lambda: torch.bmm(a, b)  # noqa: E731
            ex["note"] = "torch.bmm(a, b), a (batch,M,K), b (batch,K,N) contiguous"
        elif lay == "NT":   # Linear forward: x (M,K) @ W(N,K)^T
            a, w = _rand(M, K, dt=dt), _rand(N, K, dt=dt)
            fn = lambda: torch.mm(a, w.t())  # noqa: E731
            ex["note"] = "torch.mm(x, W.t()): x (M,K) row-major, W (N,K) row-major (Linear forward)"
        elif lay == "TN":   # Linear wgrad: dY(K,M)^T @ X(K,N)
            at, b = _rand(K, M, dt=dt), _rand(K, N, dt=dt)
            fn = lambda: torch.mm(at.t(), b)  # noqa: E731
            ex["note"] = "torch.mm(dY.t(), X): dY (K,M) row-major, X (K,N) row-major (Linear weight gradient)"
        else:
            a, b = _rand(M, K, dt=dt), _rand(K, N, dt=dt)
            fn = lambda: torch.mm(a, b)  # noqa: E731
            ex["note"] = "torch.mm(a, b): a (M,K), b (K,N) row-major" + \
                (" (Linear input gradient dY @ W)" if c.get("role") == "dgrad" else "")
        ex.update(flops=2 * bt * M * N * K, min_bytes=bt * (M * K + K * N + M * N) * e)
    elif op == "attention":
        B, H, S, D = c["B"], c["H"], c["S"], c["D"]
        Skv, Hkv, causal = c.get("Skv", S), c.get("Hkv", H), c.get("causal", False)
        q, k, v = _rand(B, H, S, D, dt=dt), _rand(B, Hkv, Skv, D, dt=dt), _rand(B, Hkv, Skv, D, dt=dt)
        gqa = Hkv != H
        fn = lambda: F.scaled_dot_product_attention(q, k, v, is_causal=causal, enable_gqa=gqa)  # noqa: E731
        ex.update(flops=4 * B * H * S * Skv * D // (2 if causal else 1),
                  min_bytes=(2 * B * H * S * D + 2 * B * Hkv * Skv * D) * e,
                  note=f"F.scaled_dot_product_attention default backend, is_causal={causal}, enable_gqa={gqa}")
    elif op == "conv2d":
        N, C, K, H, W, R, st = c["N"], c["C"], c["K"], c["H"], c["W"], c["R"], c["stride"]
        x = _rand(N, C, H, W, dt=dt).to(memory_format=torch.channels_last)
        w = _rand(K, C, R, R, dt=dt).to(memory_format=torch.channels_last)
        pad = R // 2
        Ho, Wo = (H + 2 * pad - R) // st + 1, (W + 2 * pad - R) // st + 1
        fn = lambda: F.conv2d(x, w, stride=st, padding=pad)  # noqa: E731
        ex.update(flops=2 * N * K * Ho * Wo * C * R * R,
                  min_bytes=(N * C * H * W + K * C * R * R + N * K * Ho * Wo) * e,
                  note=f"F.conv2d channels_last, padding={pad}, no bias, cudnn.benchmark=False")
    elif op == "pool":
        N, C, H, W, k, st, pad = c["N"], c["C"], c["H"], c["W"], c["window"], c["stride"], c["pad"]
        x = _rand(N, C, H, W, dt=dt).to(memory_format=torch.channels_last)
        Ho, Wo = (H + 2 * pad - k) // st + 1, (W + 2 * pad - k) // st + 1
        fn = lambda: F.max_pool2d(x, k, st, pad)  # noqa: E731
        ex.update(min_bytes=(N * C * H * W + N * C * Ho * Wo) * e,
                  note=f"F.max_pool2d(x, {k}, {st}, {pad}), channels_last")
    elif op == "softmax":
        x = _rand(c["rows"], c["cols"], dt=dt)
        fn = lambda: torch.softmax(x, dim=-1)  # noqa: E731
        ex.update(min_bytes=2 * c["rows"] * c["cols"] * e)
    elif op == "layernorm":
        R, C = c["rows"], c["cols"]
        x, w, bb = _rand(R, C, dt=dt), _rand(C, dt=dt), _rand(C, dt=dt)
        if c.get("rms"):
            fn = lambda: F.rms_norm(x, (C,), w, 1e-5)  # noqa: E731
            ex["note"] = "F.rms_norm with weight, eps 1e-5"
        else:
            fn = lambda: F.layer_norm(x, (C,), w, bb)  # noqa: E731
            ex["note"] = "F.layer_norm with weight and bias"
        ex.update(min_bytes=2 * R * C * e)
    elif op in ("add", "mul", "gelu", "relu"):
        n = c["n"]
        x, y = _rand(n, dt=dt), _rand(n, dt=dt)
        fn = {"add": lambda: x + y, "mul": lambda: x * y, "gelu": lambda: F.gelu(x),
              "relu": lambda: torch.relu(x)}[op]
        ex.update(min_bytes=(3 if op in ("add", "mul") else 2) * n * e)
    elif op == "copy":
        src = _rand(c["n"], dt=dt)
        dst = torch.empty_like(src)
        fn = lambda: dst.copy_(src)  # noqa: E731
        ex.update(min_bytes=2 * c["n"] * e, note="dst.copy_(src), contiguous, same dtype: cudaMemcpyAsync D2D")
    elif op == "copy_kernel":
        rows = c["n"] // 1024
        big = _rand(rows, 1040, dt=dt)
        src = big[:, :1024]
        dst = torch.empty(rows, 1024, device="cuda", dtype=dt)
        fn = lambda: dst.copy_(src)  # noqa: E731
        ex.update(min_bytes=2 * c["n"] * e)
    elif op == "transpose":
        x = _rand(c["rows"], c["cols"], dt=dt)
        fn = lambda: x.t().contiguous()  # noqa: E731
        ex.update(min_bytes=2 * c["rows"] * c["cols"] * e, note="x.t().contiguous()")
    elif op == "cast":
        x = _rand(c["n"], dt=dt)
        to = DTYPES[c["to"]]
        fn = lambda: x.to(to)  # noqa: E731
        ex.update(min_bytes=c["n"] * (e + E[c["to"]]), note=f"x.to({c['to']})")
    elif op in ("gather", "embedding"):
        T, D, n = c["table_rows"], c["dim"], c["n"]
        tab = _rand(T, D, dt=dt)
        idx = torch.randint(0, T, (n,), device="cuda", dtype=torch.int64)
        if op == "gather":
            fn = lambda: torch.index_select(tab, 0, idx)  # noqa: E731
            ex["note"] = "torch.index_select(table, 0, idx), int64 uniform random idx"
        else:
            fn = lambda: F.embedding(idx, tab)  # noqa: E731
            ex["note"] = "F.embedding(idx, table), int64 uniform random idx"
        ex.update(min_bytes=2 * n * D * e + n * 8)
    elif op == "reduce":
        x = _rand(c["rows"], c["cols"], dt=dt)
        fn = lambda: torch.sum(x, dim=-1)  # noqa: E731
        ex.update(min_bytes=(c["rows"] * c["cols"] + c["rows"]) * e, note="torch.sum(x, dim=-1)")
    elif op == "bias_grad":
        dy = _rand(c["rows"], c["cols"], dt=dt)
        fn = lambda: torch.sum(dy, 0)  # noqa: E731
        ex.update(min_bytes=(c["rows"] + 1) * c["cols"] * e)
    elif op == "layernorm_backward":
        R, C = c["rows"], c["cols"]
        x, w, bb, dy = _rand(R, C, dt=dt), _rand(C, dt=dt), _rand(C, dt=dt), _rand(R, C, dt=dt)
        _, mean, rstd = torch.ops.aten.native_layer_norm(x, [C], w, bb, 1e-12)
        fn = lambda: torch.ops.aten.native_layer_norm_backward(dy, x, [C], mean, rstd, w, bb,  # noqa: E731
                                                               [True, True, True])
        ex.update(min_bytes=3 * R * C * e, note="aten.native_layer_norm_backward(dy, x, ...) -> dx, dgamma, dbeta")
    elif op == "gelu_backward":
        x, dy = _rand(c["n"], dt=dt), _rand(c["n"], dt=dt)
        fn = lambda: torch.ops.aten.gelu_backward(dy, x)  # noqa: E731
        ex.update(min_bytes=3 * c["n"] * e, note="aten.gelu_backward(dy, x), erf GELU")
    elif op == "softmax_backward":
        x, dy = _rand(c["rows"], c["cols"], dt=dt), _rand(c["rows"], c["cols"], dt=dt)
        y = torch.softmax(x, -1)
        fn = lambda: torch.ops.aten._softmax_backward_data(dy, y, -1, dt)  # noqa: E731
        ex.update(min_bytes=3 * c["rows"] * c["cols"] * e, note="aten._softmax_backward_data(dy, y, -1)")
    elif op == "embedding_backward":
        T, D, n = c["table_rows"], c["dim"], c["n"]
        g = _rand(n, D, dt=dt)
        idx = torch.randint(0, T, (n,), device="cuda", dtype=torch.int64)
        fn = lambda: torch.ops.aten.embedding_dense_backward(g, idx, T, -1, False)  # noqa: E731
        ex.update(min_bytes=(n * D + T * D) * e + n * 8,
                  note="aten.embedding_dense_backward(grad, idx, table_rows, -1, False): dense table gradient")
    elif op == "attention_backward":
        B, H, S, D = c["B"], c["H"], c["S"], c["D"]
        q, k, v = (_rand(B, H, S, D, dt=dt).requires_grad_() for _ in range(3))
        out = F.scaled_dot_product_attention(q, k, v)
        dout = _rand(B, H, S, D, dt=dt)
        fn = lambda: torch.autograd.grad(out, (q, k, v), dout, retain_graph=True)  # noqa: E731
        ex.update(flops=int(2.5 * 4 * B * H * S * S * D), min_bytes=8 * B * H * S * D * e,
                  note="torch.autograd.grad of F.scaled_dot_product_attention (default backend), non-causal")
    elif op == "adam_fused":
        if c.get("model") == "bert-base":
            from models import Bert
            params = list(Bert().to("cuda").parameters())
        else:
            params = [torch.nn.Parameter(_rand(c["n"], dt=dt)) for _ in range(c["n_tensors"])]
        for p in params:
            p.grad = torch.randn_like(p)
        opt = torch.optim.Adam(params, lr=1e-4, fused=True, capturable=True)
        fn = opt.step
        npar = sum(p.numel() for p in params)
        ex.update(min_bytes=npar * 4 * 7, n_params=npar, n_tensors_actual=len(params),
                  note="torch.optim.Adam(fused=True, capturable=True).step(); reads p, g, m, v, writes p, m, v (fp32)")
    elif op in ("conv2d_dgrad", "conv2d_wgrad"):
        N, C, K, H, W, R, st = c["N"], c["C"], c["K"], c["H"], c["W"], c["R"], c["stride"]
        pad = R // 2
        Ho, Wo = (H + 2 * pad - R) // st + 1, (W + 2 * pad - R) // st + 1
        x = _rand(N, C, H, W, dt=dt).to(memory_format=torch.channels_last)
        w = _rand(K, C, R, R, dt=dt).to(memory_format=torch.channels_last)
        dy = _rand(N, K, Ho, Wo, dt=dt).to(memory_format=torch.channels_last)
        mask = [True, False, False] if op == "conv2d_dgrad" else [False, True, False]
        fn = lambda: torch.ops.aten.convolution_backward(dy, x, w, None, [st, st], [pad, pad], [1, 1],  # noqa: E731
                                                         False, [0, 0], 1, mask)
        ex.update(flops=2 * N * K * Ho * Wo * C * R * R,
                  note=f"aten.convolution_backward, output_mask={mask} (input gradient / weight gradient only), "
                       f"channels_last, padding={pad}, cudnn.benchmark=False")
    elif op == "pool_backward":
        N, C, H, W, k, st, pad = c["N"], c["C"], c["H"], c["W"], c["window"], c["stride"], c["pad"]
        x = _rand(N, C, H, W, dt=dt).to(memory_format=torch.channels_last)
        y, idx = F.max_pool2d(x, k, st, pad, return_indices=True)
        dy = torch.randn_like(y)
        fn = lambda: torch.ops.aten.max_pool2d_with_indices_backward(dy, x, [k, k], [st, st], [pad, pad],  # noqa: E731
                                                                     [1, 1], False, idx)
        ex.update(note="aten.max_pool2d_with_indices_backward, channels_last")
    elif op in ("batchnorm_train", "batchnorm_backward", "batchnorm_eval"):
        N, C, H, W = c["N"], c["C"], c["H"], c["W"]
        x = _rand(N, C, H, W, dt=dt).to(memory_format=torch.channels_last)
        w, b = torch.ones(C, device="cuda"), torch.zeros(C, device="cuda")
        rm, rv = torch.zeros(C, device="cuda"), torch.ones(C, device="cuda")
        if op == "batchnorm_train":
            fn = lambda: F.batch_norm(x, rm, rv, w, b, training=True)  # noqa: E731
            ex["note"] = "F.batch_norm(training=True), bf16 channels_last input, fp32 weight/bias/running stats"
        elif op == "batchnorm_eval":
            fn = lambda: F.batch_norm(x, rm, rv, w, b, training=False)  # noqa: E731
            ex["note"] = "F.batch_norm(training=False), bf16 channels_last input, fp32 weight/bias/running stats"
        else:
            xg, wg, bg = x.detach().requires_grad_(), w.requires_grad_(), b.requires_grad_()
            y = F.batch_norm(xg, rm, rv, wg, bg, training=True)
            dy = torch.randn_like(y)
            fn = lambda: torch.autograd.grad(y, (xg, wg, bg), dy, retain_graph=True)  # noqa: E731
            ex["note"] = ("torch.autograd.grad of F.batch_norm(training=True) (the backward a training step runs), "
                          "bf16 channels_last input, fp32 weight/bias")
        ex.update(min_bytes=2 * N * C * H * W * e)
    else:
        raise ValueError(op)
    return fn, ex


def _cases(which):
    return [c for c in all_kernel_cases() if which in (None, "all", c["set"])]


def run_time(out_path, which=None):
    from common import clocks_snapshot, device_info, time_call, write_json
    from models import profile_kernels
    res = {"device": device_info(), "clocks_before": clocks_snapshot(), "cases": []}
    for c in _cases(which):
        r = dict(c)
        fn = None
        try:
            fn, ex = build(c)
            r.update(ex)
            # a failed stream capture of autograd can leave the stream unusable: no graph for it
            r.update(time_call(fn, graph=c["op"] not in ("attention_backward", "batchnorm_backward")))
            if "flops" in r:
                r["tflops"] = r["flops"] / (r["median_us"] * 1e-6) / 1e12
            if "min_bytes" in r:
                r["gbps_min_bytes"] = r["min_bytes"] / (r["median_us"] * 1e-6) / 1e9
            ks = profile_kernels(fn)
            r["cupti_kernels"] = ks
            r["cupti_ns_sum"] = sum(k["ns"] for k in ks)
            print(f"{c['id']} {c['op']:18s} median {r['median_us']:9.2f} us graph {r.get('graph_us') or 0:9.2f} us "
                  f"cupti {r['cupti_ns_sum'] / 1e3:9.2f} us  {[k['name'][:40] for k in ks][:3]}", flush=True)
        except Exception as exc:  # noqa: BLE001
            traceback.print_exc()
            r["error"] = repr(exc)[:500]
        finally:
            fn = None
            torch.cuda.synchronize()
            torch.cuda.empty_cache()
        res["cases"].append(r)
        write_json(out_path, res)
    res["clocks_after"] = clocks_snapshot()
    write_json(out_path, res)


def run_profile(order_path, which=None, ids=None):
    from common import WARMUP, marker
    done = []
    for c in _cases(which):
        if ids and c["id"] not in ids:
            continue
        fn = None
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
            done.append(c["id"])
        except Exception:  # noqa: BLE001
            traceback.print_exc()
        finally:
            fn = None
            torch.cuda.synchronize()
            torch.cuda.empty_cache()
        with open(order_path, "w") as f:
            json.dump(done, f)


if __name__ == "__main__":
    cmd = sys.argv[1]
    if cmd == "dry":
        for c in _cases(sys.argv[2] if len(sys.argv) > 2 else None):
            print(c["id"], c["set"], c["op"])
    elif cmd == "time":
        run_time(sys.argv[2], sys.argv[3] if len(sys.argv) > 3 else None)
    elif cmd == "profile":
        run_profile(sys.argv[2], sys.argv[3] if len(sys.argv) > 3 else None,
                    sys.argv[4].split(",") if len(sys.argv) > 4 else None)
    else:
        raise SystemExit(__doc__)
