"""From a BSP run to what the load balancer and the dataflow machine need per stage.

The dataflow machine prices a stage's compute with the calibrated per-kernel model of the GPU
(archsim.hw.gpu.model), as the paper's ILP is fed by BSP per-kernel times and pipe
utilisations: the Program is first run kernel by kernel (mode bsp, the baseline), and for each
kernel we keep its time, its busiest SM's time on its pipes and load path (the model's
per-chunk SM cycles at the kernel's clock, `_clock_terms`), the SMs it spread over, its DRAM
and L2 bytes and its work. A stage's compute per tile on one CTA is its kernels' SM-seconds
(busiest-SM time x SMs used) over its tiles; its utilisation u_i is SM time / kernel time.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from archsim.hw.dataflow.arbiter import kernel_kind
from archsim.hw.dataflow.executor import PipelineCost, QueueCost, StageCost
from archsim.hw.gpu.machine import build, finish
from archsim.hw.gpu.model import _clock_terms, make_model
from archsim.lower.dataflow.balance import StageDemand, balance


@dataclass
class OpProfile:
    time_s: float = 0.0
    sm_seconds: float = 0.0          # busiest-SM time x SMs used, summed over kernels
    sm_time_s: float = 0.0           # busiest-SM time, summed over kernels
    dram_bytes: float = 0.0
    l2_bytes: float = 0.0
    tensor_flops: int = 0
    simt_ops: int = 0
    block: int = 128
    regs: int = 32
    smem: int = 0
    kind: str = "simt"


def bsp_profile(program, cfg, *, l2_start="cold", seed=0, monitors=()):
    """Run the Program kernel by kernel; returns (SimResult, {op name: OpProfile})."""
    model = make_model(program, cfg, seed=seed)
    model.prepare(program, l2_start)
    m = build(cfg, program, model=model, seed=seed)
    for fn in monitors or ():
        fn(m.signals, cfg.clocks.boost)
    m.start()
    m.run()
    res = finish(m, l2_start)
    prof: dict[str, OpProfile] = {}
    longest: dict[str, float] = {}
    for r in m.gs.state["records"]:
        k, run, f = r["kernel"], r["run"], r["clock"]
        name = program.ops[r["oi"]].op
        p = prof.setdefault(name, OpProfile())
        cyc, const, floor, add = _clock_terms(model, run)
        sm_t = float(np.sum(cyc)) / f
        used = min(cfg.sm.count, max(1, k.units))
        p.time_s += r["time"]
        p.sm_time_s += sm_t
        p.sm_seconds += sm_t * used
        p.dram_bytes += r["miss"] + r["wb"]
        p.l2_bytes += r["req"]
        p.tensor_flops += k.tensor_flops
        p.simt_ops += k.simt_ops
        if r["time"] > longest.get(name, -1.0):
            longest[name] = r["time"]
            p.block, p.regs, p.smem = k.block, k.regs_per_thread, k.smem
        if kernel_kind(k) == "tensor":
            p.kind = "tensor"
    return res, prof


def _tensor_bytes(graph, ops, names) -> float:
    out = 0.0
    names = set(names)
    for o in ops:
        op = graph.op(o)
        for t in op.inputs:
            if t.name in names:
                out += t.nbytes * op.repeat
    return out


def _out_bytes(graph, ops, names) -> float:
    names = set(names)
    out = 0.0
    for o in ops:
        op = graph.op(o)
        for t in op.outputs:
            if t.name in names:
                out += t.nbytes * op.repeat
    return out


def pipeline_costs(graph, plan, prof: dict, cfg, params):
    """(PipelineCost list, Allocation list) for every pipeline of the plan."""
    N = cfg.sm.count
    pcs, allocs = [], []
    for p in plan.pipelines:
        demands, base = [], []
        q_in_run = {i: 0.0 for i in range(len(p.stages))}
        q_out_run = {i: 0.0 for i in range(len(p.stages))}
        for q in p.queues:
            q_out_run[q.src] += q.nbytes
            for d in q.dst:
                q_in_run[d] += q.nbytes
        for si, s in enumerate(p.stages):
            if s.reduce:
                # the parallel reduce of a split op: the op's work is priced in the stage
                # before it; this one sums partial tiles at the SM's load-path rate
                f = cfg.clocks.boost
                red = OpProfile(kind="simt")
                red.sm_seconds = q_in_run[si] / (cfg.sm.lsu_bytes_per_cycle * f)
                red.sm_time_s = red.sm_seconds / N
                red.time_s = red.sm_time_s
                ps = [red]
            else:
                ps = [prof.get(o) for o in s.ops]
                ps = [x for x in ps if x is not None]
            t_bsp = sum(x.time_s for x in ps)
            sm_s = sum(x.sm_seconds for x in ps)
            sm_t = sum(x.sm_time_s for x in ps)
            u = min(1.0, sm_t / t_bsp) if t_bsp > 0 else 1.0
            # one CTA's queue work over the run: every entry in and out at the CTA's entry
            # bandwidth, one handoff per entry (the executor's step costs, summed)
            qb = q_in_run[si] + q_out_run[si]
            n_ent = sum(q.tiles for q in p.queues if q.src == si or si in q.dst)
            main_ = max(ps, key=lambda x: x.time_s) if ps else OpProfile()
            demands.append(StageDemand(s.kind, s.tiles, max(t_bsp, 1e-12), max(u, 1e-6),
                                       transfer_s=qb / params.cta_bw(cfg, main_.block),
                                       sync_s=n_ent * params.sync_s(cfg)))
            main = max(ps, key=lambda x: x.time_s) if ps else OpProfile()
            base.append((s, sm_s, main, ps))
        dram_run = sum(_tensor_bytes(graph, s.ops, p.dram_in) + _out_bytes(graph, s.ops, p.dram_out)
                       for s in p.stages)
        l2_run = dram_run + 2 * sum(q.nbytes for q in p.queues)
        a = balance(p.name, demands, sms=N, dram_bytes=dram_run, dram_bw=cfg.hbm.bandwidth,
                    l2_bytes=l2_run, l2_bw=cfg.l2.bandwidth)
        allocs.append(a)
        stages = []
        both = len({s.kind for s in p.stages}) > 1
        for i, (s, sm_s, main, ps) in enumerate(base):
            block, regs, smem = main.block, main.regs, main.smem
            if both:
                # a SIMT and a TENSOR stage CTA pair on an SM (the point of the two arbiters):
                # stage kernels are built to fit half an SM each (the paper's compiler does
                # this; how is not published)
                block = min(block, cfg.sm.max_threads // 2)
                regs = min(regs, cfg.sm.registers // 2 // max(block, 1))
                smem = min(smem, cfg.sm.shared_memory // 2)
            rd = _tensor_bytes(graph, s.ops, p.dram_in)
            wr = _out_bytes(graph, s.ops, p.dram_out)
            stages.append(StageCost(
                s.name, s.kind, s.tiles, a.ctas[i], sm_s / s.tiles,
                dram_read=rd / s.tiles, dram_write=wr / s.tiles,
                block=block, regs=regs, smem=smem,
                tensor_flops=sum(x.tensor_flops for x in ps),
                simt_ops=sum(x.simt_ops for x in ps), ops=tuple(s.ops)))
        queues = tuple(QueueCost(q.name, q.src, tuple(q.dst), q.tile_bytes, q.tiles, q.entries,
                                 q.topology) for q in p.queues)
        pcs.append(PipelineCost(p.name, tuple(stages), queues, tuple(p.ops)))
    return pcs, allocs
