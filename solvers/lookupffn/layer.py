"""LookupFFN (Zeng et al., ICML 2023; papers.md §3) in numpy: forward and backward.

    z = P(x)                      P: BH4 (block size 64, four factors, 0.7·BH4(x) + 0.3·x) or dense
    code_k  = Σ_j [z_kj > 0]·2^(τ-1-j)          sign-LSH, MSB first, one code per table k
    score_k = Σ_j |z_kj| / Π_j (1 + e^(-2|z_kj|))
    y = Σ_k score_k · T_k[code_k] + b

Shapes: x [n, d]; z [n, h·τ]; codes, scores [n, h]; tables T [h, 2^τ, d]; y [n, d].
Everything is vectorised over tokens; the only Python loops run over the FWHT stages, the BH4
factors and repeats, and (in the table gradient) over tables — never over tokens.
The gradient reaches z only through the score: codes are not differentiated.
"""
from __future__ import annotations

import functools
import math
from dataclasses import dataclass, field

import numpy as np

BLOCK = 64        # BH4 block size b
FACTORS = 4       # block-diagonal matmul + FWHT pairs per repeat
MIX = 0.7         # output = MIX·BH4(x) + (1 - MIX)·tile(x, r)


def next_pow2(n: int) -> int:
    return 1 << max(0, math.ceil(math.log2(max(n, 1))))


@functools.lru_cache(maxsize=16)
def hadamard(n: int) -> np.ndarray:
    """The n x n Sylvester Hadamard matrix (n a power of two), entries ±1."""
    h = np.ones((1, 1))
    while h.shape[0] < n:
        h = np.block([[h, h], [h, -h]])
    return h


def fwht(x: np.ndarray) -> np.ndarray:
    """Orthonormal Walsh–Hadamard transform over the last axis (length a power of two).
    Symmetric and its own inverse, so it is also its own backward pass.

    H_n = H_a ⊗ H_b ⊗ ... with factors of at most 64: numpy applies each factor along its own
    axis as a small matrix product (BLAS), which on a CPU is faster in numpy than log2(n)
    strided butterfly passes. The arithmetic an FWHT kernel does — n·log2(n) adds — is what
    the graph's `fwht` op counts; this is only how numpy gets the same numbers."""
    n = x.shape[-1]
    if n < 1 or n & (n - 1):
        raise ValueError(f"fwht: length {n} is not a power of two")
    lead = x.shape[:-1]
    sizes, m = [], n
    while m > 1:
        sizes.append(min(m, 64))
        m //= sizes[-1]
    y = np.asarray(x).reshape(-1, *sizes) if sizes else np.asarray(x).reshape(-1, 1)
    for ax, s in enumerate(sizes, start=1):
        h = hadamard(s).astype(np.result_type(y.dtype, np.float32))
        y = np.moveaxis(np.moveaxis(y, ax, -1) @ h, -1, ax)
    return (y.reshape(*lead, n) / math.sqrt(n)).astype(np.result_type(x, np.float32))


def _block_mm(u: np.ndarray, w: np.ndarray) -> np.ndarray:
    """u [n, nb·b] times the block-diagonal matrix with blocks w [nb, b, b]."""
    n, nb, b = u.shape[0], w.shape[0], w.shape[1]
    out = np.matmul(u.reshape(n, nb, b).transpose(1, 0, 2), w)   # [nb, n, b]
    return out.transpose(1, 0, 2).reshape(n, nb * b)


def codes_and_scores(z: np.ndarray, tables: int, bits: int) -> tuple[np.ndarray, np.ndarray]:
    """z [n, tables·bits] -> codes [n, tables] (int64, MSB first), scores [n, tables]."""
    zz = z.reshape(z.shape[0], tables, bits)
    weights = 1 << np.arange(bits - 1, -1, -1, dtype=np.int64)
    codes = (zz > 0).astype(np.int64) @ weights
    a = np.abs(zz)
    scores = a.sum(-1) / np.prod(1.0 + np.exp(-2.0 * a), axis=-1)
    return codes, scores


