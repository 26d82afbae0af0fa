"""The dataflow machine: a DataflowPlan's pipelines and BSP ops on the component GPU.

`DataflowMachine` is the GPU machine (archsim.hw.gpu.machine) with one more kind of item in
its stream: a pipeline. BSP ops run as kernels exactly as in mode bsp. A pipeline places every
stage's CTAs on SMs at once (occupancy checked against the SMs' free threads, registers,
shared memory and CTA slots; stages of one pipe type spread over distinct SMs first, so a SIMT
stage's CTA and a TENSOR stage's CTA pair on an SM), then runs tile by tile:

    a free CTA of stage i takes the stage's next tile m when every input queue has released
    (in order) the entries tile m needs (rd_acquire) and every output queue has room for the
    entries it will write (wr_acquire); its step books
      - its SM's pipe (tensor or simt) for the tile's compute (StageCost.compute_s: the
        calibrated kernel models' per-unit SM time of the stage's work, per tile and CTA:
        profile.tile_seconds),
      - the payload read and written through the crossbar and the L2 slices (the same links BSP
        chunks reserve, so queues contend with everything else), the part of it that spilled
        out of the L2 region and the stage's own DRAM reads/writes on the HBM channels,
      - the CTA's own entry bandwidth and one handoff (QueueParams) per side it synchronises;
    the tile is done when the slowest of those is; its outputs are released full in tile order
    (sequence numbers) and its input entries released empty, which wakes waiting CTAs.

Nothing decides the pipeline's time but these events: a slow consumer keeps entries full, the
producer's wr_acquire fails and its CTAs idle until a release (back-pressure). Events: one per
tile per stage, plus the kernel events of BSP ops.
"""
from __future__ import annotations

import heapq
import math
from dataclasses import dataclass

import numpy as np

from archsim.engine import TICKS_PER_SECOND
from archsim.errors import UserError
from archsim.hw.dataflow.queue import (H200_FIT, QueueParams, RingQueue, done_entries, need,
                                       spill_fraction)
from archsim.hw.gpu.machine import GpuMachine, _Control

PS = TICKS_PER_SECOND
STEP_CAP = 1024     # steps per stage at most (unless the stage has more than 4 x its CTAs)


@dataclass(frozen=True)
class StageCost:
    """What the machine needs to run one stage (plain data; see profile.py for where it comes
    from in a real run)."""
    name: str
    kind: str                # "tensor" | "simt": the SM pipe its compute books
    tiles: int
    ctas: int                # a_i from the load balancer
    compute_s: float         # seconds of its pipe per tile on one CTA
    dram_read: float = 0.0   # bytes per tile read from DRAM (first stages: inputs, weights)
    dram_write: float = 0.0  # bytes per tile written to DRAM (last stages, outputs)
    block: int = 256         # CTA resources: threads, registers per thread, shared memory
    regs: int = 64
    smem: int = 0
    tensor_flops: int = 0    # work of the whole stage (energy)
    simt_ops: int = 0
    ops: tuple = ()
    dram_in: tuple = ()      # (tensor, bytes) it reads from memory over the run (via the L2)
    dram_out: tuple = ()     # (tensor, bytes) it leaves in memory


@dataclass(frozen=True)
class QueueCost:
    name: str
    src: int
    dst: tuple
    tile_bytes: int
    tiles: int
    entries: int = 2
    topology: str = "1-1"


@dataclass(frozen=True)
class PipelineCost:
    name: str
    stages: tuple            # StageCost
    queues: tuple            # QueueCost
    ops: tuple = ()          # graph op names (the report's per-op rows)
    predicted_s: float = 0.0  # the balancer's estimate: one run at its throughput + fill
    bsp_s: float = 0.0        # the same ops kernel by kernel (BSP model)


class _Cta:
    __slots__ = ("res", "need")

    def __init__(self, block, regs, smem):
        self.need = {"threads": block, "regs": block * regs, "smem": smem, "ctas": 1}


