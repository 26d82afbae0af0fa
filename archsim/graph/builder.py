"""GraphBuilder: the API workloads use to write graphs with shapes, not bookkeeping.

    b = GraphBuilder("mlp")
    x = b.input("x", (32, 784), "bf16")
    h = b.linear(x, 256, epilogue="relu")
    y = b.softmax(b.linear(h, 10))
    g = b.build()

Every method returns the output TensorSpec. Names are generated inside the current `scope`.
"""
from __future__ import annotations

import math
from contextlib import contextmanager
from typing import Iterable, Sequence

import numpy as np

from archsim.errors import WorkloadError
from archsim.graph.graph import Graph
from archsim.graph.op import Op, attention_pairs
from archsim.graph.tensor import TensorSpec


def broadcast_shapes(*shapes: Sequence[int]) -> tuple[int, ...]:
    try:
        return tuple(int(d) for d in np.broadcast_shapes(*[tuple(s) for s in shapes]))
    except ValueError as exc:
        raise WorkloadError(f"shapes do not broadcast: {[tuple(s) for s in shapes]}") from exc


class GraphBuilder:
    def __init__(self, name: str, dtype: str = "bf16", attrs: dict | None = None):
        self.graph = Graph(name, attrs)
        self.dtype = dtype
        self._scopes: list[str] = []
        self._counts: dict[str, int] = {}

    # ---- naming -----------------------------------------------------------------------
    @contextmanager
    def scope(self, name: str):
        self._scopes.append(name)
        try:
            yield self
        finally:
            self._scopes.pop()

    def _name(self, base: str) -> str:
        stem = ".".join(self._scopes + [base])
        n = self._counts.get(stem, 0)
        self._counts[stem] = n + 1
        return stem if n == 0 else f"{stem}_{n}"

    def _emit(self, kind: str, inputs: Iterable[TensorSpec], out_shape, out_dtype: str | None = None,
              name: str | None = None, **attrs) -> TensorSpec:
        opname = self._name(name or kind)
        out = TensorSpec(opname + ":out", tuple(out_shape), out_dtype or self.dtype)
        self.graph.add_op(Op(opname, kind, tuple(inputs), (out,), attrs))
        return out

    # ---- leaves -----------------------------------------------------------------------
    def input(self, name: str, shape, dtype: str | None = None) -> TensorSpec:
        return TensorSpec(self._name(name), tuple(shape), dtype or self.dtype, "input")

    def param(self, name: str, shape, dtype: str | None = None) -> TensorSpec:
        return TensorSpec(self._name(name), tuple(shape), dtype or self.dtype, "param")

    def index(self, name: str, shape, dtype: str = "int64") -> TensorSpec:
        return TensorSpec(self._name(name), tuple(shape), dtype, "index")

    # ---- matrix products --------------------------------------------------------------
    def matmul(self, a: TensorSpec, b: TensorSpec, name: str | None = None,
               epilogue: str | None = None, extra_inputs: Sequence[TensorSpec] = ()) -> TensorSpec:
        """a[..., M, K] @ b[..., K, N]; leading dims of b broadcast against a's."""
        if len(a.shape) < 2 or len(b.shape) < 2:
            raise WorkloadError(f"matmul needs rank >= 2, got {a.shape} @ {b.shape}")
        M, K = a.shape[-2:]
        K2, N = b.shape[-2:]
        if K != K2:
            raise WorkloadError(f"matmul inner dims differ: {a.shape} @ {b.shape}")
        lead = broadcast_shapes(a.shape[:-2], b.shape[:-2])
        batch = math.prod(lead)
        attrs = {"M": M, "N": N, "K": K, "batch": batch}
        if len(b.shape) == 2 and batch > 1:  # a weight shared by every row: one big GEMM
            attrs = {"M": M * batch, "N": N, "K": K, "batch": 1}
        if epilogue:
            attrs["epilogue"] = epilogue
        return self._emit("gemm", (a, b, *extra_inputs), lead + (M, N), a.dtype, name, **attrs)

    def linear(self, x: TensorSpec, out_features: int, name: str = "linear", bias: bool = True,
               epilogue: str | None = None) -> TensorSpec:
        """x[..., K] @ W[K, N] (+ bias, + fused epilogue such as 'gelu')."""
        K = x.shape[-1]
        with self.scope(name):
            w = self.param("weight", (K, out_features), x.dtype)
            extra = (self.param("bias", (out_features,), x.dtype),) if bias else ()
        x2 = x if len(x.shape) >= 2 else self.view(x, (1, K))
        epi = epilogue or ("bias_add" if bias else None)
        out = self.matmul(x2, w, name=name, epilogue=epi, extra_inputs=extra)
        return out if len(x.shape) >= 2 else self.view(out, (out_features,))

    # ---- pointwise and reductions -------------------------------------------------------
    def elementwise(self, fn: str, *xs: TensorSpec, name: str | None = None,
                    out_dtype: str | None = None) -> TensorSpec:
        shape = broadcast_shapes(*[x.shape for x in xs])
        return self._emit("elementwise", xs, shape, out_dtype or xs[0].dtype, name or fn, fn=fn)

    def add(self, a, b, name=None):
        return self.elementwise("add", a, b, name=name)

    def mul(self, a, b, name=None):
        return self.elementwise("mul", a, b, name=name)

    def gelu(self, x, name=None):
        return self.elementwise("gelu", x, name=name)

    def relu(self, x, name=None):
        return self.elementwise("relu", x, name=name)

    def silu(self, x, name=None):
        return self.elementwise("silu", x, name=name)

    def reduce(self, x: TensorSpec, axes: Sequence[int] | int = -1, fn: str = "sum",
               keepdims: bool = False, name: str | None = None) -> TensorSpec:
        axes = (axes,) if isinstance(axes, int) else tuple(axes)
        axes = tuple(a % len(x.shape) for a in axes) if x.shape else ()
        shape = tuple((1 if i in axes else d) for i, d in enumerate(x.shape) if keepdims or i not in axes)
        return self._emit("reduction", (x,), shape, x.dtype, name or fn, fn=fn, axes=axes)

    def softmax(self, x: TensorSpec, name: str | None = None) -> TensorSpec:
        rows = math.prod(x.shape[:-1])
        return self._emit("softmax", (x,), x.shape, x.dtype, name, rows=rows, cols=x.shape[-1])

    def layernorm(self, x: TensorSpec, name: str = "layernorm", rms: bool = False,
                  affine: bool = True) -> TensorSpec:
        d = x.shape[-1]
        params: tuple = ()
        if affine:
            with self.scope(name):
                params = (self.param("weight", (d,), x.dtype),) + \
                    (() if rms else (self.param("bias", (d,), x.dtype),))
        rows = math.prod(x.shape[:-1])
        return self._emit("layernorm", (x, *params), x.shape, x.dtype, name, rows=rows, cols=d, rms=rms)

    # ---- attention and convolution ------------------------------------------------------
    def attention(self, q: TensorSpec, k: TensorSpec, v: TensorSpec, causal: bool = False,
                  name: str = "attention") -> TensorSpec:
        """Flash attention: q[B, H, S, D], k/v[B, Hkv, Skv, D] (Hkv divides H: GQA)."""
        B, H, S, D = q.shape
        Bk, Hkv, Skv, Dk = k.shape
        if (Bk, Dk) != (B, D) or H % Hkv or v.shape != k.shape:
            raise WorkloadError(f"attention shapes do not match: q{q.shape} k{k.shape} v{v.shape}")
        return self._emit("attention", (q, k, v), (B, H, S, D), q.dtype, name,
                          B=B, H=H, S=S, Skv=Skv, D=D, Hkv=Hkv, causal=causal,
                          simt_flops=5 * B * H * attention_pairs(S, Skv, causal))

    def conv2d(self, x: TensorSpec, out_channels: int, kernel: int | tuple[int, int],
               stride: int = 1, pad: int | None = None, groups: int = 1, bias: bool = False,
               name: str = "conv") -> TensorSpec:
        """NHWC convolution; `pad` defaults to 'same'-style (kernel // 2)."""
        N, H, W, C = x.shape
        R, S = (kernel, kernel) if isinstance(kernel, int) else kernel
        pad = R // 2 if pad is None else pad
        P = (H + 2 * pad - R) // stride + 1
        Q = (W + 2 * pad - S) // stride + 1
        if P <= 0 or Q <= 0 or C % groups or out_channels % groups:
            raise WorkloadError(f"conv2d: bad geometry input {x.shape} kernel {R}x{S} stride {stride}")
        with self.scope(name):
            w = self.param("weight", (out_channels, R, S, C // groups), x.dtype)
            extra = (self.param("bias", (out_channels,), x.dtype),) if bias else ()
        return self._emit("conv2d", (x, w, *extra), (N, P, Q, out_channels), x.dtype, name,
                          N=N, C=C, K=out_channels, H=H, W=W, R=R, S=S, P=P, Q=Q,
                          stride=stride, pad=pad, groups=groups)

    def pool(self, x: TensorSpec, window: int, stride: int, fn: str = "max", pad: int = 0,
             name: str | None = None) -> TensorSpec:
        N, H, W, C = x.shape
        P = (H + 2 * pad - window) // stride + 1
        Q = (W + 2 * pad - window) // stride + 1
        return self._emit("pool", (x,), (N, P, Q, C), x.dtype, name or f"{fn}pool",
                          fn=fn, R=window, S=window, stride=stride)

    # ---- data movement ----------------------------------------------------------------
    def gather(self, table: TensorSpec, idx: TensorSpec, name: str = "gather") -> TensorSpec:
        """Rows of table[rows, ...] at idx[n] -> [n, ...]."""
        return self._emit("gather", (table, idx), idx.shape + table.shape[1:], table.dtype, name,
                          rows=table.shape[0], n=idx.numel, dim=math.prod(table.shape[1:]))

    def scatter_add(self, target: TensorSpec, updates: TensorSpec, idx: TensorSpec,
                    name: str = "scatter_add") -> TensorSpec:
        return self._emit("scatter_add", (target, updates, idx), target.shape, target.dtype, name,
                          rows=target.shape[0], n=idx.numel, dim=math.prod(target.shape[1:]))

    def copy(self, x: TensorSpec, dtype: str | None = None, name: str = "copy") -> TensorSpec:
        return self._emit("copy", (x,), x.shape, dtype or x.dtype, name)

    def transpose(self, x: TensorSpec, perm: Sequence[int], name: str = "transpose") -> TensorSpec:
        return self._emit("transpose", (x,), tuple(x.shape[p] for p in perm), x.dtype, name,
                          perm=tuple(perm))

    def concat(self, xs: Sequence[TensorSpec], axis: int = -1, name: str = "concat") -> TensorSpec:
        axis %= len(xs[0].shape)
        shape = list(xs[0].shape)
        shape[axis] = sum(x.shape[axis] for x in xs)
        return self._emit("concat", xs, shape, xs[0].dtype, name, axis=axis)

    def view(self, x: TensorSpec, shape, name: str = "view") -> TensorSpec:
        shape = tuple(shape)
        if math.prod(shape) > x.numel:
            raise WorkloadError(f"view {shape} larger than tensor {x.shape}")
        return self._emit("view", (x,), shape, x.dtype, name)

    def build(self) -> Graph:
        return self.graph

    # ---- appended by the workload library (issue 4) ------------------------------------
    def conv3d(self, x: TensorSpec, out_channels: int, kernel: int | tuple[int, int, int],
               stride: int = 1, pad: int | None = None, groups: int = 1, bias: bool = False,
               name: str = "conv3d") -> TensorSpec:
        """NDHWC 3-D convolution (an implicit GEMM with M = N·Z·P·Q, N = K, K = C·T·R·S)."""
        N, D, H, W, C = x.shape
        T, R, S = (kernel,) * 3 if isinstance(kernel, int) else kernel
        pad = R // 2 if pad is None else pad
        Z = (D + 2 * pad - T) // stride + 1
        P = (H + 2 * pad - R) // stride + 1
        Q = (W + 2 * pad - S) // stride + 1
        if min(Z, P, Q) <= 0 or C % groups or out_channels % groups:
            raise WorkloadError(f"conv3d: bad geometry input {x.shape} kernel {T}x{R}x{S} "
                                f"stride {stride}")
        with self.scope(name):
            w = self.param("weight", (out_channels, T, R, S, C // groups), x.dtype)
            extra = (self.param("bias", (out_channels,), x.dtype),) if bias else ()
        return self._emit("conv3d", (x, w, *extra), (N, Z, P, Q, out_channels), x.dtype, name,
                          N=N, C=C, K=out_channels, D=D, H=H, W=W, T=T, R=R, S=S, Z=Z, P=P, Q=Q,
                          stride=stride, pad=pad, groups=groups)

    def lstm(self, x: TensorSpec, hidden: int, name: str = "lstm") -> TensorSpec:
        """One LSTM layer over x[T, B, I] -> h[T, B, hidden], the way cuDNN runs it.

        Three ops: the input projection of all T steps as one GEMM (x W_ih + b -> [T, B, 4H]);
        the recurrent GEMM h_{t-1} W_hh, one [B, H] x [H, 4H] product per step (attrs
        repeat = T: the steps are sequential); the cell pointwise math of all steps as one
        elementwise op ('lstm_cell'). The step-to-step dependence (h_t feeds step t+1) is a loop a
        DAG cannot show: the recurrent GEMM reads the hidden state `h_state` and runs T times.
        """
        T, B, _ = x.shape
        with self.scope(name):
            xp = self.linear(x, 4 * hidden, name="ih")
            h = TensorSpec(self._name("h_state"), (B, hidden), x.dtype, "input")
            w_hh = self.param("hh.weight", (hidden, 4 * hidden), x.dtype)
        rec = self._emit("gemm", (h, w_hh), (B, 4 * hidden), x.dtype, f"{name}.hh",
                         M=B, N=4 * hidden, K=hidden, batch=1, repeat=T, recurrent=True)
        return self._emit("elementwise", (xp, rec), (T, B, hidden), x.dtype, f"{name}.cell",
                          fn="lstm_cell", steps=T)

    def mlp(self, x: TensorSpec, sizes: Sequence[int], act: str = "relu", last_act: bool = False,
            name: str = "mlp", norm: bool = False) -> TensorSpec:
        """Linear layers of the given output sizes, `act` fused into each GEMM's epilogue
        (the last one too if `last_act`), and an optional LayerNorm on the output."""
        for i, n in enumerate(sizes):
            last = i == len(sizes) - 1
            x = self.linear(x, n, name=f"{name}.fc{i}",
                            epilogue=None if (last and not last_act) else act)
        if norm:
            x = self.layernorm(x, name=f"{name}.norm")
        return x

    # ---- appended for LookupFFN (issue 12) -----------------------------------------------
    def fwht(self, x: TensorSpec, name: str = "fwht") -> TensorSpec:
        """Fast Walsh–Hadamard transform over the last axis (a power of two)."""
        n = x.shape[-1]
        if n < 1 or n & (n - 1):
            raise WorkloadError(f"fwht: last dimension {n} of {x.shape} is not a power of two")
        return self._emit("fwht", (x,), x.shape, x.dtype, name, n=n,
                          batch=math.prod(x.shape[:-1]))

    def code_score(self, z: TensorSpec, tables: int, bits: int,
                   name: str = "code_score") -> tuple[TensorSpec, TensorSpec]:
        """z[tokens, tables·bits] -> (codes[tokens, tables] int32, scores[tokens, tables])."""
        tokens = math.prod(z.shape[:-1])
        if z.shape[-1] != tables * bits:
            raise WorkloadError(f"code_score: z has {z.shape[-1]} columns, tables·bits = "
                                f"{tables * bits}")
        opname = self._name(name)
        codes = TensorSpec(opname + ":codes", (tokens, tables), "int32")
        scores = TensorSpec(opname + ":scores", (tokens, tables), z.dtype)
        self.graph.add_op(Op(opname, "code_score", (z,), (codes, scores),
                             {"tokens": tokens, "tables": tables, "bits": bits}))
        return codes, scores

    def gather_add(self, tables: TensorSpec, codes: TensorSpec, scores: TensorSpec,
                   rows_drawn: int, extra_inputs: Sequence[TensorSpec] = (),
                   name: str = "gather_add", **attrs) -> TensorSpec:
        """y[tokens, dim] = Σ_k scores[:, k]·tables[k, codes[:, k]]; `rows_drawn` = distinct
        (table, row) pairs in the codes (what the op must read at least once)."""
        h, rows, dim = tables.shape
        tokens = codes.shape[0]
        if codes.shape != (tokens, h) or scores.shape != (tokens, h):
            raise WorkloadError(f"gather_add: codes {codes.shape} / scores {scores.shape} do not "
                                f"match {h} tables")
        if not 0 < rows_drawn <= min(h * rows, tokens * h):
            raise WorkloadError(f"gather_add: rows_drawn={rows_drawn} outside 1..{h * rows}")
        return self._emit("gather_add", (tables, codes, scores, *extra_inputs), (tokens, dim),
                          tables.dtype, name, tokens=tokens, tables=h, rows=rows, dim=dim,
                          rows_drawn=int(rows_drawn), **attrs)
