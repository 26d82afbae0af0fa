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