class PipelineRun:
    """Runtime state of one pipeline on the machine (plain data)."""

    def __init__(self, idx: int, pc: PipelineCost, params: QueueParams, cfg):
        self.idx = idx
        self.pc = pc
        n = len(pc.stages)
        self.next = [0] * n                 # next tile each stage hands to a free CTA
        self.done = [0] * n                 # tiles finished
        self.frontier = [0] * n             # tiles finished in order (release sequence)
        self.finished = [set() for _ in range(n)]
        self.free: list[list[int]] = [[] for _ in range(n)]   # free CTA ids per stage
        self.sm: list[np.ndarray] = []      # SM of each CTA, per stage
        self.first = [None] * n
        self.last = [0] * n
        self.start = 0
        self.ins = [[j for j, q in enumerate(pc.queues) if i in q.dst] for i in range(n)]
        self.outs = [[j for j, q in enumerate(pc.queues) if q.src == i] for i in range(n)]
        # a stage runs in steps: one step per tile, or per entry of its busiest queue when a
        # queue carries more entries than the stage has tiles (a GEMM with few output tiles
        # streaming its input, a reduction's fan-in): a CTA then consumes or produces about
        # one entry per step and accumulates across steps, as a real CTA loops over K
        # (capped at STEP_CAP steps, at least 4 per CTA: a step then covers several entries,
        # and pays one handoff per entry, so long runs stay a few hundred events per stage)
        natural, self.steps, base, self.ring = ring_layout(pc)
        self.queues = []
        for q, ring in zip(pc.queues, self.ring):
            # a simulated step that covers `batch` entries holds that many where the real
            # CTA holds one: the simulated rings scale with it (the footprint does not)
            batch = max([1] + [math.ceil(q.tiles / self.steps[d]) for d in q.dst + (q.src,)])
            self.queues.append(RingQueue(q.name, q.src, tuple(q.dst), q.tile_bytes, q.tiles,
                                         ring * batch, q.topology))
        # per stage, fixed over the run: its queues (objects), its per-step costs
        self.qins = [[self.queues[j] for j in self.ins[i]] for i in range(n)]
        self.qouts = [[self.queues[j] for j in self.outs[i]] for i in range(n)]
        per = [s.tiles / S for s, S in zip(pc.stages, self.steps)]
        self.comp_t = [int(math.ceil(s.compute_s * p * PS)) for s, p in zip(pc.stages, per)]
        self.d_rw = [(s.dram_read * p, s.dram_write * p) for s, p in zip(pc.stages, per)]
        self.bw = [params.cta_bw(cfg, s.block) for s in pc.stages]
        self.left = n                       # stages not yet done
        self.wake = []
        for i in range(n):
            w = {i}
            for j in self.outs[i]:
                w.update(pc.queues[j].dst)
            for j in self.ins[i]:
                w.add(pc.queues[j].src)
            self.wake.append(sorted(w))
        fps = [rq.tile_bytes * ring for rq, ring in zip(self.queues, self.ring)]
        foot = sum(fps)
        self.footprint = foot
        # the L2 region goes to the smallest rings first (the tight producer/consumer pairs);
        # the big rings of skip connections are the ones that spill
        self.qspill = queue_spill(fps, params.capacity_bytes(cfg))
        self.spill = sum(f * fp for f, fp in zip(self.qspill, fps)) / foot if foot else 0.0
        self.bytes = {"dram_read": 0.0, "dram_write": 0.0, "queue": 0.0, "spill": 0.0,
                      "l2_mem": 0.0}
        self.l2 = {"requested": 0, "hit": 0, "miss": 0, "writeback": 0}
        self.dram_factor = 1.0
        self.busy = {"tensor": 0.0, "simt": 0.0}


