"""Small CNN (next-pillar classifier) and stacked autoencoder (intermediate shape), in numpy.

Everything here is plain numpy: convolutions are im2col (slicing + ``np.stack``) followed by
one GEMM (``@``), pooling is a reshape + max, so a NEP-13/18 numpy tracer can run the forward
and backward passes on traced arrays. Layout is NHWC, dtype float32. Randomness only through
an explicit ``np.random.Generator``.

``FLOW_CNN_ARCH`` is the network as plain data (layer list with shapes) so that the workloads
library can build the same graph ("flow-cnn") without importing this module's code.
"""
from __future__ import annotations

import numpy as np

IMAGE_SHAPE = (32, 64)          # (height, width): channel cross-section grid, aspect 2:1
N_PILLARS = 36                  # default library: 9 positions x 4 diameters
CONV1_CH, CONV2_CH, HIDDEN = 8, 16, 128


def _arch(height: int = IMAGE_SHAPE[0], width: int = IMAGE_SHAPE[1],
          n_classes: int = N_PILLARS) -> list[dict]:
    h2, w2, h4, w4 = height // 2, width // 2, height // 4, width // 4
    return [
        {"op": "input", "shape": [1, height, width, 1], "layout": "NHWC"},
        {"op": "conv2d", "in_channels": 1, "out_channels": CONV1_CH, "kernel": [3, 3],
         "stride": 1, "padding": 1, "in_shape": [height, width, 1],
         "out_shape": [height, width, CONV1_CH]},
        {"op": "relu", "shape": [height, width, CONV1_CH]},
        {"op": "maxpool2d", "kernel": [2, 2], "stride": 2, "in_shape": [height, width, CONV1_CH],
         "out_shape": [h2, w2, CONV1_CH]},
        {"op": "conv2d", "in_channels": CONV1_CH, "out_channels": CONV2_CH, "kernel": [3, 3],
         "stride": 1, "padding": 1, "in_shape": [h2, w2, CONV1_CH],
         "out_shape": [h2, w2, CONV2_CH]},
        {"op": "relu", "shape": [h2, w2, CONV2_CH]},
        {"op": "maxpool2d", "kernel": [2, 2], "stride": 2, "in_shape": [h2, w2, CONV2_CH],
         "out_shape": [h4, w4, CONV2_CH]},
        {"op": "flatten", "in_shape": [h4, w4, CONV2_CH], "out_shape": [h4 * w4 * CONV2_CH]},
        {"op": "dense", "in_features": h4 * w4 * CONV2_CH, "out_features": HIDDEN},
        {"op": "relu", "shape": [HIDDEN]},
        {"op": "dense", "in_features": HIDDEN, "out_features": n_classes},
        {"op": "softmax", "shape": [n_classes]},
    ]


#: The next-pillar CNN as plain data: batch dimension 1 in "input" (scale it freely).
FLOW_CNN_ARCH: list[dict] = _arch()


# ---------------------------------------------------------------------------------------------
# primitives (NHWC)
# ---------------------------------------------------------------------------------------------

def im2col3x3(x):
    """(B, H, W, C) -> (B*H*W, 9*C) patches of a 3x3 'same' convolution (zero padding 1)."""
    B, H, W, C = x.shape
    xp = np.pad(x, ((0, 0), (1, 1), (1, 1), (0, 0)))
    cols = np.stack([xp[:, i:i + H, j:j + W, :] for i in range(3) for j in range(3)], axis=3)
    return cols.reshape(B * H * W, 9 * C)


def col2im3x3(dcols, shape):
    """Adjoint of :func:`im2col3x3`, written without in-place updates (a sum of padded shifts)
    so a tracer sees plain array operations."""
    B, H, W, C = shape
    d = dcols.reshape(B, H, W, 9, C)
    dxp = sum(np.pad(d[:, :, :, 3 * i + j, :], ((0, 0), (i, 2 - i), (j, 2 - j), (0, 0)))
              for i in range(3) for j in range(3))
    return dxp[:, 1:H + 1, 1:W + 1, :]


def conv3x3(x, Wm, b):
    """x (B,H,W,C), Wm (9*C, Cout), b (Cout,) -> (B,H,W,Cout); returns (out, cols)."""
    B, H, W, _ = x.shape
    cols = im2col3x3(x)
    return (cols @ Wm + b).reshape(B, H, W, Wm.shape[1]), cols


