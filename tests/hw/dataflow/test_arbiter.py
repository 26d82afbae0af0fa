"""The kitsune grid scheduler: a SIMT and a TENSOR kernel dispatch side by side and share SMs;
FIFO (the BSP default) keeps the next kernel queued until the previous one dispatched all."""
import dataclasses

import pytest

from archsim.config import load_config
from archsim.graph import build_workload
from archsim.hw.dataflow.arbiter import kernel_kind, kitsune_arbiter
from archsim.hw.gpu.machine import ARBITERS, run_machine
from archsim.hw.gpu.model import make_model
from archsim.lower import lower
from archsim.lower.program import Program


@pytest.fixture(scope="module")
def pair():
    from archsim.cli import resolve_hw
    cfg = load_config(resolve_hw("h200"))
    g = lower(build_workload("gemm(M=2048,N=2048,K=2048)"), cfg)
    a = lower(build_workload("add(n=16777216)"), cfg)
    bufs = {**g.buffers, **{k: dataclasses.replace(b, addr=b.addr + (1 << 40))
                            for k, b in a.buffers.items()}}
    p = Program("pair", g.machine, "bsp", g.ops + a.ops, bufs)
    kg, ka = g.ops[0].kernels[0], a.ops[0].kernels[0]
    # a multi-wave SIMT kernel that leaves room on each SM (2 CTAs of 100 KB shared memory)
    # and a tensor kernel small enough to sit beside it
    ka = dataclasses.replace(ka, block=512, smem=100 << 10)
    kg = dataclasses.replace(kg, regs_per_thread=64, smem=24 << 10)
    return cfg, p, kg, ka


def starts(res):
    return {k["name"]: (k["start_s"], k["sms"]) for o in res.ops for k in o.kernels}


def test_registered_and_kinds(pair):
    cfg, p, kg, ka = pair
    assert ARBITERS["kitsune"] is kitsune_arbiter
    assert kernel_kind(kg) == "tensor" and kernel_kind(ka) == "simt"


def test_simt_and_tensor_kernels_co_reside(pair):
    cfg, p, kg, ka = pair
    fifo = run_machine(make_model(p, cfg), p, streams=[[(1, ka)], [(0, kg)]], arbiter="fifo")
    kit = run_machine(make_model(p, cfg), p, streams=[[(1, ka)], [(0, kg)]], arbiter="kitsune")
    f, k = starts(fifo), starts(kit)
    # FIFO: the GEMM waits for the add's last wave; kitsune: it starts at once, on SMs that
    # already hold the add's CTAs (occupancy allowed both)
    assert f[kg.name][0] > 1e-6
    assert k[kg.name][0] == 0.0 and k[ka.name][0] == 0.0
    (g0, g1), = k[kg.name][1]
    (a0, a1), = k[ka.name][1]
    assert a0 <= g0 and g1 <= a1          # every SM of the GEMM also holds CTAs of the add
    assert kit.time_s < fifo.time_s


def test_same_type_kernels_wait_their_turn(pair):
    """Two SIMT kernels go through one arbiter: the second waits as under FIFO."""
    cfg, p, kg, ka = pair
    s = [[(1, ka)], [(1, dataclasses.replace(ka, name="second"))]]
    kit = run_machine(make_model(p, cfg), p, streams=s, arbiter="kitsune")
    fifo = run_machine(make_model(p, cfg), p, streams=s, arbiter="fifo")
    assert starts(kit) == starts(fifo)


def test_fifo_stays_the_bsp_default():
    import inspect
    from archsim.hw.gpu.machine import GpuMachine
    assert inspect.signature(GpuMachine).parameters["arbiter"].default == "fifo"
