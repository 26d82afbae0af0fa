"""Every op kind as a workload of its own, with the keyword names of the calibration data.

`gemm(M=4096, N=4096, K=4096, dtype='bf16')`, `add(n=2**24)`, `softmax(rows=4096, cols=32000)`...
Shapes follow what PyTorch runs for the same call: row-major A[M, K] @ B[K, N]; NHWC
(channels-last) convolution; `mul_add` as eager PyTorch runs `a * b + a` (two kernels).
"""
from __future__ import annotations

from archsim.graph.builder import GraphBuilder
from archsim.graph.graph import Graph
from archsim.graph.registry import register_workload


@register_workload("gemm", "one (batched) matrix product C[M,N] = A[M,K] B[K,N]",
                   bounds={"batch": (1, None)})
def gemm(M: int, N: int, K: int, dtype: str = "bf16", batch: int = 1) -> Graph:
    b = GraphBuilder("gemm", dtype)
    lead = (batch,) if batch > 1 else ()
    a = b.input("A", lead + (M, K))
    w = b.input("B", lead + (K, N))
    b.matmul(a, w, name="gemm")
    return b.build()


def _pointwise(fn: str, n: int, dtype: str, arity: int) -> Graph:
    b = GraphBuilder(fn, dtype)
    xs = [b.input(f"x{i}", (n,)) for i in range(arity)]
    b.elementwise(fn, *xs, name=fn)
    return b.build()


@register_workload("add", "elementwise a + b over n elements")
def add(n: int, dtype: str = "bf16") -> Graph:
    return _pointwise("add", n, dtype, 2)


@register_workload("mul", "elementwise a * b over n elements")
def mul(n: int, dtype: str = "bf16") -> Graph:
    return _pointwise("mul", n, dtype, 2)


@register_workload("gelu", "elementwise GELU over n elements")
def gelu(n: int, dtype: str = "bf16") -> Graph:
    return _pointwise("gelu", n, dtype, 1)


@register_workload("relu", "elementwise ReLU over n elements")
def relu(n: int, dtype: str = "bf16") -> Graph:
    return _pointwise("relu", n, dtype, 1)


@register_workload("elementwise", "any elementwise function `fn` of `arity` tensors of n elements",
                   bounds={"arity": (1, 16)})
def elementwise(n: int, fn: str = "add", arity: int = 2, dtype: str = "bf16") -> Graph:
    return _pointwise(fn, n, dtype, arity)


@register_workload("mul_add", "a * b + a as eager PyTorch runs it: a mul kernel, then an add kernel")
def mul_add(n: int, dtype: str = "bf16") -> Graph:
    b = GraphBuilder("mul_add", dtype)
    x, y = b.input("a", (n,)), b.input("b", (n,))
    b.add(b.mul(x, y, name="mul"), x, name="add")
    return b.build()


@register_workload("softmax", "row softmax of a rows x cols matrix")
def softmax(rows: int, cols: int, dtype: str = "bf16") -> Graph:
    b = GraphBuilder("softmax", dtype)
    b.softmax(b.input("x", (rows, cols)), name="softmax")
    return b.build()


@register_workload("layernorm", "layer norm over the last axis of a rows x cols matrix")
def layernorm(rows: int, cols: int, dtype: str = "bf16", rms: bool = False) -> Graph:
    b = GraphBuilder("layernorm", dtype)
    b.layernorm(b.input("x", (rows, cols)), name="layernorm", rms=rms)
    return b.build()


@register_workload("reduce", "sum (or fn) of each row of a rows x cols matrix")
def reduce(rows: int, cols: int, fn: str = "sum", dtype: str = "bf16") -> Graph:
    b = GraphBuilder("reduce", dtype)
    b.reduce(b.input("x", (rows, cols)), axes=-1, fn=fn, name="reduce")
    return b.build()


@register_workload("attention", "fused (flash) attention, q[B,H,S,D] against k/v[B,Hkv,Skv,D]")
def attention(B: int, H: int, S: int, D: int, dtype: str = "bf16", causal: bool = False,
              Skv: int | None = None, Hkv: int | None = None) -> Graph:
    b = GraphBuilder("attention", dtype)
    Skv, Hkv = Skv or S, Hkv or H
    q = b.input("q", (B, H, S, D))
    k = b.input("k", (B, Hkv, Skv, D))
    v = b.input("v", (B, Hkv, Skv, D))
    b.attention(q, k, v, causal=causal, name="attention")
    return b.build()


@register_workload("conv2d", "NHWC convolution of N x H x W x C by K filters of R x R",
                   bounds={"stride": (1, None), "R": (1, None)})
def conv2d(N: int, C: int, K: int, H: int, W: int, R: int, stride: int = 1,
           dtype: str = "bf16", pad: int | None = None) -> Graph:
    b = GraphBuilder("conv2d", dtype)
    x = b.input("x", (N, H, W, C))
    b.conv2d(x, K, R, stride=stride, pad=pad, name="conv2d")
    return b.build()


@register_workload("gather", "index_select: n rows of dim elements from a table of table_rows")
def gather(table_rows: int, dim: int, n: int, dtype: str = "fp32") -> Graph:
    b = GraphBuilder("gather", dtype)
    table = b.input("table", (table_rows, dim))
    idx = b.index("idx", (n,))
    b.gather(table, idx, name="gather")
    return b.build()


@register_workload("scatter_add", "index_add: n rows of dim elements added into a target")
def scatter_add(table_rows: int, dim: int, n: int, dtype: str = "fp32") -> Graph:
    b = GraphBuilder("scatter_add", dtype)
    target = b.input("target", (table_rows, dim))
    upd = b.input("updates", (n, dim))
    b.scatter_add(target, upd, b.index("idx", (n,)), name="scatter_add")
    return b.build()


@register_workload("copy", "device-to-device copy of n elements")
def copy(n: int, dtype: str = "fp32") -> Graph:
    b = GraphBuilder("copy", dtype)
    b.copy(b.input("x", (n,)), name="copy")
    return b.build()


@register_workload("transpose", "materialised transpose of a rows x cols matrix")
def transpose(rows: int, cols: int, dtype: str = "bf16") -> Graph:
    b = GraphBuilder("transpose", dtype)
    b.transpose(b.input("x", (rows, cols)), (1, 0), name="transpose")
    return b.build()


@register_workload("pool", "max pooling of an NHWC tensor with a window x window kernel",
                   bounds={"window": (1, None), "stride": (1, None)})
def pool(N: int, C: int, H: int, W: int, window: int = 3, stride: int = 2,
         dtype: str = "bf16") -> Graph:
    b = GraphBuilder("pool", dtype)
    b.pool(b.input("x", (N, H, W, C)), window, stride, name="pool")
    return b.build()
