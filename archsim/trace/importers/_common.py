"""Shared by the importers: shape arithmetic for the op kinds and a graph assembler."""
from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from archsim.errors import UserError
from archsim.graph.graph import Graph
from archsim.graph.op import Op
from archsim.graph.tensor import TensorSpec

# ONNX elementwise operators and aten pointwise functions -> ELEMENTWISE_FLOPS names
ELEMENTWISE_FNS = {
    "add": "add", "sub": "sub", "mul": "mul", "div": "div", "neg": "neg", "abs": "abs",
    "relu": "relu", "gelu": "gelu", "sigmoid": "sigmoid", "tanh": "tanh", "exp": "exp",
    "log": "log", "sqrt": "sqrt", "rsqrt": "rsqrt", "reciprocal": "div", "pow": "pow",
    "erf": "tanh", "max": "max", "min": "min", "maximum": "max", "minimum": "min",
    "where": "where", "equal": "compare", "eq": "compare", "less": "compare", "lt": "compare",
    "greater": "compare", "gt": "compare", "le": "compare", "ge": "compare", "ne": "compare",
    "lessorequal": "compare", "greaterorequal": "compare", "not": "compare", "and": "compare",
    "or": "compare", "logical_not": "compare", "bitwise_not": "compare",
    "cast": "cast", "to": "cast", "_to_copy": "cast", "clip": "clip", "clamp": "clip",
    "hardtanh": "clip", "silu": "silu", "swish": "silu", "sin": "sin", "cos": "cos",
    "floor": "floor", "ceil": "floor", "round": "floor", "sign": "sign", "square": "square",
    "leakyrelu": "relu", "leaky_relu": "relu", "elu": "exp", "softplus": "exp",
    "hardsigmoid": "sigmoid", "hard_sigmoid": "sigmoid", "hardswish": "silu",
    "prelu": "relu", "dropout": "identity", "identity": "identity", "mish": "silu",
    "masked_fill": "where", "fill": "identity", "batchnormalization": "mul_add",
    "_native_batch_norm_legit_no_training": "mul_add", "batch_norm": "mul_add",
}


def matmul_attrs(a: Sequence[int], b: Sequence[int]) -> tuple[dict, tuple[int, ...]]:
    """GEMM attrs and output shape of a[..., M, K] @ b[..., K, N], as GraphBuilder.matmul."""
    a, b = tuple(a), tuple(b)
    if len(a) == 1:
        a = (1,) + a
    vec_b = len(b) == 1
    if vec_b:
        b = b + (1,)
    M, K = a[-2:]
    N = b[-1]
    lead = tuple(int(d) for d in np.broadcast_shapes(a[:-2], b[:-2]))
    batch = math.prod(lead)
    attrs = {"M": M, "N": N, "K": K, "batch": batch}
    if len(b) == 2 and batch > 1:
        attrs = {"M": M * batch, "N": N, "K": K, "batch": 1}
    out = lead + (M, N)
    return attrs, (out[:-1] if vec_b else out)


def conv_attrs(x: Sequence[int], w: Sequence[int], y: Sequence[int], stride, pad, groups: int,
               channels_first: bool = True) -> tuple[str, dict]:
    """conv2d/conv3d attrs from NC(D)HW input x, weight [K, C/g, (T,) R, S] and output y."""
    nsp = len(x) - 2
    if channels_first:
        N, C, sp_in = x[0], x[1], tuple(x[2:])
        K, sp_out = y[1], tuple(y[2:])
    else:
        N, C, sp_in = x[0], x[-1], tuple(x[1:-1])
        K, sp_out = y[-1], tuple(y[1:-1])
    ks = tuple(w[2:])
    stride = int(stride[0]) if isinstance(stride, (list, tuple)) else int(stride)
    pad = int(pad[0]) if isinstance(pad, (list, tuple)) and pad else int(pad or 0)
    if nsp == 1:
        sp_in, sp_out, ks = (1,) + sp_in, (1,) + sp_out, (1,) + ks
        nsp = 2
    if nsp == 2:
        return "conv2d", {"N": N, "C": C, "K": K, "H": sp_in[0], "W": sp_in[1], "R": ks[0],
                          "S": ks[1], "P": sp_out[0], "Q": sp_out[1], "stride": stride,
                          "pad": pad, "groups": groups,
                          "layout": "NCHW" if channels_first else "NHWC"}
    if nsp == 3:
        return "conv3d", {"N": N, "C": C, "K": K, "D": sp_in[0], "H": sp_in[1], "W": sp_in[2],
                          "T": ks[0], "R": ks[1], "S": ks[2], "Z": sp_out[0], "P": sp_out[1],
                          "Q": sp_out[2], "stride": stride, "pad": pad, "groups": groups,
                          "layout": "NCDHW" if channels_first else "NDHWC"}
    raise UserError(f"convolution with {nsp} spatial dimensions is not supported")


def conv_transpose_attrs(x: Sequence[int], w: Sequence[int], groups: int) -> dict:
    """A transposed convolution as the GEMM it is: every input pixel times every kernel tap,
    M = N·(input pixels), K = C_in/g, N = C_out/g·taps (g groups as the batch)."""
    N, C = x[0], x[1]
    pixels = math.prod(x[2:])
    taps = math.prod(w[2:])
    cout_g = w[1]
    return {"M": N * pixels, "N": cout_g * taps, "K": C // groups, "batch": groups}


class Assembler:
    """Collects ops with unique names into a Graph; tensors keyed by their framework name."""

    def __init__(self, name: str, attrs: dict):
        self.graph = Graph(name, attrs)
        self.tensors: dict[str, TensorSpec] = {}
        self._names: dict[str, int] = {}

    def opname(self, base: str) -> str:
        base = base or "op"
        n = self._names.get(base, 0)
        self._names[base] = n + 1
        return base if n == 0 else f"{base}_{n}"

    def add(self, name: str, kind: str, inputs, outputs, **attrs) -> Op:
        op = Op(self.opname(name), kind, tuple(inputs), tuple(outputs), attrs)
        return self.graph.add_op(op)