def queue_spill(fps, cap: float) -> list:
    """Spilled share of each queue's entries, rings of fps bytes in a region of cap bytes: the
    region goes to the smallest rings first (the tight producer/consumer pairs); the big
    rings of skip connections are the ones that spill."""
    out = [0.0] * len(fps)
    for j in sorted(range(len(fps)), key=lambda j: (fps[j], j)):
        out[j] = spill_fraction(fps[j], cap)
        cap = max(0.0, cap - fps[j])
    return out


def ring_layout(pc: PipelineCost):
    """(natural steps per stage, simulated steps per stage, base ring entries per queue, ring
    entries per queue with the multicast skew): the rings the machine gives a pipeline with
    its allocation (also what the load balancer's footprint check sees)."""
    ins = [[j for j, q in enumerate(pc.queues) if i in q.dst] for i in range(len(pc.stages))]
    outs = [[j for j, q in enumerate(pc.queues) if q.src == i] for i in range(len(pc.stages))]
    natural = [max([s.tiles] + [pc.queues[j].tiles for j in ins[i] + outs[i]])
               for i, s in enumerate(pc.stages)]
    steps = [min(nat, max(STEP_CAP, 4 * max(1, s.ctas))) for nat, s in zip(natural, pc.stages)]
    base = []
    for q in pc.queues:
        # rings pair CTAs: one ring of `entries` per producer CTA or per consumer CTA,
        # whichever side has more (every CTA double-buffers: one entry it works on, one
        # being filled); a step that needs k entries at once needs rings that hold k
        a = max([pc.stages[q.src].ctas] + [pc.stages[d].ctas for d in q.dst] + [1])
        fan = max([1] + [math.ceil(q.tiles / natural[d]) for d in q.dst])
        base.append(q.entries * max(a, fan))
    skew = _multicast_skew(pc, base, natural)
    return natural, steps, base, [cap + sk for cap, sk in zip(base, skew)]


def _multicast_skew(pc: PipelineCost, cap: list, steps: list) -> list:
    """Extra entries a multicast queue needs so its nearer consumer can run ahead of its
    farther one (a skip connection: the far consumer reads the tile only after the stages in
    between did). Without them the ring holds the whole pipeline to the pace of one round trip
    through the long path. The skew is the most work, as a fraction of the run, that the long
    path can hold in flight -- its queues' capacities and its stages' CTAs -- minus what the
    short path can, in this queue's entries. (How the paper sizes these rings is not
    published; this is the smallest depth that keeps both paths flowing.)"""
    n = len(pc.stages)
    out_edges = [[] for _ in range(n)]
    for j, q in enumerate(pc.queues):
        for d in q.dst:
            out_edges[q.src].append((d, j))
    order = _topo(n, out_edges)
    extra = []
    for j, q in enumerate(pc.queues):
        if len(q.dst) < 2:
            extra.append(0)
            continue
        # the longest in-flight fraction from one consumer to another (the far consumer sits
        # downstream of the near one)
        far = 0.0
        for d0 in q.dst:
            dist = [-1.0] * n
            dist[d0] = 0.0
            for u in order:
                if dist[u] < 0:
                    continue
                for v, e in out_edges[u]:
                    w = cap[e] / pc.queues[e].tiles + max(1, pc.stages[v].ctas) / steps[v]
                    dist[v] = max(dist[v], dist[u] + w)
            far = max([far] + [dist[d] for d in q.dst if d != d0])
        # doubled: the estimate counts rings and CTAs at the path's steady fill, while steps
        # finishing out of order and the near consumer's own CTAs hold entries too
        extra.append(int(math.ceil(2 * far * q.tiles)))
    return extra


def _topo(n, out_edges):
    indeg = [0] * n
    for u in range(n):
        for v, _ in out_edges[u]:
            indeg[v] += 1
    ready = [u for u in range(n) if indeg[u] == 0]
    order = []
    while ready:
        u = ready.pop(0)
        order.append(u)
        for v, _ in out_edges[u]:
            indeg[v] -= 1
            if indeg[v] == 0:
                ready.append(v)
    if len(order) < n:
        raise UserError("a pipeline's queues form a cycle")
    return order




