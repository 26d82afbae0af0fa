"""Inverse design of pillar sequences: data, training, design loop and baselines.

Design loop ("peeling", one pillar at a time from the outlet backwards): given a target outlet
shape and the number of pillars L, the CNN predicts the *last* pillar of a sequence that makes
the current shape, the stacked autoencoder predicts the intermediate shape before that pillar,
and the loop repeats on the (binarised) intermediate shape L times. The predicted sequence is
rebuilt with the forward model and scored by pixel match rate against the target.

Variant ``intermediate="inverse"``: since our surrogate maps are exact permutations, the
intermediate shape can also be computed by pulling the current shape back through the predicted
pillar's inverse permutation (no SAE). Real flow-sculpting data (diffusion, pixelation) has no
exact inverse, which is why the published method learns it; both are reported.

Baselines: random sequences of the same length, and greedy forward search (from the inlet, at
each step apply the library pillar whose result best matches the target).
"""
from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from .cnn import Adam, FlowCNN, StackedAutoencoder, softmax_xent
from .flow import Grid, PillarLibrary, inlet_stream, pixel_match_rate, stream_iou


@dataclass
class Dataset:
    shapes: np.ndarray        # (N, H, W) float32: shape after k pillars (k >= 1)
    labels: np.ndarray        # (N,) int: index of pillar k
    previous: np.ndarray      # (N, H, W) float32: shape after k - 1 pillars
    depth: np.ndarray         # (N,) int: k


def make_dataset(lib: PillarLibrary, inlet: np.ndarray, n_sequences: int, max_len: int,
                 rng: np.random.Generator) -> Dataset:
    """Random sequences of length ``max_len``; every prefix gives one example."""
    H, W = inlet.shape
    seqs = rng.integers(0, len(lib), size=(n_sequences, max_len))
    flat = inlet.ravel().astype(np.float32)
    G = np.broadcast_to(np.arange(lib.grid.n), (n_sequences, lib.grid.n))
    prev = np.broadcast_to(flat, (n_sequences, lib.grid.n))
    shapes, labels, previous, depth = [], [], [], []
    for k in range(max_len):
        G = np.take_along_axis(G, lib.maps[seqs[:, k]], axis=1)
        cur = flat[G]
        shapes.append(cur)
        previous.append(prev)
        labels.append(seqs[:, k])
        depth.append(np.full(n_sequences, k + 1))
        prev = cur
    cat = lambda L: np.concatenate(L)       # noqa: E731
    return Dataset(cat(shapes).reshape(-1, H, W), cat(labels), cat(previous).reshape(-1, H, W),
                   cat(depth))


def train_cnn(data: Dataset, rng: np.random.Generator, epochs: int = 5, batch: int = 128,
              lr: float = 2e-3, n_classes: int | None = None, log=None) -> FlowCNN:
    n_classes = int(data.labels.max()) + 1 if n_classes is None else n_classes
    model = FlowCNN(rng, n_classes=n_classes, image_shape=data.shapes.shape[1:])
    opt = Adam(model.params, lr)
    N = len(data.labels)
    for ep in range(epochs):
        order = rng.permutation(N)
        tot = 0.0
        for i in range(0, N, batch):
            idx = order[i:i + batch]
            logits, cache = model.forward(data.shapes[idx])
            loss, d = softmax_xent(logits, data.labels[idx])
            opt.step(model.params, model.backward(cache, d.astype(np.float32)))
            tot += loss * len(idx)
        opt.lr *= 0.7
        if log:
            log(f"cnn epoch {ep + 1}/{epochs} loss {tot / N:.4f}")
    return model


def train_sae(data: Dataset, rng: np.random.Generator, sizes: tuple = (512, 128),
              pre_epochs: int = 2, epochs: int = 6, batch: int = 128, lr: float = 1e-3,
              log=None) -> StackedAutoencoder:
    X = data.shapes.reshape(len(data.shapes), -1)
    Y = data.previous.reshape(len(data.previous), -1)
    sae = StackedAutoencoder(rng, X.shape[1], sizes)
    N = len(X)
    # greedy layer-wise pretraining: autoencode shapes with 1, then 2, ... encoder layers
    for upto in range(1, sae.depth + 1):
        opt = Adam(sae.params, lr)
        for _ in range(pre_epochs):
            order = rng.permutation(N)
            for i in range(0, N, batch):
                idx = order[i:i + batch]
                _, g = sae.loss_grad(X[idx], X[idx], upto)
                _adam_subset(opt, sae.params, g)
    # fine-tune the whole stack: shape -> intermediate shape
    opt = Adam(sae.params, lr)
    for ep in range(epochs):
        order = rng.permutation(N)
        tot = 0.0
        for i in range(0, N, batch):
            idx = order[i:i + batch]
            loss, g = sae.loss_grad(X[idx], Y[idx])
            opt.step(sae.params, g)
            tot += loss * len(idx)
        opt.lr *= 0.8
        if log:
            log(f"sae epoch {ep + 1}/{epochs} bce {tot / N:.4f}")
    return sae


def _adam_subset(opt: Adam, params: dict, grads: dict) -> None:
    """Adam step on the parameters that have gradients (layer-wise pretraining)."""
    opt.t += 1
    c1, c2 = 1 - opt.b1 ** opt.t, 1 - opt.b2 ** opt.t
    for k, g in grads.items():
        opt.m[k] = opt.b1 * opt.m[k] + (1 - opt.b1) * g
        opt.v[k] = opt.b2 * opt.v[k] + (1 - opt.b2) * g * g
        params[k] = params[k] - opt.lr * (opt.m[k] / c1) / (np.sqrt(opt.v[k] / c2) + 1e-8)


