"""The flow-sculpting kernels (forward gather, CNN forward/backward, Adam step) run on a
NEP-13/18 duck array (what a numpy tracer needs)."""
import numpy as np

import solvers.microfluidics as mf
from solvers.microfluidics.cnn import FlowCNN, StackedAutoencoder, softmax_xent


class Duck(np.lib.mixins.NDArrayOperatorsMixin):
    """A strict NEP-13/18 duck array standing in for a tracer's arrays: numpy functions and
    ufuncs dispatch to it; item assignment, in-place ufuncs, float(), bool() and implicit
    conversion to ndarray raise, so a kernel that would defeat a tracer fails here.
    (Same helper in test_tumour_traceable.py / test_microfluidics_traceable.py.)"""

    def __init__(self, a):
        self.a = np.asarray(a)

    @staticmethod
    def _un(x):
        if isinstance(x, Duck):
            return x.a
        if isinstance(x, (list, tuple)):
            return type(x)(Duck._un(v) for v in x)
        return x

    @staticmethod
    def _wrap(r):
        if isinstance(r, (np.ndarray, np.generic)):
            return Duck(r)
        if isinstance(r, tuple):
            return tuple(Duck._wrap(v) for v in r)
        return r

    def __array_ufunc__(self, ufunc, method, *inputs, **kw):
        if "out" in kw:
            raise TypeError("in-place ufunc on a traced array")
        kw = {k: Duck._un(v) for k, v in kw.items()}
        return Duck._wrap(getattr(ufunc, method)(*Duck._un(inputs), **kw))

    def __array_function__(self, func, types, args, kwargs):
        kwargs = {k: Duck._un(v) for k, v in kwargs.items()}
        return Duck._wrap(func(*Duck._un(args), **kwargs))

    def __getitem__(self, key):
        return Duck(self.a[Duck._un(key)])

    def __setitem__(self, key, value):
        raise TypeError("item assignment on a traced array")

    def __array__(self, *args, **kwargs):
        raise TypeError("implicit conversion of a traced array")

    def __float__(self):
        raise TypeError("float() of a traced array")

    def __bool__(self):
        raise TypeError("branching on a traced array")

    def __len__(self):
        return len(self.a)

    shape = property(lambda self: self.a.shape)
    ndim = property(lambda self: self.a.ndim)
    dtype = property(lambda self: self.a.dtype)
    T = property(lambda self: Duck(self.a.T))

    def reshape(self, *shape):
        return Duck(self.a.reshape(*shape))

    def astype(self, dtype):
        return Duck(self.a.astype(dtype))

    def sum(self, *args, **kwargs):
        return Duck(self.a.sum(*args, **kwargs))

    def max(self, *args, **kwargs):
        return Duck(self.a.max(*args, **kwargs))

    def copy(self):
        return Duck(self.a.copy())


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
