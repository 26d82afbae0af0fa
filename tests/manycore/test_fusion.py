"""Elementwise fusion into convolutions and matmuls, BN folding, and conv patch addresses.

Expected values are computed here from the graph (tensor sizes, consumers), not by the
lowering under test."""
import math

import numpy as np
import pytest

import workloads  # noqa: F401
from archsim.config import load_config
from archsim.graph import GraphBuilder, build_workload
from archsim.hw.manycore.stepsync import StepSyncModel
from archsim.lower.mesh import fusion_plan, lower_mesh

HW = "hwconfigs/upcycle-2048.yaml"
SMALL = ["tiles.rows=8", "tiles.cols=16"]


def _cfg(fuse: bool, extra=()):
    return load_config(HW, overrides=SMALL + [f"lowering.fuse_elementwise={str(fuse).lower()}",
                                              *extra])


def _block(dtype="int8", bn=False, residual=True):
    """conv -> (bn) -> relu -> conv -> add(residual) -> relu: a ResNet basic block."""
    b = GraphBuilder("block", dtype=dtype)
    x = b.input("x", (1, 28, 28, 64))
    h = b.conv2d(x, 64, 3, bias=not bn, name="c1")
    if bn:
        C = 64
        stats = b.copy(b.param("stats", (4, C), "fp32"), dtype=dtype, name="cast")
        coeffs = b.elementwise("bn_prep", b.view(stats, (4, C)), name="prep")
        h = b.elementwise("batchnorm", h, b.view(coeffs, (C,), name="scale"),
                          b.view(coeffs, (C,), name="shift"), name="bn")
    h = b.relu(h, name="r1")
    h = b.conv2d(h, 64, 3, bias=True, name="c2")
    if residual:
        h = b.add(h, x, name="res")
    b.relu(h, name="r2")
    return b.build()


def _io(prog):
    reads, writes = {}, {}
    for op in prog.ops:
        for name, nbytes, _ in op.reads:
            reads[name] = reads.get(name, 0) + nbytes
        for name, nbytes in op.writes:
            writes[name] = writes.get(name, 0) + nbytes
    return reads, writes


@pytest.mark.parametrize("bn", [False, True])
def test_fusion_drops_exactly_the_single_reader_intermediates_and_keeps_every_other_byte(bn):
    g = _block(bn=bn)
    plain = lower_mesh(g, _cfg(False))
    fused = lower_mesh(g, _cfg(True))
    # intermediates a fused chain never materialises: the output of a conv or of a fused
    # elementwise op that is read only by the next elementwise op of the chain
    chain = {"c1": ["bn", "r1"] if bn else ["r1"], "c2": ["res", "r2"]}
    dead = set()
    for p, es in chain.items():
        dead |= {g.op(n).outputs[0].name for n in [p] + es[:-1]}
    for name in dead:
        assert len(g.consumers(name)) == 1
    r0, w0 = _io(plain)
    r1, w1 = _io(fused)
    # BN folding: the parameter-only ops (cast, prep) do not run; their inputs are not read
    folded = [g.op("cast"), g.op("prep")] if bn else []
    consts = {t.name for op in folded for t in op.outputs}
    folded_in = {t.name for op in folded for t in op.inputs}
    assert set(w1) == set(w0) - dead - consts
    assert set(r1) == set(r0) - dead - folded_in
    for name in w1:
        assert w1[name] == w0[name] == g.tensors[name].nbytes
    for name in r1:
        assert r1[name] == r0[name]
    saved = sum(g.tensors[n].nbytes for n in dead)
    assert sum(w0.values()) - sum(w1.values()) >= saved
    assert sum(r0.values()) - sum(r1.values()) >= saved
    # no work is lost: the fused program does every flop but the folded BN preparation
    prep = g.op("prep").flops if bn else 0
    assert sum(op.flops for op in fused.ops) == sum(op.flops for op in plain.ops) - prep
    assert [op.fused for op in fused.ops if op.fused] == [tuple(v) for v in chain.values()]


def test_per_block_epilogue_reads_cover_the_residual_and_the_channels():
    g = _block(bn=True)
    fused = lower_mesh(g, _cfg(True))
    c1 = next(op for op in fused.ops if op.name == "c1")
    c2 = next(op for op in fused.ops if op.name == "c2")
    blocks = c2.G * c2.i_blocks * c2.j_blocks
    (name, nbytes, per_channel), = c2.epilogue
    assert name == "x" and not per_channel
    x = g.tensors["x"].nbytes
    # every output block reads its own residual block: all of x, at most the edge padding more
    assert x <= blocks * nbytes < x + c2.j_blocks * c2.mb * c2.nb + c2.i_blocks * c2.mb * c2.nb
    epi = {n: (b, pc) for n, b, pc in c1.epilogue}
    assert set(epi) == {"scale:out", "shift:out"} and all(pc for _, pc in epi.values())
    assert all(b == c1.nb for b, _ in epi.values())
    assert {r[0]: r[2] for r in c1.reads}["scale:out"] == "param"


