"""The numpy LookupFFN layer: transforms, codes, scores, gather-add, gradients, kernels."""
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from solvers.lookupffn.dense import DenseFFN
from solvers.lookupffn.gradcheck import grad_check
from solvers.lookupffn.kernels import (gather_add_table_major, gather_add_token_major,
                                       row_stats)
from solvers.lookupffn.layer import LookupFFN, codes_and_scores, fwht


def hadamard_by_definition(n):
    i = np.arange(n)
    bits = np.vectorize(lambda v: bin(v).count("1"))(i[:, None] & i[None, :])
    return (-1.0) ** bits


@pytest.mark.parametrize("n", [1, 2, 8, 64, 128, 512])
def test_fwht_is_the_normalised_hadamard_transform(n):
    x = np.random.default_rng(n).standard_normal((3, n))
    np.testing.assert_allclose(fwht(x), x @ hadamard_by_definition(n) / math.sqrt(n), atol=1e-12)
    np.testing.assert_allclose(fwht(fwht(x)), x, atol=1e-12)


def test_fwht_rejects_non_power_of_two():
    with pytest.raises(ValueError, match="power of two"):
        fwht(np.ones((2, 6)))


def test_codes_are_sign_bits_msb_first_and_score_formula():
    z = np.array([[0.5, -1.0, 2.0, -0.1, -0.2, 0.3]])   # two tables of 3 bits
    codes, scores = codes_and_scores(z, 2, 3)
    assert codes.tolist() == [[0b101, 0b001]]
    a = np.abs(z[0, :3])
    expect = a.sum() / np.prod(1 + np.exp(-2 * a))
    assert scores[0, 0] == pytest.approx(expect, rel=1e-12)


def test_forward_matches_an_explicit_loop():
    rng = np.random.default_rng(3)
    layer = LookupFFN.init(100, 12, 5, "bh4", rng)
    layer.params["bias_y"] = rng.standard_normal(100)
    x = rng.standard_normal((4, 100))
    cache = {}
    y = layer(x, cache)
    T = layer.params["tables"]
    for b in range(4):
        ref = layer.params["bias_y"].copy()
        for k in range(12):
            ref += cache["scores"][b, k] * T[k, cache["codes"][b, k]]
        np.testing.assert_allclose(y[b], ref, rtol=1e-12)
    # BH4 shape bookkeeping: 100 -> D = 128, h·τ = 60 -> r = 1
    assert (layer.padded, layer.repeats, cache["z"].shape) == (128, 1, (4, 60))


def _grad_check(model, x, rng):
    return grad_check(model, x, rng, n_probe=12)


@pytest.mark.parametrize("projection", ["bh4", "dense"])
def test_gradients_match_finite_differences(projection):
    rng = np.random.default_rng(7)
    layer = LookupFFN.init(100, 24, 6, projection, rng)   # BH4: D = 128, r = 2 repeats
    layer.params["bias_z"] = 0.1 * rng.standard_normal(layer.code_dim)
    assert _grad_check(layer, rng.standard_normal((6, 100)), rng) < 1e-4


def test_dense_ffn_gradients_match_finite_differences():
    rng = np.random.default_rng(8)
    assert _grad_check(DenseFFN.init(16, 32, rng), rng.standard_normal((5, 16)), rng) < 1e-5


@settings(max_examples=15)
@given(n=st.integers(1, 150), h=st.integers(1, 9), bits=st.integers(1, 5),
       tile=st.integers(1, 70), seed=st.integers(0, 10_000))
def test_token_major_and_table_major_gathers_agree(n, h, bits, tile, seed):
    rng = np.random.default_rng(seed)
    T = rng.standard_normal((h, 1 << bits, 8)).astype(np.float32)
    codes = rng.integers(0, 1 << bits, (n, h))
    scores = rng.random((n, h)).astype(np.float32)
    ref = np.einsum("bh,bhd->bd", scores, T[np.arange(h)[None, :], codes])
    np.testing.assert_allclose(gather_add_token_major(T, codes, scores, chunk=7), ref, rtol=1e-5,
                               atol=1e-5)
    np.testing.assert_allclose(gather_add_table_major(T, codes, scores, tile=tile), ref,
                               rtol=1e-5, atol=1e-5)
    st_ = row_stats(codes, 1 << bits, tile)
    key = codes + (1 << bits) * np.arange(h)[None, :]
    tiles = (np.arange(n) // tile)[:, None]
    assert st_["distinct"] == len(set(key.ravel().tolist()))
    assert st_["tile_distinct"] == len(set(zip(tiles.repeat(h, 1).ravel().tolist(),
                                                key.ravel().tolist())))
    assert st_["lookups"] == n * h