def maxpool2(x):
    B, H, W, C = x.shape
    r = x.reshape(B, H // 2, 2, W // 2, 2, C)
    return r.max(axis=(2, 4))


def maxpool2_backward(x, out, dout):
    B, H, W, C = x.shape
    r = x.reshape(B, H // 2, 2, W // 2, 2, C)
    mask = r == out[:, :, None, :, None, :]
    return (mask * dout[:, :, None, :, None, :]).reshape(B, H, W, C)


def softmax_xent(logits, labels):
    """Mean cross-entropy and its gradient with respect to the logits."""
    z = logits - logits.max(axis=1, keepdims=True)
    p = np.exp(z)
    p = p / p.sum(axis=1, keepdims=True)
    n = logits.shape[0]
    onehot = np.eye(logits.shape[1], dtype=p.dtype)[labels]
    loss = -np.mean(np.log(np.sum(p * onehot, axis=1) + 1e-12))
    return loss, (p - onehot) / n


class Adam:
    def __init__(self, params: dict, lr: float = 1e-3, b1: float = 0.9, b2: float = 0.999):
        self.lr, self.b1, self.b2, self.t = lr, b1, b2, 0
        self.m = {k: np.zeros_like(v) for k, v in params.items()}
        self.v = {k: np.zeros_like(v) for k, v in params.items()}

    def step(self, params: dict, grads: dict) -> None:
        self.t += 1
        c1, c2 = 1 - self.b1 ** self.t, 1 - self.b2 ** self.t
        for k in params:
            self.m[k] = self.b1 * self.m[k] + (1 - self.b1) * grads[k]
            self.v[k] = self.b2 * self.v[k] + (1 - self.b2) * grads[k] * grads[k]
            # rebinding, not in-place: keeps the update traceable
            step = self.lr * (self.m[k] / c1) / (np.sqrt(self.v[k] / c2) + 1e-8)
            params[k] = params[k] - step


# ---------------------------------------------------------------------------------------------
# the next-pillar CNN
# ---------------------------------------------------------------------------------------------

class FlowCNN:
    """conv3x3(8)-relu-pool-conv3x3(16)-relu-pool-dense(128)-relu-dense(n_classes)."""

    def __init__(self, rng: np.random.Generator, n_classes: int = N_PILLARS,
                 image_shape: tuple = IMAGE_SHAPE):
        H, W = image_shape
        flat = (H // 4) * (W // 4) * CONV2_CH

        def he(fan_in, shape):
            return (rng.standard_normal(shape) * np.sqrt(2.0 / fan_in)).astype(np.float32)
        self.params = {
            "W1": he(9, (9, CONV1_CH)), "b1": np.zeros(CONV1_CH, np.float32),
            "W2": he(9 * CONV1_CH, (9 * CONV1_CH, CONV2_CH)), "b2": np.zeros(CONV2_CH, np.float32),
            "W3": he(flat, (flat, HIDDEN)), "b3": np.zeros(HIDDEN, np.float32),
            "W4": he(HIDDEN, (HIDDEN, n_classes)), "b4": np.zeros(n_classes, np.float32),
        }
        self.arch = _arch(H, W, n_classes)

    def forward(self, x):
        """x (B, H, W) or (B, H, W, 1) in {0, 1} -> (logits (B, n_classes), cache)."""
        P = self.params
        if x.ndim == 3:
            x = x[..., None]
        x = x.astype(np.float32)
        a1, c1 = conv3x3(x, P["W1"], P["b1"])
        r1 = np.maximum(a1, 0)
        p1 = maxpool2(r1)
        a2, c2 = conv3x3(p1, P["W2"], P["b2"])
        r2 = np.maximum(a2, 0)
        p2 = maxpool2(r2)
        f = p2.reshape(p2.shape[0], -1)
        a3 = f @ P["W3"] + P["b3"]
        r3 = np.maximum(a3, 0)
        logits = r3 @ P["W4"] + P["b4"]
        cache = (x, c1, a1, r1, p1, c2, a2, r2, p2, f, a3, r3)
        return logits, cache

    def backward(self, cache, dlogits) -> dict:
        P = self.params
        x, c1, a1, r1, p1, c2, a2, r2, p2, f, a3, r3 = cache
        g = {"W4": r3.T @ dlogits, "b4": dlogits.sum(0)}
        dr3 = dlogits @ P["W4"].T
        da3 = dr3 * (a3 > 0)
        g["W3"], g["b3"] = f.T @ da3, da3.sum(0)
        dp2 = (da3 @ P["W3"].T).reshape(p2.shape)
        da2 = maxpool2_backward(r2, p2, dp2) * (a2 > 0)
        da2f = da2.reshape(-1, da2.shape[-1])
        g["W2"], g["b2"] = c2.T @ da2f, da2f.sum(0)
        dp1 = col2im3x3(da2f @ P["W2"].T, p1.shape)
        da1 = maxpool2_backward(r1, p1, dp1) * (a1 > 0)
        da1f = da1.reshape(-1, da1.shape[-1])
        g["W1"], g["b1"] = c1.T @ da1f, da1f.sum(0)
        return g

    def predict(self, x, batch: int = 512) -> np.ndarray:
        out = [self.forward(x[i:i + batch])[0] for i in range(0, len(x), batch)]
        return np.concatenate(out)


# ---------------------------------------------------------------------------------------------
# stacked autoencoder: shape after k pillars -> shape after k-1 pillars
# ---------------------------------------------------------------------------------------------

def _sigmoid(z):
    return 1.0 / (1.0 + np.exp(-np.clip(z, -30, 30)))


class StackedAutoencoder:
    """Dense encoder n -> h1 -> h2 and mirrored decoder h2 -> h1 -> n, ReLU hidden units,
    sigmoid output. Trained greedily layer by layer as autoencoders of shapes, then the whole
    stack is fine-tuned to map a shape to its intermediate (pre-pillar) shape with binary
    cross-entropy."""

    def __init__(self, rng: np.random.Generator, n_in: int, sizes: tuple = (512, 128)):
        dims = [n_in, *sizes]
        self.dims = dims
        self.params = {}
        for i, (a, b) in enumerate(zip(dims[:-1], dims[1:])):
            enc = rng.standard_normal((a, b)) * np.sqrt(2.0 / a)
            dec = rng.standard_normal((b, a)) * np.sqrt(1.0 / b)
            self.params[f"E{i}"] = enc.astype(np.float32)
            self.params[f"e{i}"] = np.zeros(b, np.float32)
            self.params[f"D{i}"] = dec.astype(np.float32)
            self.params[f"d{i}"] = np.zeros(a, np.float32)

    @property
    def depth(self) -> int:
        return len(self.dims) - 1

    def forward(self, x, upto: int | None = None):
        """Encode through ``upto`` layers (all by default) and decode back; returns
        (probabilities, cache)."""
        L = self.depth if upto is None else upto
        P = self.params
        h, acts = x.astype(np.float32), []
        for i in range(L):
            a = h @ P[f"E{i}"] + P[f"e{i}"]
            acts.append((h, a))
            h = np.maximum(a, 0)
        for i in reversed(range(L)):
            a = h @ P[f"D{i}"] + P[f"d{i}"]
            acts.append((h, a))
            h = np.maximum(a, 0) if i > 0 else _sigmoid(a)
        return h, acts

    def backward(self, acts, dout_logit, upto: int | None = None) -> dict:
        L = self.depth if upto is None else upto
        P, g = self.params, {}
        d = dout_logit
        k = len(acts) - 1
        for i in range(L):                       # decoders, from the output inwards
            h, a = acts[k]
            if i > 0:
                d = d * (a > 0)
            g[f"D{i}"], g[f"d{i}"] = h.T @ d, d.sum(0)
            d = d @ P[f"D{i}"].T
            k -= 1
        for i in reversed(range(L)):             # encoders
            h, a = acts[k]
            d = d * (a > 0)
            g[f"E{i}"], g[f"e{i}"] = h.T @ d, d.sum(0)
            d = d @ P[f"E{i}"].T
            k -= 1
        return g

    def loss_grad(self, x, target, upto: int | None = None):
        prob, acts = self.forward(x, upto)
        t = target.astype(np.float32)
        loss = -np.mean(t * np.log(prob + 1e-7) + (1 - t) * np.log(1 - prob + 1e-7))
        dlogit = (prob - t) / x.shape[0]           # BCE through sigmoid, summed over pixels
        return loss, self.backward(acts, dlogit, upto)

    def predict(self, x, batch: int = 1024) -> np.ndarray:
        return np.concatenate([self.forward(x[i:i + batch])[0] for i in range(0, len(x), batch)])


# ---------------------------------------------------------------------------------------------
# traceable entry points
# ---------------------------------------------------------------------------------------------

def _random_shapes(batch: int, rng: np.random.Generator, depth: int = 3):
    from .flow import inlet_stream
    lib = _default_library()
    seqs = rng.integers(0, len(lib), size=(batch, depth))
    G = lib.sequence_maps_batch(seqs)
    inlet = inlet_stream(lib.grid).ravel()
    x = inlet[G].reshape(batch, *IMAGE_SHAPE).astype(np.float32)
    return x, seqs[:, -1]


_LIB: list = []     # lazily built default pillar library (deterministic; no RNG involved)


def _default_library():
    from .flow import PillarLibrary
    if not _LIB:
        _LIB.append(PillarLibrary())
    return _LIB[0]


def cnn_inference(batch: int = 32, seed: int = 0, model: FlowCNN | None = None) -> np.ndarray:
    """Entry point: next-pillar probabilities for ``batch`` sculpted shapes (random sequences
    through the forward model). Untrained He-initialised weights unless ``model`` is given."""
    rng = np.random.default_rng(seed)
    model = FlowCNN(rng) if model is None else model
    x, _ = _random_shapes(batch, rng)
    logits, _ = model.forward(x)
    z = np.exp(logits - logits.max(axis=1, keepdims=True))
    return z / z.sum(axis=1, keepdims=True)


def cnn_train_step(batch: int = 32, seed: int = 0, model: FlowCNN | None = None,
                   opt: Adam | None = None, lr: float = 1e-3) -> float:
    """Entry point: one Adam step of the next-pillar CNN on a fresh random batch; returns the
    loss before the step."""
    rng = np.random.default_rng(seed)
    model = FlowCNN(rng) if model is None else model
    opt = Adam(model.params, lr) if opt is None else opt
    x, y = _random_shapes(batch, rng)
    logits, cache = model.forward(x)
    loss, dlogits = softmax_xent(logits, y)
    opt.step(model.params, model.backward(cache, dlogits.astype(np.float32)))
    return float(loss)
