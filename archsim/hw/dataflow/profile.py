"""From a BSP run to what the load balancer and the dataflow machine need per stage.

The dataflow machine prices a stage's compute with the calibrated per-kernel model of the GPU
(archsim.hw.gpu.model), as the paper's ILP is fed by BSP per-kernel times and pipe
utilisations: the Program is first run kernel by kernel (mode bsp, the baseline), and for each
kernel we keep its time, its DRAM and L2 bytes and its work, and what its work costs on
the SMs when priced tile by tile (`tile_seconds`).

A stage's compute per tile on one CTA is its ops' tile-priced SM-seconds over its tiles: the
SM cycles of one work unit on one SM (the kernel model's own per-unit pipe and load-path
cycles, `KernelModel.coeffs` / `pipe_cycles`, with the SM's resident CTAs sharing it), times
the units, at the kernel's clock. Nothing in it depends on the machine's SM count: no wave
quantisation (a pipeline stage's CTAs take tiles one after another; a BSP wave's idle SMs
are not the stage's work), no per-CTA launch cost (stage CTAs are persistent), no DRAM-rate share per SM (the executor books the stage's DRAM
on the HBM channels itself), and a tensor GEMM is priced as the tile the GEMM planner picks
for one SM (`vendor.plan_gemm` on a one-SM machine: the plan with the fewest SM-cycles,
never split-K), not the variant it picks to fill this machine's SMs (at 216 SMs the planner
picks 64x64 tiles for DLRM's small GEMMs to fill the grid; priced from those, the same
pipeline got slower with more SMs). So a plan priced on N SMs costs the same on 2N.
Ops fused into a stage as its epilogue pay their function's SIMT instructions only
(`_epilogue_seconds`). The ILP's t_i and u_i keep the paper's form: u_i = tile-priced SM time / (t_i x #SMs).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, replace

import numpy as np

from archsim.hw.dataflow.arbiter import kernel_kind
from archsim.hw.dataflow.executor import (PipelineCost, QueueCost, StageCost, _topo,
                                         queue_spill, ring_layout)
from archsim.hw.gpu.machine import build, finish
from archsim.hw.gpu.kernels import kernel_model
from archsim.hw.gpu.model import _Chunk, _KernelRun, make_model
from archsim.lower.dataflow.balance import StageDemand, balance, throughput
from archsim.lower.vendor import (ELEMENTWISE_BASE_OPS, elementwise_ops, occupancy,
                                 plan_gemm)


@dataclass
class OpProfile:
    time_s: float = 0.0
    tile_seconds: float = 0.0        # SM-seconds of its work priced unit by unit (module doc)
    pipe_seconds: float = 0.0        # the same, its pipe issue only (as a fused epilogue)
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
        if hasattr(fn, "attach"):     # a monitor that reads components directly
            fn.attach(m)
    m.start()
    m.run()
    res = finish(m, l2_start)
    prof: dict[str, OpProfile] = {}
    longest: dict[str, float] = {}
    one = _OneSm(model)
    recs = m.gs.state["records"]
    # split-K workspaces: a GEMM priced as its one-SM tile has no split, so no reduce kernel
    ws = {r["kernel"].tile.c for r in recs if _replannable(r["kernel"]) and r["kernel"].tile.split > 1}
    for r in recs:
        k, run, f = r["kernel"], r["run"], r["clock"]
        name = program.ops[r["oi"]].op
        p = prof.setdefault(name, OpProfile())
        p.time_s += r["time"]
        p.dram_bytes += r["miss"] + r["wb"]
        p.l2_bytes += r["req"]
        p.tensor_flops += k.tensor_flops
        p.simt_ops += k.simt_ops
        if k.model == "stream" and any(a.buffer in ws for a in k.accesses):
            continue
        sec, pipe, res_k = tile_seconds(one, k, run, f)
        p.tile_seconds += sec
        p.pipe_seconds += pipe
        if r["time"] > longest.get(name, -1.0):
            longest[name] = r["time"]
            p.block, p.regs, p.smem = res_k
        if kernel_kind(k) == "tensor":
            p.kind = "tensor"
    return res, prof


class _OneSm:
    """The GPU model as the kernel models see it, on a machine of one SM: per-unit costs that
    a kernel model works out from the busiest SM's share (a streaming kernel's share of the
    DRAM reads) then come out for one SM doing every unit, i.e. without the grid."""

    def __init__(self, model):
        self._model = model
        cfg = model.cfg
        self.cfg = replace(cfg, sm=replace(cfg.sm, count=1))

    def channel_share(self, dram_bytes: float) -> float:
        return self._model.channel_share(dram_bytes)


def _replannable(k) -> bool:
    """A tensor-pipe GEMM op's main kernel (not an implicit-GEMM convolution, whose planner
    is cuDNN's)."""
    t = k.tile
    return (k.model == "gemm" and k.op_kind == "gemm" and k.pipe == "tensor"
            and t is not None and not t.single_warpgroup and not t.step_extra)


