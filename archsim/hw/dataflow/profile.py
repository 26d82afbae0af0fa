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

from dataclasses import dataclass, replace

import numpy as np

from archsim.hw.dataflow.arbiter import kernel_kind
from archsim.hw.dataflow.executor import (PipelineCost, QueueCost, StageCost, _topo,
                                         queue_spill, ring_layout)
from archsim.hw.gpu.machine import build, finish
from archsim.hw.gpu.model import _clock_terms, make_model
from archsim.lower.dataflow.balance import StageDemand, balance, throughput


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


def bsp_profile(program, cfg, *, l2_start="cold", seed=0, monitors=(), repeat=1):
    """Run the Program kernel by kernel (`repeat` times back to back: the last run's kernels
    are profiled); returns (SimResult, {op name: OpProfile})."""
    model = make_model(program, cfg, repeat=repeat, seed=seed)
    model.prepare(program, l2_start)
    m = build(cfg, program, model=model, seed=seed, repeat=repeat)
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


def _tensor_list(graph, ops, names, outputs=False) -> list:
    names = set(names)
    out = []
    for o in ops:
        op = graph.op(o)
        for t in (op.outputs if outputs else op.inputs):
            if t.name in names:
                out.append((t.name, t.nbytes * op.repeat))
    return out


# a segment holds at most #SMs / MIN_CTAS stages of one pipe type, so that every stage can
# get about MIN_CTAS CTAs (see segments())
MIN_CTAS = 8