def inverse_maps(lib: PillarLibrary) -> np.ndarray:
    inv = np.empty_like(lib.maps)
    rows = np.arange(len(lib))[:, None]
    inv[rows, lib.maps] = np.arange(lib.grid.n)[None, :]
    return inv


def design(targets: np.ndarray, n_pillars: int, cnn: FlowCNN, lib: PillarLibrary,
           sae: StackedAutoencoder | None = None, intermediate: str = "sae") -> np.ndarray:
    """Peeling design loop for a batch of targets (B, H, W); returns sequences (B, L) in flow
    order."""
    B, H, W = targets.shape
    cur = targets.astype(np.float32)
    inv = inverse_maps(lib) if intermediate == "inverse" else None
    seq = np.zeros((B, n_pillars), dtype=np.int64)
    for k in range(n_pillars - 1, -1, -1):
        p = np.argmax(cnn.predict(cur), axis=1)
        seq[:, k] = p
        if k == 0:
            break
        if intermediate == "inverse":
            cur = np.take_along_axis(cur.reshape(B, -1), inv[p], axis=1).reshape(B, H, W)
        else:
            cur = (sae.predict(cur.reshape(B, -1)) > 0.5).astype(np.float32).reshape(B, H, W)
    return seq


def rebuild(lib: PillarLibrary, inlet: np.ndarray, seqs: np.ndarray) -> np.ndarray:
    G = lib.sequence_maps_batch(seqs)
    return inlet.ravel()[G].reshape(len(seqs), *inlet.shape)


def greedy_search(targets: np.ndarray, n_pillars: int, lib: PillarLibrary,
                  inlet: np.ndarray) -> np.ndarray:
    """Forward greedy: at each step the pillar whose result best matches the target."""
    B = len(targets)
    flat_t = targets.reshape(B, -1)
    cur = np.broadcast_to(inlet.ravel(), (B, lib.grid.n)).copy()
    seq = np.zeros((B, n_pillars), dtype=np.int64)
    for k in range(n_pillars):
        cand = cur[:, lib.maps]                       # (B, P, n)
        score = -np.abs(cand - flat_t[:, None, :]).mean(axis=2)
        best = np.argmax(score, axis=1)
        seq[:, k] = best
        cur = cand[np.arange(B), best]
    return seq


def run_inverse_design(n_train_sequences: int = 4000, max_len: int = 6, n_test: int = 300,
                       test_len: int = 4, cnn_epochs: int = 6, sae_epochs: int = 6,
                       sae_sizes: tuple = (512, 128), grid: Grid = Grid(),
                       positions=None, diameters=None, strength: float = 1.0,
                       seed: int = 0, log=None) -> dict:
    """Train both networks on random sequences through the forward model, then design
    held-out targets and compare with the random and greedy baselines. Returns the numbers."""
    rng = np.random.default_rng(seed)
    kw = {}
    if positions is not None:
        kw["positions"] = tuple(positions)
    if diameters is not None:
        kw["diameters"] = tuple(diameters)
    t0 = time.time()
    lib = PillarLibrary(strength=strength, grid=grid, **kw)
    inlet = inlet_stream(grid)
    train = make_dataset(lib, inlet, n_train_sequences, max_len, rng)
    t_data = time.time()
    cnn = train_cnn(train, rng, epochs=cnn_epochs, n_classes=len(lib), log=log)
    t_cnn = time.time()
    sae = train_sae(train, rng, sizes=sae_sizes, epochs=sae_epochs, log=log)
    t_sae = time.time()
    # held-out: fresh generator stream, sequences of length test_len
    test_rng = np.random.default_rng(seed + 10_000)
    test = make_dataset(lib, inlet, n_test, max_len, test_rng)
    acc = float(np.mean(np.argmax(cnn.predict(test.shapes), 1) == test.labels))
    sae_pmr = float(np.mean(pixel_match_rate(sae.predict(test.shapes.reshape(len(test.shapes), -1))
                                             .reshape(test.shapes.shape) > 0.5, test.previous)))
    targets_seq = test_rng.integers(0, len(lib), size=(n_test, test_len))
    targets = rebuild(lib, inlet, targets_seq)
    out = {"n_pillars_library": len(lib), "grid": (grid.height, grid.width),
           "train_examples": len(train.labels), "held_out_pillar_accuracy": acc,
           "chance_accuracy": 1.0 / len(lib), "sae_intermediate_pmr": sae_pmr}
    for name, seqs in (
            ("cnn_sae", design(targets, test_len, cnn, lib, sae, "sae")),
            ("cnn_inverse", design(targets, test_len, cnn, lib, None, "inverse")),
            ("random", test_rng.integers(0, len(lib), size=(n_test, test_len))),
            ("greedy", greedy_search(targets, test_len, lib, inlet))):
        shapes = rebuild(lib, inlet, seqs)
        out[f"pmr_{name}"] = float(np.mean(pixel_match_rate(shapes, targets)))
        out[f"iou_{name}"] = float(np.mean(stream_iou(shapes, targets)))
        out[f"exact_seq_{name}"] = float(np.mean(np.all(seqs == targets_seq, axis=1)))
    out["pmr_inlet_unchanged"] = float(np.mean(pixel_match_rate(inlet, targets)))
    out["iou_inlet_unchanged"] = float(np.mean(stream_iou(np.broadcast_to(inlet, targets.shape),
                                                          targets)))
    out["seconds"] = {"data": t_data - t0, "cnn": t_cnn - t_data, "sae": t_sae - t_cnn,
                      "total": time.time() - t0}
    return out