def _one_sm_gemm(one, k):
    """The kernel and its one chunk for GEMM k re-planned for one SM (the stage's tile)."""
    t = k.tile
    plan = plan_gemm(t.M, t.N, t.K, t.batch, k.dtype, one.cfg)
    ksteps = math.ceil(t.K / plan.k_step)
    tile = replace(t, tm=plan.tile_m, tn=plan.tile_n, tk=plan.k_step, stages=plan.stages,
                   split=1, c_esize=t.esize, persistent=False)
    kk = replace(k, tile=tile, units=plan.tiles, steps=ksteps, block=plan.threads,
                 regs_per_thread=plan.regs, smem=plan.smem, grid=(plan.tiles, 1, 1))
    mt, nt = math.ceil(t.M / plan.tile_m), math.ceil(t.N / plan.tile_n)
    # bytes one tile loads per K-step (A and B panels) and stores at the end (C), as the
    # L2 replay counts them (Cache.gemm_chunk), over every tile
    req = t.batch * t.esize * (t.M * t.K * nt + t.K * t.N * mt) + t.batch * t.M * t.N * t.esize
    ch = _Chunk(plan.tiles, 1.0, ksteps, req=req, last_step=True)
    occ = max(1, occupancy(kk.block, kk.regs_per_thread, kk.smem, one.cfg))
    return kk, _KernelRun(kk, occ, min(plan.tiles, occ), math.ceil(plan.tiles / occ), [ch])


def _epilogue_seconds(op, p: OpProfile) -> float:
    """SM-seconds of an op fused into its producer's stage as an epilogue (select.py rule 5:
    an elementwise op on the producer's output tile). It works on the tile in the producer's
    registers: its BSP kernel's loads and stores of the intermediate are gone (the queue
    payload and memory tensors are the step's own bookings), and so are the per-element
    instructions of the standalone kernel around its function (vectorized load and store,
    index math, conversions: `vendor.ELEMENTWISE_BASE_OPS` of `elementwise_ops(fn)`; the
    producer's own epilogue converts and stores the tile). What is left is the function's
    own instructions per element on the SIMT pipe."""
    if op.kind == "elementwise" and op.attrs.get("fn", "add") != "slice_copy":
        tot = elementwise_ops(op.attrs.get("fn", "add"))
        return p.pipe_seconds * (tot - ELEMENTWISE_BASE_OPS) / tot
    return p.pipe_seconds


def tile_seconds(one, k, run, f) -> tuple[float, float, tuple[int, int, int]]:
    """(SM-seconds of kernel k's work priced unit by unit on one SM at clock f, the same for
    its pipe issue alone, the CTA's (threads, registers per thread, shared memory) that work
    runs in). See the module doc."""
    km = kernel_model(k)
    if not km.uses_sms:
        return 0.0, 0.0, (k.block, k.regs_per_thread, k.smem)
    if _replannable(k):
        k, run = _one_sm_gemm(one, k)
    sm = one.cfg.sm
    n = max(1, run.occ)          # the units one SM holds at once share its pipes
    cyc = pipe = 0.0
    for ch in run.chunks:
        _, per, lsu, _ = km.coeffs(one, run, ch)
        pc = km.pipe_cycles(sm, run, ch, n, per) / n
        cyc += max(pc, lsu) * ch.units
        pipe += pc * ch.units
    return cyc / f, pipe / f, (k.block, k.regs_per_thread, k.smem)


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
            red.tile_seconds = (q_in_run[si] + cut_rd[si]) / (cfg.sm.lsu_bytes_per_cycle * f)
            red.time_s = red.tile_seconds / N
            ps = [red]
            sm_s = red.tile_seconds
        else:
            real = [o for o in s.ops if o in prof]
            ps = [prof[o] for o in real]
            sm_s = sum(prof[o].tile_seconds if j == 0 else _epilogue_seconds(graph.op(o), prof[o])
                       for j, o in enumerate(real))
        # t_i: the ops' BSP time (at least the tile-priced work spread over every SM, so
        # that u_i <= 1 and t_i u_i #SMs is the stage's SM-seconds, whatever #SMs is)
        t_bsp = max(sum(x.time_s for x in ps), sm_s / N)
        u = sm_s / (t_bsp * N) if t_bsp > 0 else 1.0
        main = ps[0] if ps else OpProfile()         # the stage kernel: its first op's
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