def score_grad(z: np.ndarray, tables: int, bits: int, g_scores: np.ndarray) -> np.ndarray:
    """d(loss)/dz from d(loss)/d(score): ds/dz_j = sign(z_j)/P · (1 + 2A·e^(-2|z_j|)/(1+e^(-2|z_j|)))
    with A = Σ|z|, P = Π(1 + e^(-2|z|))."""
    zz = z.reshape(z.shape[0], tables, bits)
    a = np.abs(zz)
    e = np.exp(-2.0 * a)
    A = a.sum(-1, keepdims=True)
    P = np.prod(1.0 + e, axis=-1, keepdims=True)
    ds = np.sign(zz) / P * (1.0 + 2.0 * A * e / (1.0 + e))
    return (ds * g_scores[:, :, None]).reshape(z.shape)


def gather_add(tables: np.ndarray, codes: np.ndarray, scores: np.ndarray) -> np.ndarray:
    """y[b] = Σ_k scores[b, k] · tables[k, codes[b, k]] (token-major, batched over tokens)."""
    h = tables.shape[0]
    rows = tables[np.arange(h)[None, :], codes]            # [n, h, d]
    return np.matmul(scores[:, None, :].astype(rows.dtype), rows)[:, 0, :]


def gather_dot(tables: np.ndarray, codes: np.ndarray, g_y: np.ndarray) -> np.ndarray:
    """g_scores[b, k] = <g_y[b], tables[k, codes[b, k]]> (the indexed inner products)."""
    h = tables.shape[0]
    rows = tables[np.arange(h)[None, :], codes]
    return np.matmul(rows, g_y[:, :, None])[:, :, 0]


def scatter_add(shape: tuple[int, ...], codes: np.ndarray, scores: np.ndarray,
                g_y: np.ndarray) -> np.ndarray:
    """g_T[k, c] = Σ_{b: codes[b,k] = c} scores[b, k] · g_y[b] (weighted scatter-add).
    One sort per table; the sums are np.add.reduceat over the sorted rows."""
    h, R, d = shape
    g = np.zeros(shape, dtype=g_y.dtype)
    for k in range(h):
        order = np.argsort(codes[:, k], kind="stable")
        c = codes[order, k]
        w = scores[order, k, None] * g_y[order]
        starts = np.flatnonzero(np.r_[True, c[1:] != c[:-1]])
        g[k, c[starts]] = np.add.reduceat(w, starts, axis=0)
    return g


