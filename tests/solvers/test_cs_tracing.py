"""The iteration kernels run on a NEP-13/18 array wrapper (no __array__, no __float__), so a
numpy tracer can record them; results equal the plain-numpy run."""
import numpy as np
import pytest

from solvers.cs import BernoulliGaussMMSE, HaarWaveletThreshold, SoftThreshold, amp, cg_vamp, vamp
from solvers.cs.operators import ConditionedDCT, SubsampledDCT, gaussian_operator
from solvers.cs.problems import bernoulli_gauss, measure, noise_var_for_snr, phantom


class Traced(np.lib.mixins.NDArrayOperatorsMixin):
    """Wraps an ndarray; every numpy call goes through the NEP-13/18 protocols and is logged."""

    log: list = []

    def __init__(self, a):
        self.a = np.asarray(a)

    @staticmethod
    def _unwrap(v):
        if isinstance(v, Traced):
            return v.a
        if isinstance(v, (list, tuple)):
            return type(v)(Traced._unwrap(u) for u in v)
        return v

    @staticmethod
    def _wrap(v):
        return Traced(v) if isinstance(v, (np.ndarray, np.generic)) else v

    def __array_ufunc__(self, ufunc, method, *inputs, **kw):
        Traced.log.append(ufunc.__name__)
        return self._wrap(getattr(ufunc, method)(*self._unwrap(inputs), **self._unwrap(kw)))

    def __array_function__(self, func, types, args, kwargs):
        Traced.log.append(func.__name__)
        return self._wrap(func(*self._unwrap(args), **self._unwrap(kwargs)))

    def __getitem__(self, idx):
        return Traced(self.a[self._unwrap(idx)])

    def __bool__(self):  # data-dependent Python branches are allowed but recorded
        Traced.log.append("__bool__")
        return bool(self.a)

    def reshape(self, *shape):
        return Traced(self.a.reshape(*shape))

    shape = property(lambda self: self.a.shape)
    size = property(lambda self: self.a.size)
    ndim = property(lambda self: self.a.ndim)


def _plain(v):
    return v.a if isinstance(v, Traced) else v


@pytest.mark.parametrize("solver", ["amp", "vamp", "cg_vamp", "amp-haar"])
def test_kernels_run_on_traced_arrays(solver):
    rng = np.random.default_rng(5)
    if solver == "amp-haar":
        x = phantom(32).ravel()
        op = SubsampledDCT.random(400, 1024, rng)
        den = HaarWaveletThreshold(32, tau=1.5, levels=3)
        nv = noise_var_for_snr(op, float(np.mean(x**2)), 40.0)
    else:
        x = bernoulli_gauss(512, 0.1, rng)
        op = gaussian_operator(256, 512, rng) if solver == "amp" else ConditionedDCT.random(256, 512, 10.0, rng)
        den = SoftThreshold(1.3) if solver == "amp" else BernoulliGaussMMSE(0.1)
        nv = noise_var_for_snr(op, 0.1, 40.0)
    p = measure(op, x, nv, rng)
    run = {
        "amp": lambda y: amp(y, op, den, 5),
        "amp-haar": lambda y: amp(y, op, den, 5),
        "vamp": lambda y: vamp(y, op, den, 5, noise_var=nv),
        "cg_vamp": lambda y: cg_vamp(y, op, den, 5, noise_var=nv, k=4),
    }[solver]
    ref = run(p.y).x_hat
    Traced.log = []
    out = run(Traced(p.y)).x_hat
    assert isinstance(out, Traced)
    assert np.allclose(_plain(out), ref)
    assert len(Traced.log) > 50


def test_archsim_tracer_records_cg_vamp_without_escapes():
    # The solvers never import archsim; this test checks the one-way contract from the other side.
    trace_mod = pytest.importorskip("archsim.trace")
    from solvers.cs.runs import make_denoiser, make_problem

    p = make_problem(2048, 0.2, 0.04, 40.0, "conditioned-dct", 100.0, np.random.default_rng(0))
    den = make_denoiser("bg", 0.04, 1.3)
    g = trace_mod.trace(lambda y: cg_vamp(y, p.op, den, 3, noise_var=p.noise_var, k=5).x_hat, p.y,
                        name="cg_vamp")
    assert g.attrs.get("escapes", []) == [] and g.attrs.get("unsupported", []) == []
