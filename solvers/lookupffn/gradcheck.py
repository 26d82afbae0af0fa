"""Finite-difference check of a layer's backward pass (LookupFFN or the dense FFN).

One function, shared by the tests (tests/lookupffn/test_layer.py) and the training benchmark
(benchmarks/lookupffn_train.py), so the number the benchmark prints is the one the tests bound.
"""
from __future__ import annotations

import numpy as np


def grad_check(model, x: np.ndarray, rng: np.random.Generator, n_probe: int = 10,
               eps: float = 1e-6) -> float:
    """Max relative error of `model.backward` against central finite differences of
    L = Σ model(x) · g_y (g_y a random cotangent), over `n_probe` random entries of every
    parameter and of the input. Run in float64; the codes are piecewise constant, so the
    check differentiates through the scores, as the backward pass does. `x` and the model's
    parameters are perturbed in place and restored."""
    g_y = rng.standard_normal(model(x).shape)
    cache: dict = {}
    model.forward(x, cache)
    g_x, grads = model.backward(g_y, cache)
    worst = 0.0
    for name, g in list(grads.items()) + [("x", g_x)]:
        arr = x if name == "x" else model.params[name]
        for _ in range(n_probe):
            i = tuple(int(rng.integers(0, s)) for s in arr.shape)
            old = arr[i]
            arr[i] = old + eps
            lp = float((model(x) * g_y).sum())
            arr[i] = old - eps
            lm = float((model(x) * g_y).sum())
            arr[i] = old
            fd, an = (lp - lm) / (2 * eps), g[i]
            worst = max(worst, abs(fd - an) / max(abs(fd), abs(an), 1e-8))
    return worst
