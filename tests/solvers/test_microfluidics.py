"""Tests for solvers.microfluidics: forward-model physics properties, composition, CNN/SAE
numerics, entry points and a small end-to-end inverse design."""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import solvers.microfluidics as mf
from solvers.microfluidics.cnn import FlowCNN, StackedAutoencoder, softmax_xent

SMALL = mf.Grid(16, 32)
pillars = st.builds(mf.Pillar, pos=st.floats(-0.45, 0.45), diam=st.floats(0.3, 0.8))
FAST = settings(max_examples=15, deadline=None)


@pytest.fixture(scope="module")
def small_lib():
    return mf.PillarLibrary(positions=(-0.4, -0.2, 0.0, 0.2, 0.4), diameters=(0.5, 0.75),
                            grid=SMALL)


@FAST
@given(pillars)
def test_zero_inertia_is_identity(p):
    assert np.array_equal(mf.pillar_map(p, 0.0), np.arange(mf.Grid().n))


@FAST
@given(pillars, st.floats(0.1, 1.5), st.floats(-0.45, 0.2), st.floats(0.05, 0.4))
def test_stream_area_preserved(p, k, lo, width):
    G = mf.pillar_map(p, k, SMALL)
    assert np.array_equal(np.sort(G), np.arange(SMALL.n))        # a permutation
    inlet = mf.inlet_stream(SMALL, lo, lo + width)
    out = mf.apply_map(inlet, G)
    assert inlet.sum() > 0
    assert abs(out.sum() - inlet.sum()) <= 0.01 * inlet.sum()   # exact in fact
    assert out.sum() == inlet.sum()


@FAST
@given(pillars, st.floats(0.2, 1.5))
def test_full_height_pillar_map_is_top_bottom_symmetric(p, k):
    H, W = SMALL.height, SMALL.width
    G = mf.pillar_map(p, k, SMALL).reshape(H, W)
    r, c = np.divmod(G, W)
    assert np.array_equal(r[::-1], H - 1 - r)      # mirrored pixel comes from mirrored source
    assert np.array_equal(c[::-1], c)
    rng = np.random.default_rng(0)
    img = (rng.random((H, W)) > 0.5).astype(float)
    img = np.maximum(img, img[::-1])                 # a symmetric inlet
    out = mf.apply_map(img, G.ravel())
    assert np.array_equal(out, out[::-1])


def test_underlying_flow_is_incompressible_and_snapping_is_local():
    g = mf.Grid()
    p = mf.Pillar(0.1, 0.75)
    ys, zs = mf.continuous_pullback(g, p, 1.0)
    # Jacobian determinant of the continuous pull-back map (central differences, h = 1e-5)
    y0, z0 = g.centres()
    h = 1e-5
    from solvers.microfluidics.flow import flow_points
    yp, zp = flow_points(y0 + h, z0, p, 1.0, g.aspect)
    ym, zm = flow_points(y0 - h, z0, p, 1.0, g.aspect)
    yq, zq = flow_points(y0, z0 + h, p, 1.0, g.aspect)
    yr, zr = flow_points(y0, z0 - h, p, 1.0, g.aspect)
    det = ((yp - ym) * (zq - zr) - (yq - yr) * (zp - zm)) / (4 * h * h)
    assert np.abs(det - 1).max() < 1e-4
    # the snapped permutation takes each pixel from within ~1 pixel of the continuous source
    G = mf.pillar_map(p, 1.0, g)
    r, c = np.divmod(G.reshape(g.height, g.width), g.width)
    col = (ys + g.aspect) * g.width / (2 * g.aspect) - 0.5
    row = (1 - zs) * g.height / 2 - 0.5
    dist = np.hypot(r - row, c - col)
    assert dist.mean() < 0.6 and np.percentile(dist, 99) < 2.0
    assert np.abs(r - np.arange(g.height)[:, None]).max() >= 2   # and it does deform


@settings(max_examples=30, deadline=None)
@given(st.lists(st.integers(0, 9), min_size=3, max_size=3), st.integers(0, 2 ** 31))
def test_composition_is_associative_and_matches_sequential_application(small_lib, idx, seed):
    a, b, c = (small_lib.maps[i] for i in idx)
    assert np.array_equal(mf.compose(mf.compose(a, b), c), mf.compose(a, mf.compose(b, c)))
    img = (np.random.default_rng(seed).random((SMALL.height, SMALL.width)) > 0.7).astype(float)
    seq_img = mf.apply_map(mf.apply_map(mf.apply_map(img, a), b), c)
    assert np.array_equal(seq_img, mf.apply_map(img, mf.compose(a, b, c)))
    assert np.array_equal(small_lib.sequence_map(idx), mf.compose(a, b, c))
    batch = small_lib.sequence_maps_batch(np.array([idx, idx[::-1]]))
    assert np.array_equal(batch[0], small_lib.sequence_map(idx))
    assert np.array_equal(batch[1], small_lib.sequence_map(idx[::-1]))


