"""The dense FFN LookupFFN replaces: y = GELU(x W1 + b1) W2 + b2 (tanh GELU), with backward."""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

_C = math.sqrt(2.0 / math.pi)


def gelu(u: np.ndarray) -> np.ndarray:
    return 0.5 * u * (1.0 + np.tanh(_C * (u + 0.044715 * u ** 3)))


def gelu_inplace(u: np.ndarray) -> np.ndarray:
    """gelu(u) written into u, one temporary: the dense FFN as a careful numpy user runs it
    (u ** 3 makes numpy call libm's pow per element, and gelu() allocates eight temporaries;
    benchmarks/lookupffn_measure.py times this one). Returns u."""
    t = u * u
    t *= u
    t *= 0.044715
    t += u
    t *= _C
    np.tanh(t, out=t)
    t += 1.0
    u *= t
    u *= 0.5
    return u


def dense_ffn_inplace(x, w1, b1, w2, b2) -> np.ndarray:
    """gelu(x W1 + b1) W2 + b2 with in-place bias adds and gelu_inplace."""
    u = x @ w1
    u += b1
    y = gelu_inplace(u) @ w2
    y += b2
    return y


def gelu_grad(u: np.ndarray) -> np.ndarray:
    t = np.tanh(_C * (u + 0.044715 * u ** 3))
    return 0.5 * (1.0 + t) + 0.5 * u * (1.0 - t * t) * _C * (1.0 + 3 * 0.044715 * u * u)


@dataclass
class DenseFFN:
    dim: int
    hidden: int
    params: dict[str, np.ndarray] = field(default_factory=dict)

    @classmethod
    def init(cls, dim: int, hidden: int, rng: np.random.Generator | None = None,
             dtype=np.float64) -> "DenseFFN":
        rng = rng or np.random.default_rng(0)
        f = cls(dim, hidden)
        f.params = {"w1": (rng.standard_normal((dim, hidden)) / math.sqrt(dim)).astype(dtype),
                    "b1": np.zeros(hidden, dtype),
                    "w2": (rng.standard_normal((hidden, dim)) / math.sqrt(hidden)).astype(dtype),
                    "b2": np.zeros(dim, dtype)}
        return f

    def forward(self, x: np.ndarray, cache: dict | None = None) -> np.ndarray:
        p = self.params
        u = x @ p["w1"] + p["b1"]
        a = gelu(u)
        if cache is not None:
            cache.update(x=x, u=u, a=a)
        return a @ p["w2"] + p["b2"]

    __call__ = forward

    def backward(self, g_y: np.ndarray, cache: dict) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        p = self.params
        g_a = g_y @ p["w2"].T
        g_u = g_a * gelu_grad(cache["u"])
        grads = {"w2": cache["a"].T @ g_y, "b2": g_y.sum(0),
                 "w1": cache["x"].T @ g_u, "b1": g_u.sum(0)}
        return g_u @ p["w1"].T, grads
