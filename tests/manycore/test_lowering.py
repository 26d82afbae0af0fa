"""Tiling operators over the mesh: placement, block choice, coverage of the work."""
import math

import numpy as np
import pytest
from hypothesis import given, strategies as st

from archsim.config import load_config
from archsim.graph import build_workload
from archsim.lower.mesh import (MachineShape, choose_blocks, hilbert_order, lower_mesh, place,
                                wave_items)

HW = "hwconfigs/upcycle-2048.yaml"


@given(st.integers(1, 24), st.integers(1, 24))
def test_hilbert_order_visits_every_tile_once(rows, cols):
    order = hilbert_order(rows, cols)
    assert sorted(order.tolist()) == list(range(rows * cols))


@pytest.mark.parametrize("rows,cols", [(32, 64), (48, 80), (4, 8), (2, 2), (8, 6)])
def test_hilbert_order_steps_to_a_neighbour_on_even_meshes(rows, cols):
    o = hilbert_order(rows, cols)
    x, y = o % cols, o // cols
    assert (np.abs(np.diff(x)) + np.abs(np.diff(y)) == 1).all()


@given(st.sampled_from(["affine", "hilbert"]), st.integers(1, 6), st.integers(1, 6), st.data())
def test_placement_puts_one_work_item_per_tile(placement, rows, cols, data):
    n = data.draw(st.integers(0, rows * cols))
    tiles = place(n, rows, cols, placement)
    assert len(set(tiles.tolist())) == n and all(0 <= t < rows * cols for t in tiles)


def _cfg(**over):
    return load_config(HW, overrides=[f"{k}={v}" for k, v in over.items()])


def test_every_output_block_is_computed_once_per_split_part():
    cfg = _cfg()
    op = lower_mesh(build_workload("gemm(M=1000, N=700, K=300, dtype='int8')"), cfg).ops[0]
    seen = []
    for w in range(op.waves(cfg.tiles.tiles)):
        g, bi, bj, part = wave_items(op, w, cfg.tiles.tiles)
        seen += list(zip(g.tolist(), bi.tolist(), bj.tolist(), part.tolist()))
    assert len(seen) == len(set(seen)) == op.G * op.i_blocks * op.j_blocks * op.splitk


@pytest.mark.parametrize("spec", [
    "gemm(M=4096, N=4096, K=4096, dtype='int8')", "gemm(M=16, N=4096, K=1024, dtype='fp16')",
    "conv2d(N=16, H=56, W=56, C=64, K=64, R=3, dtype='int8')",
    "attention(B=1, H=16, S=178, D=64, dtype='int8')"])
def test_blocks_fit_the_l1_budget_and_cover_every_mac(spec):
    cfg = _cfg()
    shape = MachineShape.from_config(cfg)
    g = build_workload(spec)
    for op, gop in zip(lower_mesh(g, cfg).ops, g.topo_ops()):
        assert op.a_bytes + op.b_bytes <= shape.operand_budget
        items = op.G * op.i_blocks * op.j_blocks * op.k_blocks
        # padded MACs of all items cover the op's MACs (flops / 2)
        assert items * op.macs >= gop.flops / op.repeat / 2 * 0.999


@pytest.mark.parametrize("spec", ["gemm(M=8, N=64, K=65536, dtype='int8')"])
def test_a_thin_gemm_splits_its_reduction_to_fill_the_tiles(spec):
    cfg = _cfg()
    op = lower_mesh(build_workload(spec), cfg).ops[0]
    assert op.splitk > 1 and op.out_blocks <= cfg.tiles.tiles


def test_choose_blocks_prefers_fewer_cycles():
    cfg = _cfg()
    shape = MachineShape.from_config(cfg)
    isz = 1
    mb, nb, kb, sk = choose_blocks(shape, "int8", 1, 4096, 4096, 4096,
                                   lambda m, k: m * k * isz, lambda k, n: k * n * isz)
    # a big GEMM keeps whole vectors (nb a multiple of 64 INT8 lanes) and needs no split
    assert nb % 64 == 0 and sk == 1 and mb * nb >= 64 * 4