def test_pixel_match_rate_and_inertia():
    a = np.zeros((4, 4))
    b = a.copy()
    b[0, :2] = 1
    assert mf.pixel_match_rate(a, a) == 1.0
    assert mf.pixel_match_rate(a, b) == pytest.approx(1 - 2 / 16)
    assert mf.stream_iou(b, b) == 1.0
    assert mf.inertia_strength(1.0) == 0.0 and mf.inertia_strength(40.0) == 1.0


def test_arch_description_matches_network():
    arch = mf.FLOW_CNN_ARCH
    ops = [layer["op"] for layer in arch]
    assert ops == ["input", "conv2d", "relu", "maxpool2d", "conv2d", "relu", "maxpool2d",
                   "flatten", "dense", "relu", "dense", "softmax"]
    net = FlowCNN(np.random.default_rng(0))
    convs = [layer for layer in arch if layer["op"] == "conv2d"]
    dense = [layer for layer in arch if layer["op"] == "dense"]
    assert net.params["W1"].shape == (9 * convs[0]["in_channels"], convs[0]["out_channels"])
    assert net.params["W2"].shape == (9 * convs[1]["in_channels"], convs[1]["out_channels"])
    assert net.params["W3"].shape == (dense[0]["in_features"], dense[0]["out_features"])
    assert net.params["W4"].shape == (dense[1]["in_features"], dense[1]["out_features"])
    assert arch[0]["shape"][1:3] == [mf.Grid().height, mf.Grid().width]


def test_cnn_and_sae_gradients():
    rng = np.random.default_rng(1)
    m = FlowCNN(rng, n_classes=5, image_shape=(8, 16))
    m.params = {k: v.astype(np.float64) for k, v in m.params.items()}
    x = (rng.random((3, 8, 16)) > 0.5).astype(np.float64)
    y = np.array([0, 3, 1])

    def loss():
        return softmax_xent(m.forward(x)[0].astype(np.float64), y)[0]
    logits, cache = m.forward(x)
    _, d = softmax_xent(logits, y)
    g = m.backward(cache, d)
    for k in ("W1", "b1", "W2", "W3", "b4"):
        idx = tuple(int(rng.integers(0, s)) for s in m.params[k].shape)
        h = 1e-3
        m.params[k][idx] += h
        lp = loss()
        m.params[k][idx] -= 2 * h
        lm = loss()
        m.params[k][idx] += h
        assert (lp - lm) / (2 * h) == pytest.approx(g[k][idx], rel=1e-3, abs=1e-5)
    sae = StackedAutoencoder(rng, 64, (16, 8))
    sae.params = {k: v.astype(np.float64) for k, v in sae.params.items()}
    xx = (rng.random((4, 64)) > 0.5).astype(float)
    tt = (rng.random((4, 64)) > 0.5).astype(float)
    _, g = sae.loss_grad(xx, tt)
    for k in ("E0", "E1", "D0", "D1", "e1"):
        idx = tuple(int(rng.integers(0, s)) for s in sae.params[k].shape)
        h = 1e-4
        sae.params[k][idx] += h
        lp = sae.loss_grad(xx, tt)[0]
        sae.params[k][idx] -= 2 * h
        lm = sae.loss_grad(xx, tt)[0]
        sae.params[k][idx] += h
        # loss is the per-pixel mean BCE; the gradient is of the per-sample pixel sum
        assert (lp - lm) / (2 * h) * 64 == pytest.approx(g[k][idx], rel=1e-3, abs=1e-6)


def test_entry_points_seeded_and_training_reduces_loss():
    p0 = mf.cnn_inference(batch=4, seed=0)
    assert p0.shape == (4, len(mf.PillarLibrary().pillars))
    assert np.allclose(p0.sum(1), 1.0, atol=1e-5)
    assert np.array_equal(p0, mf.cnn_inference(batch=4, seed=0))
    assert not np.array_equal(p0, mf.cnn_inference(batch=4, seed=1))
    rng = np.random.default_rng(0)
    model = FlowCNN(rng)
    opt = mf.Adam(model.params, 2e-3)
    losses = [mf.cnn_train_step(batch=16, seed=7, model=model, opt=opt) for _ in range(8)]
    assert losses[-1] < losses[0]


def test_inverse_design_beats_random_baseline():
    r = mf.run_inverse_design(n_train_sequences=400, max_len=4, n_test=100, test_len=3,
                              cnn_epochs=4, sae_epochs=4, sae_sizes=(128, 32), grid=SMALL,
                              positions=(-0.4, -0.2, 0.0, 0.2, 0.4), diameters=(0.5, 0.75),
                              seed=0)
    assert r["held_out_pillar_accuracy"] > 4 * r["chance_accuracy"]
    assert r["pmr_cnn_sae"] > r["pmr_random"] + 0.05
    assert r["pmr_cnn_inverse"] > r["pmr_random"] + 0.08
    assert r["iou_cnn_sae"] > r["iou_random"] + 0.15