def segments(p, sms: int) -> list[list[int]]:
    """Cut a pipeline whose stages cannot all be co-resident into consecutive segments.

    A spatial pipeline holds one CTA per stage at least, one SIMT and one TENSOR CTA per SM;
    a plan pipeline with more stages of a type than the SMs can hold well (the pass may keep a
    whole 32-layer decoder in one pipeline) runs as segments of at most sms / MIN_CTAS stages
    per type, in stage order; a queue between segments goes through DRAM (its producer
    writes the tensor, the next segment's consumer reads it). Returns stage indices per
    segment."""
    limit = max(1, sms // MIN_CTAS)
    out: list[list[int]] = [[]]
    count = {"tensor": 0, "simt": 0}
    for i, st in enumerate(p.stages):
        if count[st.kind] >= limit:
            out.append([])
            count = {"tensor": 0, "simt": 0}
        out[-1].append(i)
        count[st.kind] += 1
    return out


def _longest_path(w, queues) -> float:
    """Heaviest path through the stages (weights w) along the queues' src -> dst edges."""
    best = list(w)
    succ = [[] for _ in w]
    for j, q in enumerate(queues):
        for d in q.dst:
            succ[q.src].append((d, j))
    for u in _topo(len(w), succ):
        for v, _ in succ[u]:
            best[v] = max(best[v], best[u] + w[v])
    return max(best, default=0.0)


def _stage_costs(base, a, cfg) -> list:
    stages = []
    both = len({b[0].kind for b in base}) > 1
    for i, (s, sm_s, main, ps, rd, wr, rd_t, wr_t) in enumerate(base):
        block, regs, smem = main.block, main.regs, main.smem
        if both:
            # a SIMT and a TENSOR stage CTA pair on an SM (the point of the two arbiters):
            # stage kernels are built to fit half an SM each (the paper's compiler does
            # this; how is not published)
            block = min(block, cfg.sm.max_threads // 2)
            regs = min(regs, cfg.sm.registers // 2 // max(block, 1))
            smem = min(smem, cfg.sm.shared_memory // 2)
        stages.append(StageCost(
            s.name, s.kind, s.tiles, a.ctas[i], sm_s / s.tiles,
            dram_read=rd / s.tiles, dram_write=wr / s.tiles,
            block=block, regs=regs, smem=smem,
            tensor_flops=sum(x.tensor_flops for x in ps),
            simt_ops=sum(x.simt_ops for x in ps), ops=tuple(s.ops),
            dram_in=tuple(rd_t), dram_out=tuple(wr_t)))
    return stages


def pipeline_costs(graph, plan, prof: dict, cfg, params):
    """(PipelineCost list, Allocation list, {plan pipeline index: [cost indices]})."""
    N = cfg.sm.count
    pcs, allocs, where = [], [], {}
    for pi, p in enumerate(plan.pipelines):
        segs = segments(p, N)
        seg_of = {i: k for k, seg in enumerate(segs) for i in seg}
        where[pi] = []
        for k, seg in enumerate(segs):
            name = p.name if len(segs) == 1 else f"{p.name}.{k}"
            pc, a = _segment_cost(graph, p, seg, seg_of, k, name, prof, cfg, params)
            where[pi].append(len(pcs))
            pcs.append(pc)
            allocs.append(a)
    return pcs, allocs, where


def _segment_cost(graph, p, seg, seg_of, k, name, prof, cfg, params):
    N = cfg.sm.count
    local = {g: i for i, g in enumerate(seg)}
    q_in_run = {i: 0.0 for i in seg}
    q_out_run = {i: 0.0 for i in seg}
    cut_rd = {i: 0.0 for i in seg}        # queue traffic that crosses a segment boundary
    cut_wr = {i: 0.0 for i in seg}
    cut_rd_t = {i: [] for i in seg}
    cut_wr_t = {i: [] for i in seg}
    queues = []
    for q in p.queues:
        inside = [d for d in q.dst if seg_of[d] == k]
        later = [d for d in q.dst if seg_of[d] != seg_of[q.src]]
        if q.src in local:
            if later:
                cut_wr[q.src] += q.nbytes          # written once for the later segments
                cut_wr_t[q.src].append((q.tensor, q.nbytes))
            if inside:
                q_out_run[q.src] += q.nbytes
                queues.append(QueueCost(q.name, local[q.src], tuple(local[d] for d in inside),
                                        q.tile_bytes, q.tiles, q.entries,
                                        q.topology if len(inside) == len(q.dst) or
                                        q.topology != "1-many" else
                                        ("1-many" if len(inside) > 1 else "1-1")))
                for d in inside:
                    q_in_run[d] += q.nbytes
        else:
            for d in inside:
                cut_rd[d] += q.nbytes
                cut_rd_t[d].append((q.tensor, q.nbytes))
    demands, base, touch, bw_cta = [], [], [], []
    for si in seg:
        s = p.stages[si]
        if s.reduce:
            # the parallel reduce of a split op: the op's work is priced in the stage before
            # it; this one sums partial tiles at the SM's load-path rate
            f = cfg.clocks.boost
            red = OpProfile(kind="simt")
            red.sm_seconds = (q_in_run[si] + cut_rd[si]) / (cfg.sm.lsu_bytes_per_cycle * f)
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
        main = max(ps, key=lambda x: x.time_s) if ps else OpProfile()
        # one CTA's queue work over the run: every entry in and out at the CTA's entry
        # bandwidth, one handoff per entry (the executor's step costs, summed)
        qb = q_in_run[si] + q_out_run[si]
        n_ent = sum(q.tiles for q in queues if q.src == local[si] or local[si] in q.dst)
        steps = max([s.tiles] + [q.tiles for q in queues
                                 if q.src == local[si] or local[si] in q.dst])
        demands.append(StageDemand(s.kind, s.tiles, max(t_bsp, 1e-12), max(u, 1e-6),
                                   transfer_s=qb / params.cta_bw(cfg, main.block),
                                   sync_s=n_ent * params.sync_s(cfg), max_ctas=steps))
        touch.append([j for j, q in enumerate(queues)
                      if q.src == local[si] or local[si] in q.dst])
        bw_cta.append(params.cta_bw(cfg, main.block))
        rd_t = _tensor_list(graph, s.ops, p.dram_in) + cut_rd_t[si]
        wr_t = _tensor_list(graph, s.ops, p.dram_out, outputs=True) + cut_wr_t[si]
        rd = sum(b for _, b in rd_t)
        wr = sum(b for _, b in wr_t)
        base.append((s, sm_s, main, ps, rd, wr, rd_t, wr_t))
    dram_run = sum(b[4] + b[5] for b in base)
    l2_run = dram_run + 2 * sum(q.tiles * q.tile_bytes for q in queues)
    # the rings' L2 footprint (the balancer's constraint): B_q per CTA of the busier side.
    # The region's size is not a wall: past it a share of the entries spills (the machine's
    # ramp), which costs every CTA that touches them and HBM bandwidth, and can still beat
    # fewer CTAs. So the ILP runs with a few footprint budgets (the region, 1.25x, 1.5x, 2x
    # it) and we keep the allocation whose throughput, re-estimated with the spill the
    # machine would give its rings, is best (the smallest budget on a tie). Every budget
    # admits the allocations a smaller GPU could use, so more SMs never lower the estimate.
    rings = [(q.entries * q.tile_bytes, (q.src,) + tuple(q.dst)) for q in queues]
    region = params.capacity_bytes(cfg)
    best = None
    for budget in (1.0, 1.25, 1.5, 2.0):
        room = budget * region
        for _ in range(4):
            # the multicast skew the machine adds on top of the base rings depends on the
            # allocation: the budget left to the base rings shrinks by it (a few rounds)
            a = balance(name, demands, sms=N, dram_bytes=dram_run, dram_bw=cfg.hbm.bandwidth,
                        l2_bytes=l2_run, l2_bw=cfg.l2.bandwidth, rings=rings, l2_capacity=room)
            stages = _stage_costs(base, a, cfg)
            _, _, ring_base, ring = ring_layout(PipelineCost(name, tuple(stages),
                                                             tuple(queues)))
            foot = sum(q.tile_bytes * r for q, r in zip(queues, ring))
            skew = foot - sum(q.tile_bytes * r for q, r in zip(queues, ring_base))
            if foot <= budget * region or room <= 0 or skew <= 0:
                break
            room = max(0.0, budget * region - skew)
        sp = queue_spill([q.tile_bytes * r for q, r in zip(queues, ring)], region)
        # a spilled entry moves at dram_factor of the CTA's entry bandwidth (the executor)
        qn = [q.tiles * q.tile_bytes for q in queues]
        dm = [replace(d, transfer_s=sum(qn[j] * (1 - sp[j] + sp[j] / params.dram_factor)
                                        for j in touch[k]) / bw_cta[k])
              if any(sp[j] for j in touch[k]) else d for k, d in enumerate(demands)]
        d_run = dram_run + sum(sp[j] * qn[j] * (1 + len(q.dst)) for j, q in enumerate(queues))
        T = throughput(dm, a.ctas, sms=N, mem_cap=min(
            [np.inf] + ([cfg.hbm.bandwidth / d_run] if d_run else []) +
            ([cfg.l2.bandwidth / l2_run] if l2_run else [])))
        if best is None or T > best[0] * (1 + 1e-9):
            best = (T, a, stages, dm)
        if foot < 0.99 * region and room == budget * region:
            break               # the footprint did not bind: a larger budget finds no more
    T, a, stages, demands = best
    ops = tuple(dict.fromkeys(o for s in stages for o in s.ops))
    # fill: the first tile's trip through the pipeline, one step of every stage on its
    # longest path (stages on parallel branches -- q/k/v projections, the consumers of a
    # multicast -- take their first steps at the same time)
    step = [d.bsp_time_s * d.pipe_util * N / max(1, d.max_ctas) + 2 * params.sync_s(cfg)
            for d in demands]
    fill = _longest_path(step, queues)
    bsp_s = sum(prof[o].time_s for o in ops if o in prof) + cfg.launch.overhead * sum(
        1 for o in ops if o in prof)
    return PipelineCost(name, tuple(stages), tuple(queues), ops,
                        predicted_s=1.0 / T + fill if T > 0 else float("inf"), bsp_s=bsp_s), a
