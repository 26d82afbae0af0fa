"""The flow-sculpting kernels (forward gather, CNN forward/backward, Adam step) run on a
NEP-13/18 duck array (what a numpy tracer needs)."""
import numpy as np

import solvers.microfluidics as mf
from duck_array import Duck
from solvers.microfluidics.cnn import FlowCNN, StackedAutoencoder, softmax_xent


def test_forward_model_gather_runs_on_duck_arrays():
    lib = mf.PillarLibrary(positions=(-0.2, 0.2), diameters=(0.5,), grid=mf.Grid(16, 32))
    inlet = mf.inlet_stream(lib.grid)
    G = lib.sequence_map([0, 1, 0])
    out = mf.apply_map(Duck(inlet), G)
    assert isinstance(out, Duck) and np.array_equal(out.a, mf.apply_map(inlet, G))
    pmr = mf.pixel_match_rate(out, Duck(inlet))
    assert isinstance(pmr, Duck)


def test_cnn_train_step_runs_on_duck_arrays():
    rng = np.random.default_rng(0)
    plain = FlowCNN(rng, n_classes=6, image_shape=(8, 16))
    traced = FlowCNN(np.random.default_rng(0), n_classes=6, image_shape=(8, 16))
    traced.params = {k: Duck(v) for k, v in traced.params.items()}
    x = (rng.random((3, 8, 16)) > 0.5).astype(np.float32)
    y = np.array([0, 5, 2])
    grads = []
    for model, xin in ((plain, x), (traced, Duck(x))):
        logits, cache = model.forward(xin)
        loss, d = softmax_xent(logits, y)
        g = model.backward(cache, d)
        mf.Adam(model.params, 1e-3).step(model.params, g)
        grads.append(g)
    assert all(isinstance(v, Duck) for v in traced.params.values())
    for k in plain.params:
        assert np.allclose(grads[1][k].a, grads[0][k], rtol=1e-4, atol=1e-6)
        assert np.allclose(traced.params[k].a, plain.params[k], rtol=1e-5, atol=1e-7)


def test_sae_forward_backward_runs_on_duck_arrays():
    rng = np.random.default_rng(1)
    sae = StackedAutoencoder(rng, 32, (8, 4))
    sae.params = {k: Duck(v) for k, v in sae.params.items()}
    x = (rng.random((2, 32)) > 0.5).astype(np.float32)
    loss, g = sae.loss_grad(Duck(x), Duck(x))
    assert isinstance(g["E0"], Duck)
