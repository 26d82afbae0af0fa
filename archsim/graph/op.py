"""Op and the registry of op kinds with their cost functions.

An Op is plain data: kind, input and output TensorSpecs, attributes. Its flops and compulsory
bytes come from the kind's cost functions, computed from shapes — never typed in. A new kind
registers itself with `register_kind` next to the code that introduces it.

Conventions:
- flops count multiply and add separately (an FMA is 2). Attention counts its two matrix
  products (4·B·H·D per query-key pair scored; a causal mask scores only the pairs it keeps,
  see attention_pairs); its softmax work is in attrs["simt_flops"].
- attrs["repeat"] = n says the op runs n times back to back (the tracer aggregates identical
  loop iterations this way); flops and bytes count all n runs, and a machine model runs n kernels.
- bytes are compulsory bytes: every distinct input read once plus every output written once,
  except where a kind touches less (a gather reads only the selected rows).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Callable

from archsim.graph.tensor import TensorSpec

# SIMT flops per output element of elementwise functions (sources: the usual instruction
# counts: gelu by its tanh form ~ 8 ops + tanh; silu x*sigmoid(x) ~ 4; exp 1 SFU op).
ELEMENTWISE_FLOPS: dict[str, int] = {
    "add": 1, "sub": 1, "mul": 1, "div": 1, "neg": 1, "abs": 1, "max": 1, "min": 1,
    "relu": 1, "mul_add": 2, "scale": 1, "gelu": 8, "silu": 4, "sigmoid": 4, "tanh": 4,
    "exp": 1, "log": 1, "sqrt": 1, "rsqrt": 1, "square": 1, "pow": 2, "sin": 1, "cos": 1,
    "where": 1, "compare": 1, "cast": 0, "dropout": 2, "rope": 3, "swiglu": 5, "adam": 12,
    "sgd": 2, "accumulate": 1, "bias_add": 1, "mask": 1, "clip": 2, "sign": 1, "floor": 1,
    "identity": 0,
}


@dataclass(frozen=True)
class OpKind:
    name: str
    flops: Callable[["Op"], int]
    bytes: Callable[["Op"], int]
    pipe: str  # the pipe that does its arithmetic: "tensor", "simt" or "memory"
    doc: str


KINDS: dict[str, OpKind] = {}


def _default_bytes(op: "Op") -> int:
    seen: dict[str, int] = {}
    for t in op.inputs + op.outputs:
        seen[t.name] = t.nbytes
    return sum(seen.values())


def register_kind(name: str, flops: Callable[["Op"], int], *, bytes: Callable | None = None,
                  pipe: str = "simt", doc: str = "") -> OpKind:
    """Declare an op kind; a second registration of the same name replaces the first."""
    kind = OpKind(name, flops, bytes or _default_bytes, pipe, doc)
    KINDS[name] = kind
    return kind


@dataclass(frozen=True)
class Op:
    name: str
    kind: str
    inputs: tuple[TensorSpec, ...]
    outputs: tuple[TensorSpec, ...]
    attrs: dict[str, Any] = field(default_factory=dict, hash=False, compare=True)

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"op {self.name}: unknown kind {self.kind!r}; known: {sorted(KINDS)}")
        object.__setattr__(self, "inputs", tuple(self.inputs))
        object.__setattr__(self, "outputs", tuple(self.outputs))

    @property
    def repeat(self) -> int:
        """How many times the op runs back to back (identical loop iterations aggregated)."""
        return int(self.attrs.get("repeat", 1))

    @property
    def flops(self) -> int:
        """Flops of all `repeat` executions."""
        return int(KINDS[self.kind].flops(self)) * self.repeat

    @property
    def bytes(self) -> int:
        """Compulsory bytes of all `repeat` executions: each reads and writes at least once."""
        return int(KINDS[self.kind].bytes(self)) * self.repeat

    @property
    def pipe(self) -> str:
        return KINDS[self.kind].pipe

    @property
    def dtype(self) -> str:
        return self.outputs[0].dtype if self.outputs else self.inputs[0].dtype

    def attr(self, key: str, default: Any = None) -> Any:
        return self.attrs.get(key, default)


def _out_numel(op: Op) -> int:
    return sum(t.numel for t in op.outputs)


def _gemm_flops(op: Op) -> int:
    a = op.attrs
    return 2 * a.get("batch", 1) * a["M"] * a["N"] * a["K"] + \
        a.get("batch", 1) * a["M"] * a["N"] * ELEMENTWISE_FLOPS.get(a.get("epilogue", "identity"), 1)


def attention_pairs(S: int, Skv: int, causal: bool) -> int:
    """Query-key pairs scored: all S*Skv, or with a causal mask aligned bottom-right (the S
    queries are the last S of Skv positions, each sees the earlier context and itself)."""
    if not causal:
        return S * Skv
    ctx = max(Skv - S, 0)
    return S * ctx + S * (S + 1) // 2


def _attention_flops(op: Op) -> int:
    a = op.attrs
    return 4 * a["B"] * a["H"] * a["D"] * attention_pairs(a["S"], a.get("Skv", a["S"]),
                                                            bool(a.get("causal")))


def _attention_bytes(op: Op) -> int:
    # q, k, v and o once each (flash-style: the score matrix never leaves the chip)
    return _default_bytes(op)


def _conv_flops(op: Op) -> int:
    a = op.attrs
    return 2 * a["N"] * a["K"] * a["P"] * a["Q"] * (a["C"] // a.get("groups", 1)) * a["R"] * a["S"]


def _gather_bytes(op: Op) -> int:
    # reads the selected rows (not the whole table), the indices, writes the output
    out = op.outputs[0]
    idx = op.inputs[1]
    return 2 * out.nbytes + idx.nbytes


def _scatter_bytes(op: Op) -> int:
    # reads the updates and indices, read-modify-writes the touched rows of the target
    upd, idx = op.inputs[1], op.inputs[2]
    return 3 * upd.nbytes + idx.nbytes


def _linalg_flops(op: Op) -> int:
    a = op.attrs
    n = a["n"]
    nrhs = a.get("nrhs", 0)
    base = {"cholesky": n ** 3 / 3, "solve": 2 * n ** 3 / 3 + 2 * n * n * nrhs,
            "lu": 2 * n ** 3 / 3, "qr": 4 * n ** 3 / 3, "eigh": 9 * n ** 3,
            "svd": 22 * n ** 3, "inv": 2 * n ** 3, "triangular_solve": n * n * max(nrhs, 1),
            "det": 2 * n ** 3 / 3}[a["fn"]]
    if a["fn"] == "qr" and "m" in a:  # Householder QR of m x n, m >= n: 2mn^2 - 2n^3/3
        m = a["m"]
        base = 2 * m * n * n - 2 * n ** 3 / 3
    return int(a.get("batch", 1) * base)


register_kind("gemm", _gemm_flops, pipe="tensor",
              doc="(batched) matrix product C[b,M,N] = A[b,M,K] B[b,K,N] (+ fused epilogue)")
# per element of the first output: an op with several outputs (adam writes param, m, v)
# lists its flops per element of the updated tensor
register_kind("elementwise", lambda op: op.outputs[0].numel * ELEMENTWISE_FLOPS.get(op.attrs["fn"], 1),
              doc="pointwise function of one or more tensors")
register_kind("reduction", lambda op: sum(t.numel for t in op.inputs[:1]),
              doc="sum/max/mean over one or more axes")
register_kind("softmax", lambda op: 5 * op.inputs[0].numel, doc="row softmax (max, sub, exp, sum, div)")
register_kind("layernorm", lambda op: (5 if op.attrs.get("rms") else 8) * op.inputs[0].numel,
              doc="layer norm (or RMS norm with rms=True) over the last axis")
register_kind("attention", _attention_flops, bytes=_attention_bytes, pipe="tensor",
              doc="fused (flash) attention softmax(Q K^T / sqrt(D)) V")
register_kind("conv2d", _conv_flops, pipe="tensor", doc="2-D convolution as implicit GEMM, NHWC")
register_kind("pool", lambda op: _out_numel(op) * op.attrs.get("R", 1) * op.attrs.get("S", 1),
              doc="max/avg pooling window")
register_kind("gather", lambda op: 0, bytes=_gather_bytes, pipe="memory",
              doc="rows of a table selected by indices (embedding, index_select)")
register_kind("scatter_add", lambda op: op.inputs[1].numel, bytes=_scatter_bytes, pipe="memory",
              doc="rows added into a target at indices")
register_kind("copy", lambda op: 0, pipe="memory", doc="copy / cast of a tensor")
register_kind("transpose", lambda op: 0, pipe="memory", doc="permutation of axes (materialised)")
register_kind("concat", lambda op: 0, pipe="memory", doc="concatenation along an axis")
register_kind("fft", lambda op: int(5 * op.attrs["n"] * math.log2(max(op.attrs["n"], 2))
                                     * op.attrs.get("batch", 1) * (0.5 if op.attrs.get("real") else 1)),
              doc="FFT/DCT of length n over `batch` signals (5 n log2 n flops per complex transform)")
register_kind("linalg", _linalg_flops, doc="dense factorisation or solve (standard flop counts)")
register_kind("view", lambda op: 0, bytes=lambda op: 0, pipe="memory",
              doc="reshape/slice that aliases its input: no data moves, no kernel runs")


# ---- appended by the workload library (issue 4) -------------------------------------------
# SIMT flops per output element of the LSTM cell: 3 sigmoids + 2 tanh (4 each, as above) on the
# gate pre-activations, the gate add of input and recurrent projections (4 per unit), and
# c = f*c + i*g, h = o*tanh(c) (4).
ELEMENTWISE_FLOPS.update({"lstm_cell": 28, "posenc": 2, "volume_render": 12})
# inference batch norm: y = x * scale + shift; the per-channel prep computes
# scale = w / sqrt(var + eps), shift = b - mean * scale (5 ops on each of the 4 stat rows' columns)
ELEMENTWISE_FLOPS.update({"batchnorm": 2, "bn_prep": 5})


def _conv3d_flops(op: Op) -> int:
    a = op.attrs
    return 2 * a["N"] * a["K"] * a["Z"] * a["P"] * a["Q"] * (a["C"] // a.get("groups", 1)) \
        * a["T"] * a["R"] * a["S"]


register_kind("conv3d", _conv3d_flops, pipe="tensor",
              doc="3-D convolution as implicit GEMM, NDHWC: M = N·Z·P·Q, N = K, K = C·T·R·S")


# ---- appended for LookupFFN (issue 12) ------------------------------------------------------
# BH4 output 0.7·a + 0.3·b + bias: two multiplies and two adds per element.
ELEMENTWISE_FLOPS.update({"bh4_mix": 4})
# code/score per projected element z: sign compare and shift-or into the code (2), |z| (1), the
# running sum (1), exp(-2|z|) (scale 1 + exp 1), 1 + e (1), the running product (1) = 8; per
# table one divide (sum / product).
CODE_SCORE_FLOPS_PER_ELEMENT = 8


def _fwht_flops(op: Op) -> int:
    # one add or subtract per element per butterfly stage: n·log2(n) per transform
    n = op.attrs["n"]
    return op.attrs.get("batch", 1) * n * int(math.log2(max(n, 1)))


def _code_score_flops(op: Op) -> int:
    a = op.attrs
    return a["tokens"] * a["tables"] * (a["bits"] * CODE_SCORE_FLOPS_PER_ELEMENT + 1)


def _gather_add_flops(op: Op) -> int:
    # a multiply by the score and an add per element of every row drawn
    a = op.attrs
    return 2 * a["tokens"] * a["tables"] * a["dim"]


def _gather_add_bytes(op: Op) -> int:
    # the distinct (table, row) pairs the codes actually draw, each read once; codes, scores
    # (and the bias) read; the output written
    a = op.attrs
    table = op.inputs[0]
    row_bytes = a["dim"] * table.itemsize
    rest = sum(t.nbytes for t in op.inputs[1:])
    return a["rows_drawn"] * row_bytes + rest + op.outputs[0].nbytes


register_kind("fwht", _fwht_flops,
              doc="fast Walsh–Hadamard transform of length n (a power of two) over `batch` rows: "
                  "n·log2(n) adds/subtracts each")
register_kind("code_score", _code_score_flops,
              doc="LookupFFN sign-LSH codes (tau bits, MSB first) and scores "
                  "Σ|z| / Π(1 + e^(-2|z|)) per table, from z[tokens, tables·bits]")
register_kind("gather_add", _gather_add_flops, bytes=_gather_add_bytes, pipe="memory",
              doc="y[b] = Σ_k score[b,k]·T_k[code[b,k]] over `tables` tables of `rows` rows; "
                  "bytes follow the rows the codes actually draw (attrs rows_drawn)")
