"""LookupFFN graphs: FLOPs per token against the paper's arithmetic, bytes from rows drawn."""
import numpy as np
import pytest

from archsim.errors import WorkloadError
from archsim.graph import build_workload
from workloads.lookupffn import draw_stats, ffn_flops

# Independent arithmetic (papers.md §3), per token, hidden 512:
DENSE = 2 * 512 * 2048 * 2                     # two GEMMs: 4,194,304


def bh4(tables):                               # r repeats x 4 x (64x64-block GEMM + FWHT(512))
    r = max(1, -(-tables * 8 // 512))
    return r * 4 * (2 * 512 * 64 + 512 * 9) + 2 * tables * 512


def test_dense_ffn_flops_per_token():
    f = ffn_flops(build_workload("lookupffn(tokens=1, ffn='dense')"))
    assert f["paper"] == DENSE
    assert round(f["paper"] / 1e6, 2) == 4.19


@pytest.mark.parametrize("spec, expect, ratio", [
    ("tables=128, projection='bh4'", bh4(128), 6.06),
    ("tables=64, projection='bh4'", bh4(64), 12.1),
    ("tables=128, projection='dense'", 2 * 512 * 1024 + 2 * 128 * 512, 3.56),
])
def test_lookup_flops_per_token_and_reduction(spec, expect, ratio):
    f = ffn_flops(build_workload(f"lookupffn(tokens=1, {spec})"))
    assert f["paper"] == expect
    assert round(DENSE / f["paper"], 2 if ratio < 10 else 1) == ratio
    # everything else the graph counts (bias, code/score, mix) is under 2 % on top
    assert 0 < f["other"] < 0.02 * f["paper"]


def test_flops_scale_with_tokens():
    one = build_workload("lookupffn(tokens=1)").flops
    assert build_workload("lookupffn(tokens=300)").flops == 300 * one


def test_gather_bytes_follow_the_rows_drawn():
    g = build_workload("lookupffn(tokens=40, tables=16, table_bits=8, part='gather')")
    (op,) = [o for o in g.ops if o.kind == "gather_add"]
    st = draw_stats(40, 512, 16, 8, "bh4", 64, 0)
    assert op.attrs["rows_drawn"] == st["distinct"] <= 40 * 16
    table_bytes = op.attrs["rows_drawn"] * 512 * 4
    assert op.bytes == table_bytes + 40 * 16 * 4 + 40 * 16 * 4 + 40 * 512 * 4
    # few tokens draw few rows: far less than the 2 MiB of tables
    assert table_bytes < 16 * 256 * 512 * 4 / 5


def test_small_tables_are_saturated_by_many_tokens():
    st = draw_stats(4096, 512, 8, 4, "bh4", 64, 1)
    assert st["distinct"] == 8 * 16 and st["lookups"] == 4096 * 8
    assert st["distinct"] <= st["tile_distinct"] <= st["lookups"]


def test_roberta_small_with_lookup_ffn():
    dense = build_workload("roberta-small(batch=1, seq=64)")
    look = build_workload("roberta-small(batch=1, seq=64, ffn='lookup', tables=128, "
                          "table_bits=8, projection='bh4')")
    kinds = look.count_by_kind()
    assert kinds["gather_add"] == 4 and kinds["code_score"] == 4 and kinds["fwht"] == 32
    assert "gelu" not in {o.attrs.get("fn") for o in look.ops}
    saved = ffn_flops(dense)["paper"] - ffn_flops(look)["paper"]
    assert saved == 4 * 64 * (DENSE - bh4(128))


@pytest.mark.parametrize("spec, key", [
    ("lookupffn(ffn='sparse')", "ffn"), ("lookupffn(projection='fft')", "projection"),
    ("lookupffn(order='random')", "order"), ("lookupffn(tables=0)", "tables"),
    ("lookupffn(part='all')", "part"), ("roberta-small(ffn='lut')", "ffn"),
])
def test_bad_parameters_name_the_key(spec, key):
    with pytest.raises(WorkloadError, match=key):
        build_workload(spec)


def test_cli_bad_parameter_is_one_line_exit_2(capsys):
    from archsim.cli import main
    assert main(["run", "--workload", "lookupffn(order='diagonal')", "--hw", "xeon-host"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "order" in err[0]


def test_training_graph_has_lookupffn_backward_rules():
    """training_graph works on LookupFFN blocks: every parameter gets a gradient, the table's
    through a weighted scatter-add of the rows drawn, the scores' through indexed inner
    products, z's through code_score_bwd only (codes are not differentiated), and FWHT's
    backward is an FWHT of the same size; the CPU and GPU models run it."""
    from archsim.config import load_config
    from archsim.graph.training import training_graph
    from archsim.simulate import simulate
    from pathlib import Path
    fwd = build_workload("lookupffn(tokens=512, tables=16, table_bits=6)")
    tr = training_graph(fwd, optimizer="sgd")
    bwd = [o for o in tr.ops if o.attrs.get("phase") == "backward"]
    kinds = [o.kind for o in bwd]
    assert kinds.count("fwht") == sum(o.kind == "fwht" for o in fwd.ops)
    assert kinds.count("code_score_bwd") == kinds.count("gather_dot") == 1
    assert kinds.count("scatter_add_rows") == 1
    graded = {v for o in bwd for v in o.attrs.get("grads", {}).values()}
    assert {p.name for p in fwd.params()} <= graded
    assert not any(t.dtype == "int32" for o in bwd for t in o.outputs)   # no code gradient
    ga = next(o for o in fwd.ops if o.kind == "gather_add")
    sa = next(o for o in bwd if o.kind == "scatter_add_rows")
    gd = next(o for o in bwd if o.kind == "gather_dot")
    row = 512 * 4
    assert sa.flops == gd.flops == ga.flops == 2 * 512 * 16 * 512
    assert gd.bytes == ga.attrs["rows_drawn"] * row + 512 * 16 * 4 + 512 * 512 * 4 + 512 * 16 * 4
    assert sa.bytes - gd.bytes == ga.attrs["rows_drawn"] * row + 512 * 16 * 4 \
        + 16 * 64 * 512 * 4 - 512 * 16 * 4
    cs = next(o for o in bwd if o.kind == "code_score_bwd")
    assert cs.outputs[0].shape == (512, 16 * 6) and cs.flops == 512 * 16 * (6 * 10 + 1)
    hw = Path(__file__).resolve().parents[2] / "hwconfigs"
    assert simulate(tr, load_config(hw / "xeon-host.yaml"), exec_mode="cpu").time_s > \
        simulate(fwd, load_config(hw / "xeon-host.yaml"), exec_mode="cpu").time_s
    assert simulate(tr, load_config(hw / "h200.yaml")).time_s > 0
    training_graph(build_workload("roberta-small(batch=1, seq=64, layers=1, ffn='lookup', "
                                  "tables=16, table_bits=6)"))


def test_numpy_programs_mirror_the_numpy_kernels_call_by_call():
    """The programs the measurement is simulated with: one op per numpy call, gathers that
    replay exactly the rows the codes draw (flat row k·rows + code), staging buffers reused."""
    from workloads.lookupffn import (numpy_dense_program, numpy_gather_accumulate_program,
                                     numpy_gather_program)
    rng = np.random.default_rng(3)
    n, h, R = 200, 5, 16
    codes = rng.integers(0, R, (n, h))
    tok = numpy_gather_program("token", codes, R, hidden=32, chunk=64)
    gathers = [o for o in tok.ops if o.kind == "gather"]
    assert len(gathers) == 4 and sum(o.kind == "gemm" for o in tok.ops) == 4
    flat = codes + R * np.arange(h)[None, :]
    np.testing.assert_array_equal(np.concatenate([o.attrs["indices"] for o in gathers]),
                                  flat.ravel())
    tab = numpy_gather_program("table", codes, R, hidden=32, chunk=64)
    g2 = [o for o in tab.ops if o.kind == "gather"]
    assert len(g2) == 4 * h and len(tab.ops) == 4 * (1 + 3 * h)
    np.testing.assert_array_equal(g2[h + 2].attrs["indices"], flat[64:128, 2])
    assert len(numpy_gather_program("table", codes, R, hidden=32, chunk=64, tiles=2).ops) \
        == 2 * (1 + 3 * h)
    acc = numpy_gather_accumulate_program(np.arange(192) % 7, 7, hidden=32, chunk=64)
    assert [o.kind for o in acc.ops].count("gather") == 3
    dense = numpy_dense_program(8, 16, 64)
    assert [o.kind for o in dense.ops].count("gemm") == 2 and len(dense.ops) == 13


def test_inplace_dense_ffn_is_the_dense_ffn():
    from solvers.lookupffn.dense import dense_ffn_inplace, gelu
    rng = np.random.default_rng(4)
    x, w1, w2 = (rng.standard_normal(s) for s in ((7, 16), (16, 64), (64, 16)))
    b1, b2 = rng.standard_normal(64), rng.standard_normal(16)
    np.testing.assert_allclose(dense_ffn_inplace(x, w1, b1, w2, b2),
                               gelu(x @ w1 + b1) @ w2 + b2, rtol=1e-12, atol=1e-12)
