"""Two costs an eager numpy program pays beyond flops and bytes, both off unless configured:
a per-function cycle table for elementwise functions (`cores.elementwise_cycles`), and the
first touch of fresh pages (`dram.first_touch`); and in-place ops sharing their input's memory."""
import dataclasses
from pathlib import Path

import pytest

from archsim.config import load_config
from archsim.graph.builder import GraphBuilder
from archsim.lower.cpu import lower_cpu
from archsim.simulate import simulate
from workloads.lookupffn import numpy_dense_program

HW = Path(__file__).resolve().parents[2] / "hwconfigs" / "xeon-host.yaml"
ONE = ["cores.count=1"]


def _with(c, table):
    return dataclasses.replace(c, cores=dataclasses.replace(c.cores, elementwise_cycles=table))


def one_core(*sets):
    """xeon-host.yaml on one core without its own measured cost table (every case sets its
    own)."""
    return _with(load_config(HW, overrides=ONE + list(sets)), {})


def pointwise(fn: str, n: int, inplace: bool = False):
    b = GraphBuilder(fn, "fp32")
    x = b.input("x", (n,))
    y = b.elementwise(fn, x, name=fn)
    if inplace:
        b.graph.ops[-1].attrs["inplace"] = {y.name: x.name}
    return b.build()


def test_elementwise_cycles_price_listed_functions_and_leave_others_alone():
    """tanh at 40 cycles an element over a 16 KiB array (L1-resident, compute-bound) takes
    n x 40 / clock on one core; an unlisted function (add) and a table keyed for another
    function leave times bit-identical; a 'fn.dtype' key wins over 'fn'."""
    n = 4096
    base = one_core()
    slow = _with(base, {"tanh": 40.0})
    t0 = simulate(pointwise("tanh", n), base, exec_mode="cpu").time_s
    t1 = simulate(pointwise("tanh", n), slow, exec_mode="cpu").time_s
    expect = n * 40 / base.cores.clock                     # 63 us; flops alone: ~0.1 us
    assert t1 - t0 == pytest.approx(expect, rel=0.05)
    assert simulate(pointwise("tanh", n), _with(base, {"exp": 40.0}), exec_mode="cpu").time_s == t0
    assert simulate(pointwise("relu", n), slow, exec_mode="cpu").time_s == \
        simulate(pointwise("relu", n), base, exec_mode="cpu").time_s
    typed = _with(base, {"tanh": 40.0, "tanh.fp32": 80.0})
    t2 = simulate(pointwise("tanh", n), typed, exec_mode="cpu").time_s
    assert t2 - t0 == pytest.approx(2 * expect, rel=0.05)
    # the override path parses the table too
    assert load_config(HW, overrides=["cores.elementwise_cycles.tanh=40"]).cores.elementwise_cycles["tanh"] == 40


def test_in_place_ops_share_their_inputs_memory():
    """attrs['inplace'] gives an op's output its input's address: numpy's dense FFN program
    allocates only u = x@W1, t = u*u and y = u@W2 afresh (plus its inputs and weights)."""
    g = numpy_dense_program(256, 64, 256)
    prog = lower_cpu(g, load_config(HW))
    by_op = {op.name: op for op in g.topo_ops()}
    for op in g.topo_ops():
        for out, src in (op.attrs.get("inplace") or {}).items():
            assert prog.buffers[out][0] == prog.buffers[src][0], op.name
    fresh = {t.op: t.fresh_bytes for t in prog.tasks if t.fresh_bytes}
    assert fresh == {"up": 256 * 256 * 4, "u2": 256 * 256 * 4, "down": 256 * 64 * 4}
    assert by_op["tanh"].attrs["inplace"]


def test_first_touch_charges_fresh_pages_once():
    """dram.first_touch = 1 us per 4 KiB page: a 1 MiB fresh output costs 256 us more on one
    core; written in place over its input (no fresh pages) it costs nothing more; a folded loop
    (attrs['repeat'] = 3) writing the same buffer pays once; unset, times are bit-identical."""
    n = 1 << 18                                         # 1 MiB of fp32: 256 pages
    off, on = one_core(), one_core("dram.first_touch=1us")
    assert load_config(HW).dram.first_touch == 0        # off unless configured
    t_off = simulate(pointwise("relu", n), off, exec_mode="cpu").time_s
    t_on = simulate(pointwise("relu", n), on, exec_mode="cpu").time_s
    assert t_on - t_off == pytest.approx(256e-6, rel=1e-3)
    assert simulate(pointwise("relu", n, inplace=True), on, exec_mode="cpu").time_s == \
        simulate(pointwise("relu", n, inplace=True), off, exec_mode="cpu").time_s
    g = pointwise("relu", n)
    g.ops[-1].attrs["repeat"] = 3
    assert simulate(g, on, exec_mode="cpu").time_s - simulate(g, off, exec_mode="cpu").time_s == \
        pytest.approx(256e-6, rel=1e-3)
    # 16 cores fault their shares in parallel; the faults may hide under the loop's memory waits
    many = load_config(HW, overrides=["cores.count=16", "dram.first_touch=1us"])
    t16 = simulate(pointwise("relu", n), many, exec_mode="cpu").time_s
    t16_off = simulate(pointwise("relu", n), load_config(HW, overrides=["cores.count=16"]),
                       exec_mode="cpu").time_s
    assert 0.5 * 256e-6 / 16 <= t16 - t16_off <= 1.001 * 256e-6 / 16
