"""Property tests: random shapes and random chains of ufuncs trace to exact flops and shapes."""
from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from archsim.graph import ELEMENTWISE_FLOPS
from archsim.trace import trace

# ufunc -> the elementwise fn the graph should record (an independent table, on purpose)
UNARY = {np.negative: "neg", np.absolute: "abs", np.sqrt: "sqrt", np.exp: "exp", np.log: "log",
         np.square: "square", np.tanh: "tanh", np.sin: "sin", np.sign: "sign", np.floor: "floor"}
BINARY = {np.add: "add", np.subtract: "sub", np.multiply: "mul", np.true_divide: "div",
          np.maximum: "max", np.minimum: "min", np.power: "pow", np.hypot: "hypot"}


@st.composite
def chains(draw):
    shape = tuple(draw(st.lists(st.integers(1, 5), min_size=0, max_size=3)))
    steps = []
    for _ in range(draw(st.integers(1, 8))):
        if draw(st.booleans()):
            steps.append(("unary", draw(st.sampled_from(sorted(UNARY, key=str))), None, False))
            continue
        uf = draw(st.sampled_from(sorted(BINARY, key=str)))
        other = draw(st.sampled_from(["self", "scalar", "broadcast"]))
        # an operand that broadcasts against `shape`: a suffix with some dims set to 1
        k = draw(st.integers(0, len(shape)))
        oshape = tuple(1 if draw(st.booleans()) else d for d in shape[len(shape) - k:])
        inplace = draw(st.booleans())
        steps.append(("binary", uf, (other, oshape), inplace))
    return shape, steps


def _run(shape, steps, x, operands):
    """The chain as ordinary numpy code (traced or not); returns every intermediate."""
    outs = []
    for (arity, uf, other, inplace), y in zip(steps, operands):
        if arity == "unary":
            x = uf(x)
        else:
            rhs = x if other[0] == "self" else (1.5 if other[0] == "scalar" else y)
            if inplace and np.broadcast_shapes(np.shape(x), np.shape(rhs)) == np.shape(x):
                x = x.astype(np.float64) if x.dtype != np.float64 else x
                uf(x, rhs, out=x)
            else:
                x = uf(x, rhs)
        if isinstance(x, np.generic):  # numpy gives scalars for 0-d results; keep arrays
            x = np.asarray(x)
        outs.append(x)
    return outs


@settings(max_examples=60, deadline=None)
@given(chains(), st.integers(0, 2**16))
def test_random_ufunc_chains_trace_exactly(chain, seed):
    shape, steps = chain
    rng = np.random.default_rng(seed)
    x = np.asarray(rng.uniform(0.5, 2.0, size=shape))
    operands = [np.asarray(rng.uniform(0.5, 2.0, size=s[2][1])) if s[0] == "binary" else None
                for s in steps]

    with np.errstate(all="ignore"):
        ref = _run(shape, steps, x.copy(), operands)
    traced_outs = []

    def fn(x, *ys):
        traced_outs.extend(_run(shape, steps, x, list(ys)))
        return traced_outs[-1]

    g = trace(fn, x, *[y if y is not None else np.zeros(1) for y in operands],
              aggregate=False, strict=True)
    ops = [op for op in g.ops if op.kind == "elementwise"]
    assert len(ops) == len(steps)
    expected = 0
    for (arity, uf, _, _), op, r in zip(steps, ops, ref):
        fn_name = (UNARY if arity == "unary" else BINARY)[uf]
        assert op.attrs["fn"] == fn_name
        assert op.outputs[0].shape == np.shape(r)            # numpy's broadcast result shape
        expected += int(np.size(r)) * ELEMENTWISE_FLOPS.get(fn_name, 1)
    assert g.flops == expected
    assert [np.shape(t) for t in traced_outs] == [np.shape(r) for r in ref]
    with np.errstate(all="ignore"):
        np.testing.assert_array_equal(np.asarray([t.value for t in traced_outs][-1]), ref[-1])
    # folding never changes the totals
    g2 = trace(fn, x, *[y if y is not None else np.zeros(1) for y in operands])
    traced_outs.clear()
    assert (g2.flops, g2.bytes) == (g.flops, g.bytes)
