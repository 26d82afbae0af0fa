"""A small training task that needs the FFN, and Adam in numpy.

Task (synthetic regression): a random teacher FFN, y* = GELU(x A + a) B, with the part a linear
map can explain removed (y = y* − x Λ, Λ the least-squares fit on a large sample), so a linear
model scores a normalised MSE of about 1 and only a nonlinear layer can do better.
x ~ N(0, I_d). Metric: normalised MSE = mean squared error / mean variance of y on held-out
samples drawn from the same teacher.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from solvers.lookupffn.dense import DenseFFN, gelu
from solvers.lookupffn.layer import LookupFFN


@dataclass(frozen=True)
class Teacher:
    A: np.ndarray
    a: np.ndarray
    B: np.ndarray
    lin: np.ndarray
    scale: float

    @classmethod
    def make(cls, dim: int, hidden: int, rng: np.random.Generator) -> "Teacher":
        A = rng.standard_normal((dim, hidden)) / math.sqrt(dim) * 2.0
        a = rng.standard_normal(hidden) * 0.5
        B = rng.standard_normal((hidden, dim)) / math.sqrt(hidden)
        x = rng.standard_normal((8192, dim))
        ys = gelu(x @ A + a) @ B
        lin = np.linalg.lstsq(np.c_[x, np.ones(len(x))], ys, rcond=None)[0]
        y = ys - np.c_[x, np.ones(len(x))] @ lin
        return cls(A, a, B, lin, float(y.std()))

    def sample(self, n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        x = rng.standard_normal((n, self.A.shape[0]))
        y = gelu(x @ self.A + self.a) @ self.B - np.c_[x, np.ones(n)] @ self.lin
        return x, y / self.scale


class Adam:
    def __init__(self, params: dict[str, np.ndarray], lr: float, b1=0.9, b2=0.999, eps=1e-8):
        self.p, self.lr, self.b1, self.b2, self.eps, self.t = params, lr, b1, b2, eps, 0
        self.m = {k: np.zeros_like(v) for k, v in params.items()}
        self.v = {k: np.zeros_like(v) for k, v in params.items()}

    def step(self, grads: dict[str, np.ndarray]) -> None:
        self.t += 1
        c1, c2 = 1 - self.b1 ** self.t, 1 - self.b2 ** self.t
        for k, g in grads.items():
            self.m[k] = self.b1 * self.m[k] + (1 - self.b1) * g
            self.v[k] = self.b2 * self.v[k] + (1 - self.b2) * g * g
            self.p[k] -= self.lr * (self.m[k] / c1) / (np.sqrt(self.v[k] / c2) + self.eps)


def linear_baseline(teacher: Teacher, x: np.ndarray, y: np.ndarray, xt: np.ndarray,
                    yt: np.ndarray) -> float:
    """Normalised test MSE of the least-squares linear model fitted on (x, y)."""
    w = np.linalg.lstsq(np.c_[x, np.ones(len(x))], y, rcond=None)[0]
    return float(((np.c_[xt, np.ones(len(xt))] @ w - yt) ** 2).mean() / yt.var(0).mean())


def train(model, teacher: Teacher, steps: int, batch: int, lr: float, rng: np.random.Generator,
          test: tuple[np.ndarray, np.ndarray], eval_every: int = 50) -> dict:
    """Adam on the mean squared error; -> {'step': [...], 'train': [...], 'test': [...]}
    (normalised MSE; train is the mean over the batches since the last evaluation)."""
    opt = Adam(model.params, lr)
    xt, yt = test
    var = yt.var(0).mean()
    hist: dict[str, list] = {"step": [], "train": [], "test": []}
    run = []
    for s in range(1, steps + 1):
        x, y = teacher.sample(batch, rng)
        cache: dict = {}
        err = model.forward(x, cache) - y
        run.append(float((err ** 2).mean() / var))
        _, grads = model.backward(2.0 * err / err.size, cache)
        opt.step(grads)
        if s % eval_every == 0 or s == steps:
            hist["step"].append(s)
            hist["train"].append(float(np.mean(run)))
            hist["test"].append(float(((model.forward(xt) - yt) ** 2).mean() / var))
            run = []
    return hist


def make_model(kind: str, dim: int, rng: np.random.Generator, hidden: int = 0, tables: int = 0,
               bits: int = 0):
    if kind == "dense":
        return DenseFFN.init(dim, hidden, rng)
    return LookupFFN.init(dim, tables, bits, kind.split("-")[1] if "-" in kind else "bh4", rng)