@dataclass
class LookupFFN:
    """Parameters of one LookupFFN layer (a plain container; `init` makes one).

    projection 'bh4': bh4[r, FACTORS, D/BLOCK, BLOCK, BLOCK] block-diagonal factors;
    'dense': proj[d, h·τ]. Both add bias_z[h·τ]. Tables [h, 2^τ, d], bias_y[d].
    """
    dim: int
    tables: int
    bits: int
    projection: str
    params: dict[str, np.ndarray] = field(default_factory=dict)

    @property
    def code_dim(self) -> int:
        return self.tables * self.bits

    @property
    def padded(self) -> int:
        return max(next_pow2(self.dim), BLOCK)

    @property
    def repeats(self) -> int:
        return max(1, math.ceil(self.code_dim / self.padded))

    @classmethod
    def init(cls, dim: int, tables: int, bits: int, projection: str = "bh4",
             rng: np.random.Generator | None = None, dtype=np.float64) -> "LookupFFN":
        if projection not in ("bh4", "dense"):
            raise ValueError(f"projection must be 'bh4' or 'dense', got {projection!r}")
        if min(dim, tables, bits) < 1:
            raise ValueError("dim, tables and bits must be >= 1")
        rng = rng or np.random.default_rng(0)
        layer = cls(dim, tables, bits, projection)
        p = layer.params
        if projection == "bh4":
            D, r = layer.padded, layer.repeats
            p["bh4"] = (rng.standard_normal((r, FACTORS, D // BLOCK, BLOCK, BLOCK))
                        / math.sqrt(BLOCK)).astype(dtype)
        else:
            p["proj"] = (rng.standard_normal((dim, layer.code_dim)) / math.sqrt(dim)).astype(dtype)
        p["bias_z"] = np.zeros(layer.code_dim, dtype)
        p["tables"] = (0.02 * rng.standard_normal((tables, 1 << bits, dim))).astype(dtype)
        p["bias_y"] = np.zeros(dim, dtype)
        return layer

    # ---- forward ---------------------------------------------------------------------------
    def project(self, x: np.ndarray, cache: dict | None = None) -> np.ndarray:
        """z = P(x) [n, h·τ]."""
        p, n = self.params, x.shape[0]
        if self.projection == "dense":
            return x @ p["proj"] + p["bias_z"]
        D, r, nb = self.padded, self.repeats, self.padded // BLOCK
        xp = np.zeros((n, D), dtype=np.result_type(x, p["bh4"]))
        xp[:, :self.dim] = x
        outs, saved = [], []
        for i in range(r):
            u = xp
            for f in range(FACTORS):
                saved.append(u)
                u = _block_mm(u, p["bh4"][i, f])
                u = fwht(u)
            outs.append(u)
        zfull = MIX * np.concatenate(outs, axis=1) + (1 - MIX) * np.tile(xp, (1, r))
        if cache is not None:
            cache["bh4_inputs"] = saved
        return zfull[:, :self.code_dim] + p["bias_z"]

    def forward(self, x: np.ndarray, cache: dict | None = None) -> np.ndarray:
        z = self.project(x, cache)
        codes, scores = codes_and_scores(z, self.tables, self.bits)
        if cache is not None:
            cache.update(x=x, z=z, codes=codes, scores=scores)
        return gather_add(self.params["tables"], codes, scores) + self.params["bias_y"]

    __call__ = forward

    # ---- backward --------------------------------------------------------------------------
    def backward(self, g_y: np.ndarray, cache: dict) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        """-> (d loss/dx, {param name: gradient}) from d loss/dy and forward's cache."""
        p, x, z = self.params, cache["x"], cache["z"]
        codes, scores = cache["codes"], cache["scores"]
        grads = {"bias_y": g_y.sum(0),
                 "tables": scatter_add(p["tables"].shape, codes, scores, g_y)}
        g_s = gather_dot(p["tables"], codes, g_y)
        g_z = score_grad(z, self.tables, self.bits, g_s)
        grads["bias_z"] = g_z.sum(0)
        n = x.shape[0]
        if self.projection == "dense":
            grads["proj"] = x.T @ g_z
            return g_z @ p["proj"].T, grads
        D, r, nb = self.padded, self.repeats, self.padded // BLOCK
        g_full = np.zeros((n, r * D), dtype=g_z.dtype)
        g_full[:, :self.code_dim] = g_z
        g_xp = (1 - MIX) * g_full.reshape(n, r, D).sum(1)
        g_w = np.zeros_like(p["bh4"])
        saved = cache["bh4_inputs"]
        for i in range(r):
            g = MIX * g_full[:, i * D:(i + 1) * D]
            for f in reversed(range(FACTORS)):
                g = fwht(g)                                   # the FWHT is symmetric
                u = saved[i * FACTORS + f].reshape(n, nb, BLOCK).transpose(1, 2, 0)
                gb = g.reshape(n, nb, BLOCK).transpose(1, 0, 2)
                g_w[i, f] = u @ gb                            # [nb, b, b]
                g = _block_mm(g, p["bh4"][i, f].transpose(0, 2, 1))
            g_xp = g_xp + g
        grads["bh4"] = g_w
        return g_xp[:, :self.dim], grads