def test_an_intermediate_with_a_second_reader_is_not_fused():
    b = GraphBuilder("two", dtype="int8")
    x = b.input("x", (1, 14, 14, 32))
    h = b.conv2d(x, 32, 1, name="c")
    b.relu(h, name="r")
    b.add(h, x, name="other")          # h is read twice: it must be written
    g = b.build()
    assert fusion_plan(g)[0] == {}
    prog = lower_mesh(g, _cfg(True))
    assert [op.name for op in prog.ops] == ["c", "r", "other"]


def test_training_graphs_fold_no_constants():
    from archsim.graph.training import training_graph
    g = training_graph(_block(dtype="fp16", bn=True))
    groups, consts = fusion_plan(g)
    assert consts == set()
    for p, es in groups.items():            # a fused intermediate has no backward reader
        for n in [p] + es[:-1]:
            assert len(g.consumers(g.op(n).outputs[0].name)) == 1


def test_fused_block_moves_fewer_bytes_and_its_epilogue_is_fetched():
    g = _block(bn=False)
    counters = {}
    for fuse in (False, True):
        cfg = _cfg(fuse)
        prog = lower_mesh(g, cfg)
        m = StepSyncModel(cfg)
        m.set_program(prog.ops)
        tot = {}
        for i, op in enumerate(prog.ops):
            r = m.run_op(op, i)
            for k in ("l2_accesses", "llc_accesses", "hbm_bytes"):
                tot[k] = tot.get(k, 0) + r.counters.get(k, 0)
            tot["cycles"] = tot.get("cycles", 0) + r.cycles
        counters[fuse] = tot
    assert counters[True]["llc_accesses"] < counters[False]["llc_accesses"]
    assert counters[True]["hbm_bytes"] <= counters[False]["hbm_bytes"]
    assert counters[True]["cycles"] < counters[False]["cycles"]
    # the fused residual is read through the caches: c2 alone, with and without its epilogue
    cfg = _cfg(True)
    c2 = next(op for op in lower_mesh(g, cfg).ops if op.name == "c2")
    from dataclasses import replace
    lines = {}
    for label, op in (("epi", c2), ("none", replace(c2, epilogue=()))):
        m = StepSyncModel(cfg)
        m.set_program([op])
        lines[label] = m.run_op(op, 0).counters["llc_accesses"]
    x_lines = math.ceil(g.tensors["x"].nbytes / cfg.line)
    assert lines["epi"] - lines["none"] >= x_lines


@pytest.mark.parametrize("spec", [
    "conv2d(N=2, H=30, W=30, C=64, K=64, R=3, dtype='int8')",
    "conv2d(N=1, H=56, W=56, C=64, K=128, R=3, stride=2, dtype='int8')",
    "conv2d(N=1, H=20, W=20, C=256, K=64, R=1, dtype='int8')",
])
def test_conv_patches_sit_at_their_input_position_so_halos_share_lines(spec):
    cfg = load_config(HW)
    op = lower_mesh(build_workload(spec), cfg).ops[0]
    x_bytes = op.reads[0][1]
    n_a = op.G * op.i_blocks * op.k_blocks
    keys = np.arange(n_a)
    off = op.a_offsets(keys)
    assert off.min() >= 0
    # distinct bytes the patches touch: about the input once (padding of a channel chunk and
    # of the last strip aside), where disjoint blocks would need every patch's own bytes
    cover = np.zeros(x_bytes + op.a_bytes, bool)
    for o in off.tolist():
        cover[o:o + op.a_bytes] = True
    touched = int(cover.sum())
    assert 0.9 * x_bytes <= touched <= 1.25 * x_bytes + op.a_bytes
    # strip i of n starts i/n into its channel chunk's plane
    plane, = op.a_conv
    if op.i_blocks > 2:
        assert op.a_offsets(np.array([2 * op.k_blocks]))[0] == 2 * plane // op.i_blocks
    assert op.a_bytes * op.i_blocks >= plane      # the strips' patches cover their plane


def test_disjoint_patches_and_no_fusion_give_back_the_earlier_lowering():
    cfg = load_config(HW, overrides=["lowering.conv_patches=disjoint",
                                     "lowering.fuse_elementwise=false"])
    g = _block(bn=True)
    prog = lower_mesh(g, cfg)
    assert all(op.a_conv is None and not op.epilogue for op in prog.ops)
    # every op of the graph but views runs, in graph order
    assert [op.name for op in prog.ops] == [o.name for o in g.topo_ops() if o.kind != "view"]
    op = prog.ops[0]
    assert (op.a_offsets(np.arange(3)) == np.arange(3) * op.a_bytes).all()
