"""Kernel mappings of the gather-add: what the CPU and GPU lowerings read, by loop order."""
from pathlib import Path

import pytest

from archsim.config import load_config
from archsim.graph import build_workload
from archsim.lower.bsp import lower
from archsim.lower.cpu import gather_add_reads, lower_cpu
from archsim.simulate import simulate

REPO = Path(__file__).resolve().parents[2]


def _op(spec):
    g = build_workload(spec)
    return g, next(o for o in g.ops if o.kind == "gather_add")


@pytest.mark.parametrize("order", ["token", "table"])
def test_cpu_reads_follow_the_loop_order(order):
    _, op = _op(f"lookupffn(tokens=256, tables=8, table_bits=6, part='gather', order='{order}', "
                "dtype='fp32')")
    a = op.attrs
    reads = gather_add_reads(op)
    row = 512 * 4
    assert reads[0] == ("tables", a["rows_drawn"] * row)
    fetched = a["lookups"] if order == "token" else a["tile_rows"]
    assert reads[1] == ("tables", (fetched - a["rows_drawn"]) * row)
    assert a["rows_drawn"] <= a["tile_rows"] <= a["lookups"] == 256 * 8


def test_cpu_tables_that_fit_the_cache_stay_off_dram_and_big_ones_do_not():
    """Holds on the v1 (tensor-granular) and the line-granular CPU models alike."""
    cpu = load_config(REPO / "hwconfigs" / "xeon-host.yaml")         # 16 MiB last-level cache
    lookups_bytes = 4096 * 2048                                      # per table, 2 KiB rows
    small = simulate(build_workload("lookupffn(tokens=4096, tables=8, table_bits=6, "
                                    "part='gather', dtype='fp32')"), cpu)      # 1 MiB of tables
    big = simulate(build_workload("lookupffn(tokens=4096, tables=64, table_bits=8, "
                                  "part='gather', dtype='fp32')"), cpu)        # 32 MiB
    # small: the tables come from DRAM about once, not once per lookup (plus codes, scores and
    # the 8 MiB output's read-for-ownership)
    assert small.dram_read_bytes < 0.1 * 8 * lookups_bytes + 4096 * 512 * 4 + 2 * 4096 * 8 * 4
    # big: most lookups miss every cache level
    assert big.dram_read_bytes > 0.5 * 64 * lookups_bytes
    tiled = simulate(build_workload("lookupffn(tokens=4096, tables=64, table_bits=8, "
                                    "part='gather', order='table', dtype='fp32')"), cpu)
    assert tiled.dram_read_bytes < big.dram_read_bytes and tiled.time_s < big.time_s


def test_cpu_program_has_one_task_per_lookup_op():
    g, _ = _op("lookupffn(tokens=64, tables=16)")
    kinds = [t.kind for t in lower_cpu(g).tasks]
    assert kinds.count("gather_add") == 1 and kinds.count("fwht") == 4 * 1


@pytest.mark.parametrize("order", ["token", "table"])
def test_gpu_kernel_replays_the_rows_fetched(order):
    gpu = load_config(REPO / "hwconfigs" / "h200.yaml")
    g, op = _op(f"lookupffn(tokens=512, tables=16, part='gather', order='{order}')")
    prog = lower(g, gpu)
    (k,) = [k for o in prog.ops for k in o.kernels if o.kind == "gather_add"]
    rows = next(a for a in k.accesses if a.kind == "rows")
    expect = op.attrs["lookups"] if order == "token" else op.attrs["tile_rows"]
    assert rows.count == expect and rows.table_rows == 16 * 256
    assert rows.row_bytes == 512 * 4 and not k.approximate   # fp32 rows
