"""Issue 15's kernel-model mechanisms: a lone warp's dependent chain in row kernels, partial-
sector stores of a transpose, the copy engine's rate, the training lowerings on both engines."""
import dataclasses

import pytest

from archsim.config import load_config
from archsim.graph import GraphBuilder, build_workload
from archsim.graph.training import training_graph
from archsim.hw.gpu import run_program
from archsim.lower import lower


@pytest.fixture(scope="module")
def cfg():
    from archsim.cli import resolve_hw
    return load_config(resolve_hw("h200"))


def t_us(spec_or_graph, cfg, **kw):
    g = build_workload(spec_or_graph) if isinstance(spec_or_graph, str) else spec_or_graph
    return run_program(lower(g, cfg), cfg, **kw).time_s * 1e6


def test_long_rows_few_per_sm_are_chain_bound(cfg):
    # same 1 M elements: 512 rows of 2048 (one warp a row, 128 CTAs) take ~2x 2048 rows of 512
    # (h200-fidelity2-cal.json: 12.0 vs 5.2 us); without the chain they would be equal-ish
    long_, short = t_us("softmax(rows=512, cols=2048)", cfg), t_us("softmax(rows=2048, cols=512)", cfg)
    assert long_ > 1.8 * short
    flat = dataclasses.replace(cfg, sm=dataclasses.replace(cfg.sm, dependent_issue_cycles=0.0))
    assert t_us("softmax(rows=512, cols=2048)", flat) < 0.6 * long_


def test_transpose_pays_partial_sector_stores(cfg):
    # x.t().contiguous() of 16 M bf16 elements: ~104 us measured, far above its 67 MB of bytes
    t = t_us("transpose(rows=8192, cols=2048)", cfg)
    copy = t_us("add(n=16777216)", cfg)          # a coalesced kernel moving more bytes
    assert t > 2.5 * copy
    assert 80 < t < 140


def test_memcpy_is_a_copy_engine_transfer_at_the_measured_rate(cfg):
    t = t_us("copy(n=134217728, dtype='fp32')", cfg)    # 512 MB: 253 us eager (CUPTI)
    assert 230 < t < 280
    prog = lower(build_workload("copy(n=4096)"), cfg)
    assert [k.model for k in prog.kernels] == ["dma"]


@pytest.mark.parametrize("build", ["conv", "attn", "ln"])
def test_training_lowerings_agree_on_both_engines(cfg, build):
    b = GraphBuilder(build, "bf16")
    if build == "conv":
        b.conv2d(b.param("x", (4, 28, 28, 64)), 64, 3, stride=1, pad=1, name="conv")
    elif build == "attn":
        q, k, v = (b.param(n, (2, 4, 256, 64)) for n in "qkv")
        b.attention(q, k, v, name="attn")
    else:
        b.layernorm(b.param("x", (1024, 768)), name="ln")
    p = lower(training_graph(b.build(), precision="pure"), cfg)
    a = run_program(p, cfg, engine="formula")
    c = run_program(p, cfg, engine="components")
    assert c.time_s == pytest.approx(a.time_s, rel=1e-6)
    assert c.energy_j == pytest.approx(a.energy_j, rel=1e-6)
    assert not any(k.approximate for k in p.kernels if k.op_kind != "scatter_add")


def test_amp_runs_layernorm_in_fp32_and_casts_back_for_the_next_matmul():
    b = GraphBuilder("blk", "bf16")
    h = b.linear(b.input("x", (64, 128)), 128, name="fc1")
    n = b.layernorm(h, name="ln")
    b.linear(n, 128, name="fc2")
    g = training_graph(b.build())
    ln = next(op for op in g.ops if op.name == "ln")
    assert ln.inputs[0].dtype == "fp32" and ln.outputs[0].dtype == "fp32"
    fc2 = next(op for op in g.ops if op.name == "fc2")
    assert fc2.inputs[0].dtype == "bf16"                       # cast down before the matmul
    ups = [op for op in g.ops if op.attrs.get("autocast_activation")]
    assert len(ups) == 2                                       # one cast up, one cast down