class DataflowMachine(GpuMachine):
    """GpuMachine whose stream items may be pipelines: ("pipeline", index) in place of a
    kernel. See the module docstring."""

    def __init__(self, cfg, program, *, pipelines=(), params: QueueParams = H200_FIT,
                 stream=None, **kw):
        super().__init__(cfg, program, streams=[stream] if stream is not None else None, **kw)
        self.pipes = list(pipelines)
        self.qparams = params
        self.runs: dict[int, PipelineRun] = {}
        self.log: list | None = None      # set to [] to record every acquire and release
        self.reports: list[dict] = []
        self.sync_t = int(round(params.sync_s(cfg) * PS))
        self.qsig = {}
        self.qsig_q = {}      # queue name -> its occupancy signal
        for pc in self.pipes:
            for q in pc.queues:
                name = f"queue[{q.name}].occupancy"
                if name not in self.qsig:
                    self.qsig[name] = self.signals.declare(name, width=16)
                self.qsig_q[q.name] = self.qsig[name]

    # ---- checkpoint: running pipelines are plain data too ------------------------------------
    def save_extra(self):
        return {**super().save_extra(), "df_runs": self.runs, "df_reports": self.reports}

    def load_extra(self, extra):
        super().load_extra(extra)
        self.runs = extra["df_runs"]
        self.reports = extra["df_reports"]

    # ---- stream: a pipeline item takes the place of a kernel ---------------------------------
    def launch(self, s: int):
        # the stream's wrap comes first, so that a stream starting with a pipeline wraps too
        if not self._wrap(s):
            return
        stream = self.streams[s]
        pos = self.gs.state["pos"][s]
        if pos < len(stream) and stream[pos][0] == "pipeline":
            self._pipe_start(stream[pos][1])
            return
        self._launch_kernel(s)

    def _reported_run_begins(self):
        # the last of `repeat` runs is the one reported, pipelines included
        super()._reported_run_begins()
        self.reports.clear()

    def _pipe_start(self, p: int):
        pc = self.pipes[p]
        run = PipelineRun(p, pc, self.qparams, self.cfg)
        run.start = self.now
        self.runs[p] = run
        offset = {"tensor": 0, "simt": 0}
        self._functional_l2(run)
        for i, sc in enumerate(pc.stages):
            sms = self._place_stage(sc, offset[sc.kind])
            offset[sc.kind] = (offset[sc.kind] + sms.size) % self.nsm
            run.sm.append(sms)
            run.free[i] = list(range(sms.size))
        self._try_all(run)

    def _functional_l2(self, run: PipelineRun):
        """The pipeline's memory tensors through the functional L2, once at launch (as a BSP
        kernel's accesses are replayed at dispatch): reads first, then writes. Its DRAM
        traffic is what misses and what the writes evict, as for every kernel; the steps book
        it on HBM in proportion to each stage's share of the tensors' bytes. Queue payload
        lives in the persisting-L2 region and does not go through this path."""
        l2 = self.model.l2
        bufs = self.program.buffers
        c0 = l2.counters()
        planned = 0.0
        for write in (False, True):
            for sc in run.pc.stages:
                for name, nbytes in (sc.dram_out if write else sc.dram_in):
                    planned += nbytes
                    b = bufs.get(name)
                    if b is None or b.nbytes <= 0:
                        continue
                    for _ in range(max(1, int(round(nbytes / b.nbytes)))):
                        l2.access(b.addr, b.nbytes, write)
        c1 = l2.counters()
        run.l2 = {k: c1[k] - c0[k] for k in ("requested", "hit", "miss", "writeback")}
        dram = run.l2["miss"] + run.l2["writeback"]
        run.dram_factor = dram / planned if planned > 0 else 0.0

    def _place_stage(self, sc: StageCost, offset: int) -> np.ndarray:
        """a_i CTAs on SMs from `offset` on (one per SM per round), where they fit."""
        need_ = _Cta(sc.block, sc.regs, sc.smem).need
        for r, v in need_.items():
            if v > self.free[r].max(initial=0) and v > {"threads": self.cfg.sm.max_threads,
                                                        "regs": self.cfg.sm.registers,
                                                        "smem": self.cfg.sm.shared_memory,
                                                        "ctas": self.cfg.sm.max_ctas}[r]:
                raise UserError(f"stage {sc.name} needs {v} {r} per CTA; an SM of "
                                f"{self.cfg.name} has fewer")
        order = (np.arange(self.nsm) + offset) % self.nsm
        got = []
        for _ in range(max(1, sc.ctas)):      # rounds: at most a_i CTAs per SM
            for i in order.tolist():
                if len(got) >= sc.ctas:
                    break
                if all(self.free[r][i] >= v for r, v in need_.items()):
                    for r, v in need_.items():
                        self.free[r][i] -= v
                    self.resident[i] += 1
                    got.append(i)
            if len(got) >= sc.ctas or not got:
                break
        if not got:
            raise UserError(f"stage {sc.name}: no SM has room for one of its CTAs beside the "
                            f"pipeline's other stages (threads, registers, shared memory)")
        return np.array(got, np.int64)

    # ---- tiles --------------------------------------------------------------------------------
    def _try_all(self, run: PipelineRun):
        for i in range(len(run.pc.stages)):
            self._try_stage(run, i)

    def _try_stage(self, run: PipelineRun, i: int):
        S = run.steps[i]
        free = run.free[i]
        ins = run.qins[i]
        outs = run.qouts[i]
        while free and run.next[i] < S:
            m = run.next[i]
            for q in ins:                                    # rd_acquire spins
                if q.produced < min(q.tiles, -(-(m + 1) * q.tiles // S)):
                    return
            for q in outs:                                   # wr_acquire spins
                k = min(q.tiles, -(-(m + 1) * q.tiles // S)) - min(q.tiles, -(-m * q.tiles // S))
                if not q.can_write(k):
                    return
            self._tile_start(run, i, m, heapq.heappop(free))   # the lowest free CTA
            run.next[i] += 1

    def _tile_start(self, run: PipelineRun, i: int, m: int, cta: int):
        pc, now, P = run.pc, self.now, self.qparams
        sc = pc.stages[i]
        S = run.steps[i]
        if run.first[i] is None:
            run.first[i] = now
        qin = qout = sp_in = sp_out = 0.0
        fan = 1
        n_in = n_out = 0
        log = self.log
        queues, qspill = run.queues, run.qspill
        for j in run.ins[i]:
            q = queues[j]
            qt = q.tiles
            # entries needed by step m beyond those of steps before it (queue.need)
            k = min(qt, -(-(m + 1) * qt // S)) - (min(qt, -(-m * qt // S)) if m > 0 else 0)
            if log is not None:
                log.append((now, "rd_acquire", run.idx, q.name, i, m, need(m - 1, q.tiles, S),
                            need(m, q.tiles, S), q.produced))
            qin += k * q.tile_bytes
            sp_in += qspill[j] * k * q.tile_bytes
            if k > n_in:
                n_in = k
            if k > fan and q.topology == "many-1":
                fan = k
        for j in run.outs[i]:
            q = queues[j]
            qt = q.tiles
            k = min(qt, -(-(m + 1) * qt // S)) - (min(qt, -(-m * qt // S)) if m > 0 else 0)
            q.wr_acquire(k)
            if log is not None:
                log.append((now, "wr_acquire", run.idx, q.name, i, m, q.reserved - k,
                            q.reserved, q.occupancy, q.capacity, k * q.tile_bytes))
            self._sig_queue(q, now)
            qout += k * q.tile_bytes
            sp_out += qspill[j] * k * q.tile_bytes
            n_out = max(n_out, done_entries(m, qt, S) - done_entries(m - 1, qt, S))
        # handoffs: one rd_acquire per entry taken before it is read (a reduction tree adds a
        # level per doubling of its fan-in), one release per entry completed after it is
        # written; queues are served side by side, entries of one queue one after another. A
        # step that takes no new entry (it works on one it holds) and completes none has none
        # (the tree's levels are passed once per step, its entries one after another: k
        # entries through a tree of fan-in k take k + log2 k handoffs, not k log2 k)
        sync_in = self.sync_t * (n_in + (math.ceil(math.log2(fan)) if fan > 1 else 0))
        sync_out = self.sync_t * n_out
        t0 = now + sync_in
        qbytes = qin + qout
        spilled = sp_in + sp_out
        d_rd, d_wr = run.d_rw[i]              # bytes through the L2 (the stage's, per step)
        dm = (d_rd + d_wr) * run.dram_factor                      # of which DRAM
        dram = dm + spilled
        l2 = qbytes / P.l2_share + d_rd + d_wr
        # links are FIFO reservation servers: book at the request's issue time (now), so a
        # handoff still spinning does not hold the link idle ahead of requests issued earlier
        mem_end = now
        if qbytes + d_rd + d_wr > 0:
            mem_end = max(mem_end, self.xbar.link.reserve(now, qbytes + d_rd + d_wr))
            self.xbar.state["bytes"] += qbytes + d_rd + d_wr
            mem_end = max(mem_end, self._book_l2(now, l2))
            self.l2_bytes += qbytes + d_rd + d_wr
        if dram > 0:
            mem_end = max(mem_end, self.hbm.reserve(now, dram, (m * 7 + i) % self.hbm.channels))
        bw = run.bw[i]
        cta_end = t0 + int(math.ceil((qbytes - spilled + spilled / P.dram_factor) / bw * PS))
        sm = int(run.sm[i][cta])
        pipe = self.busy[sc.kind]
        p0 = max(int(pipe[sm]), t0)
        pe = p0 + run.comp_t[i]
        pipe[sm] = pe
        if self._watch:
            s = self.sms[sm]
            sig = s.sig_tensor if sc.kind == "tensor" else s.sig_simt
            if pe > p0:
                sig.set(p0, 1)
                sig.set(pe, 0)
        run.busy[sc.kind] += (pe - p0) / PS
        run.bytes["dram_read"] += sp_in
        run.bytes["dram_write"] += sp_out
        run.bytes["l2_mem"] += d_rd + d_wr
        run.bytes["queue"] += qout
        run.bytes["spill"] += spilled
        end = max(pe, cta_end, mem_end) + sync_out
        self.post_at(max(end, now + 1), "df_ctl", "tile_done", run.idx, i, m, cta)

    def _book_l2(self, t: int, nbytes: float) -> int:
        # every booking (a BSP chunk's or a step's) spreads evenly over the slices, so they
        # share one busy-until time
        per = nbytes / self.nslices
        dur = self.slices[0].link.transfer_ticks(per)
        lb = self.l2_busy
        end = max(int(lb[0]), t) + dur
        lb.fill(end)
        return end

    def _sig_queue(self, q: RingQueue, t: int):
        s = self.qsig_q.get(q.name)
        if s is not None and s.subscribed:
            s.set(t, q.occupancy)

    def tile_done(self, p: int, i: int, m: int, cta: int):
        run = self.runs[p]
        sc = run.pc.stages[i]
        now = self.now
        run.done[i] += 1
        run.last[i] = now
        fin = run.finished[i]
        fin.add(m)
        while run.frontier[i] in fin:        # release full in sequence order
            fin.discard(run.frontier[i])
            run.frontier[i] += 1
        upto = run.frontier[i] - 1
        S = run.steps[i]
        log = self.log
        if log is not None:
            log.append((now, "step_done", p, None, i, m))
        for j in run.outs[i]:
            q = run.queues[j]
            before = q.produced
            q.release_full(done_entries(upto, q.tiles, S))
            if log is not None and q.produced > before:
                log.append((now, "release_full", p, q.name, i, m, before, q.produced))
        for j in run.ins[i]:
            q = run.queues[j]
            before = q.freed[i]
            q.release_empty(i, done_entries(upto, q.tiles, S))
            if log is not None and q.freed[i] > before:
                log.append((now, "release_empty", p, q.name, i, m, before, q.freed[i]))
            self._sig_queue(q, now)
        heapq.heappush(run.free[i], cta)
        if run.done[i] >= S:
            run.left -= 1
            if not run.left:
                self._pipe_end(run)
                return
        # wake what this step can unblock: consumers of its outputs (entries released full),
        # producers of its inputs (entries released empty) and the stage itself (a free CTA)
        for v in run.wake[i]:
            self._try_stage(run, v)

    def _pipe_end(self, run: PipelineRun):
        pc = run.pc
        for i, sc in enumerate(pc.stages):
            cnt = np.bincount(run.sm[i], minlength=self.nsm)
            for r, v in _Cta(sc.block, sc.regs, sc.smem).need.items():
                self.free[r] += cnt * v
            self.resident -= cnt
        self.sm_actions["tensor_flop"] += sum(s.tensor_flops for s in pc.stages)
        self.sm_actions["simt_op"] += sum(s.simt_ops for s in pc.stages)
        t = (self.now - run.start) / PS
        self.reports.append({
            "name": pc.name, "index": run.idx, "start": run.start, "end": self.now,
            "time_s": t, "ops": list(pc.ops),
            "stages": [{"name": s.name, "kind": s.kind, "ops": list(s.ops), "tiles": s.tiles,
                        "ctas": int(run.sm[i].size), "ctas_planned": s.ctas,
                        "compute_s_per_tile": s.compute_s,
                        "steps": run.steps[i],
                        "throughput_tiles_per_s": (s.tiles / ((run.last[i] - run.first[i]) / PS)
                                                   if run.last[i] > run.first[i] else 0.0)}
                       for i, s in enumerate(pc.stages)],
            "queues": [{"name": q.name, "src": q.src, "dst": list(q.dst), "topology": q.topology,
                        "tile_bytes": q.tile_bytes, "tiles": q.tiles, "capacity": q.capacity,
                        "max_occupancy": q.max_occupancy} for q in run.queues],
            "queue_footprint_bytes": run.footprint, "spill_fraction": run.spill,
            # DRAM: the functional L2's misses and write-backs, plus spilled queue entries
            "dram_read_bytes": run.l2["miss"] + run.bytes["dram_read"],
            "dram_write_bytes": run.l2["writeback"] + run.bytes["dram_write"],
            "spill_bytes": run.bytes["spill"],
            "queue_bytes": run.bytes["queue"],
            "l2_mem_bytes": run.bytes["l2_mem"], "l2_mem_hit_bytes": run.l2["hit"],
            "l2_bytes": 2 * run.bytes["queue"] + run.bytes["l2_mem"],
            "tensor_busy_s": run.busy["tensor"], "simt_busy_s": run.busy["simt"],
            "tensor_flops": sum(s.tensor_flops for s in pc.stages),
            "simt_ops": sum(s.simt_ops for s in pc.stages),
        })
        st = self.gs.state
        st["end"] = max(st["end"], self.now)
        st["done"] += 1
        st["pos"][0] += 1
        self.post(self.gap, "gs_ctl", "launch", 0)


class _DfControl(_Control):
    def __init__(self, machine):
        super(_Control, self).__init__(machine, "df_ctl", None, None)

    def tile_done(self, p, i, m, cta):
        self.machine.tile_done(p, i, m, cta)


def build_dataflow(cfg, program, **kw) -> DataflowMachine:
    m = DataflowMachine(cfg, program, **kw)
    _Control(m)
    _DfControl(m)
    return m
