"""Test helper: a strict NEP-13/18 duck array (tests/helpers is on pytest's pythonpath)."""
import numpy as np


class Duck(np.lib.mixins.NDArrayOperatorsMixin):
    """A strict NEP-13/18 duck array standing in for a tracer's arrays: numpy functions and
    ufuncs dispatch to it; item assignment, in-place ufuncs, float(), bool() and implicit
    conversion to ndarray raise, so a kernel that would defeat a tracer fails here."""

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
