"""The GPU model: a Program's kernels run on SMs, an L2 and HBM, on the archsim engine.

How a kernel runs (DESIGN.md "Fidelity": tile and transaction-bundle granularity):

1. Occupancy: resident CTAs per SM from threads, registers, shared memory and CTA slots;
   `concurrent` = min(work units, CTAs that fit). Work units (tiles, row blocks) run in waves
   of `concurrent`; a persistent kernel's CTAs loop over units, so its waves are tile waves.
2. Chunks: each wave is cut into chunks (a range of K-steps of every tile in the wave; a group
   of row blocks). A chunk replays its memory accesses through the L2 model (the Cython cache
   component archsim.hw.cache, as GpuL2 in l2.py): every tile's A/B panel segments per K-step, every stream's slice, every
   gathered row — the interleaving of CTAs running side by side. That yields hits, misses and
   write-backs per chunk. Identical CTAs within a wave are not simulated one by one for
   timing: the busiest SM's share of the wave (ceil(units / SMs) units) sets the compute time,
   which is exact for waves of identical tiles and the usual approximation for ragged ones.
3. Chunk time = the slowest of: tensor-pipe issue (MMA cycles + per-step overhead), SIMT issue
   (lane-instructions / lanes), the SM's load path (bulk copy for tiles, LSU for streams), the
   L2 bandwidth, HBM bandwidth (misses + write-backs), CTA dispatch, and dependent memory
   latency per wave. A kernel adds its fixed setup/drain time and one memory latency (fill).
4. Clock: the kernel runs at the highest clock (boost, or the tensor boost for MMA kernels)
   at which its board power — idle + static + dynamic energy per action x (f/boost)^x / time —
   stays under the power cap.
5. Events: each chunk completion is an event on the engine at its end time; a kernel's end
   schedules the next kernel's start after the launch gap. Counters and energy accumulate
   per kernel, per op and in total.
"""
from __future__ import annotations

import math

import numpy as np
from dataclasses import dataclass, field

from archsim.engine import TICKS_PER_SECOND, Simulator
from archsim.energy import EnergyModel
from archsim.hw.gpu.l2 import GpuL2
from archsim.hw.result import OpResult, SimResult
from archsim.lower.program import Kernel, Program
from archsim.lower.vendor import occupancy

from archsim.hw.gpu.kernels import KERNEL_MODELS, kernel_model  # noqa: E402

MAX_CHUNKS = 48            # chunks per kernel: the timing resolution inside a kernel
# L2 request volume below which every line is simulated; above it, 1/S of the lines (S a power
# of two up to SAMPLE_CAP). The same on every backend: the pure-Python cache
# (archsim.hw.cache.PyCache) is slower but gives the same answer as the Cython one (tested).
SAMPLE_VOLUME = 96 << 20
SAMPLE_CAP = 32


@dataclass
class _Chunk:
    units: int             # work units in the chunk's wave(s)
    waves: float           # waves the chunk spans
    steps: int             # K-steps (gemm/attention) in the chunk
    req: int = 0           # bytes requested at L2
    hit: int = 0
    miss: int = 0          # DRAM reads
    wb: int = 0            # DRAM writes (write-backs of dirty lines)
    latency_rounds: float = 0.0
    last_step: bool = False  # holds a tile's last K-step (its epilogue)
    slice_req: np.ndarray | None = None    # bytes requested per L2 slice (lines hash to slices)
    slice_miss: np.ndarray | None = None   # of which fetched from DRAM
    wave: int = -1         # the wave a K-range chunk of a GEMM belongs to (-1: the chunk spans
                           # `waves` whole waves, as stream/row/attention chunks do)

    def slice_skew(self) -> float:
        """Busiest slice's bytes over the mean (1 when lines spread evenly; up to the slice
        count when one slice serves everything): what the L2 term is stretched by."""
        r = self.slice_req
        if r is None or not r.size:
            return 1.0
        tot = float(r.sum())
        return float(r.max()) * r.size / tot if tot > 0 else 1.0


@dataclass
class _KernelRun:
    kernel: Kernel
    occ: int
    concurrent: int
    waves: int
    chunks: list = field(default_factory=list)
    # per chunk (coeffs, memory bytes, latency, slice skew) once the replay is done: the clock
    # choice, the chunk costs and the bound per chunk all read them (_chunk_terms)
    terms: list | None = None


def _pow2_at_least(x: float) -> int:
    n = 1
    while n < x:
        n <<= 1
    return n


class GpuModel:
    """Runs Programs on one GPU config. Runtime state (L2 contents) lives here, config does not."""

    def __init__(self, cfg, *, sample: int = 1, seed: int = 0, l2_impl=None):
        self.cfg = cfg
        l2 = cfg.l2
        self.l2 = GpuL2(l2.size, l2.line, l2.sector, l2.ways, l2.partitions, sample,
                        impl=l2_impl)
        self.energy = EnergyModel(cfg)
        self.seed = seed

    # ---- functional pass: replay accesses through the L2 --------------------------------------
    def _counters(self):
        return self.l2.sectors(), self.l2.slice_sectors()

    def _measure(self, chunk: _Chunk, before):
        after = self.l2.sectors()
        b, (sb_req, sb_miss) = before
        k = self.l2.sector * self.l2.sample    # sectors -> bytes of the whole cache
        chunk.req += (after[0] - b[0]) * k
        chunk.hit += (after[1] - b[1]) * k
        chunk.miss += (after[2] - b[2]) * k
        chunk.wb += (after[3] - b[3]) * k
        s_req, s_miss = self.l2.slice_sectors()
        d_req, d_miss = (s_req - sb_req) * float(k), (s_miss - sb_miss) * float(k)
        chunk.slice_req = d_req if chunk.slice_req is None else chunk.slice_req + d_req
        chunk.slice_miss = d_miss if chunk.slice_miss is None else chunk.slice_miss + d_miss

    def replay(self, k: Kernel, program: Program) -> _KernelRun:
        cfg = self.cfg
        occ = occupancy(k.block, k.regs_per_thread, k.smem, cfg)
        resident = occ * cfg.sm.count
        conc = max(1, min(k.units, k.ctas, resident))
        waves = math.ceil(k.units / conc)
        run = _KernelRun(k, occ, conc, waves)
        kernel_model(k).replay(self, k, run, program.buffers)
        return run

    def _replay_gemm(self, k: Kernel, run: _KernelRun, bufs) -> None:
        t = k.tile
        conc, waves, steps = run.concurrent, run.waves, k.steps
        per_wave = max(1, min(steps, MAX_CHUNKS // waves))
        a, b, c = bufs[t.a].addr, bufs[t.b].addr, bufs[t.c].addr
        bounds = [round(i * steps / per_wave) for i in range(per_wave + 1)]
        gemm_chunk = self.l2.gemm_chunk
        for w in range(waves):
            first = len(run.chunks)
            u0, u1 = w * conc, min(k.units, (w + 1) * conc)
            # the wave's traffic is measured once, around all its chunks: each chunk's own
            # counts would be replaced by the wave's spread below, and the sums are of whole
            # sectors, so the spread values are the same
            before = self._counters()
            for i in range(per_wave):
                s0, s1 = bounds[i], bounds[i + 1]
                if s1 <= s0:
                    continue
                ch = _Chunk(u1 - u0, (u1 - u0) / conc, s1 - s0)
                ch.last_step = s1 >= steps
                ch.wave = w
                gemm_chunk(a, b, c, t.M, t.N, t.K, t.esize, t.c_esize,
                           t.tm, t.tn, t.tk, t.split, t.batch,
                           t.group_m, u0, u1, s0, s1, t.a_ld, t.b_trans)
                if i == per_wave - 1:
                    self._streams(k, ch, u0, u1)  # bias and other small reads
                ch.latency_rounds = 1.0 if (s0 == 0 and (w == 0 or not t.persistent)) else 0.0
                run.chunks.append(ch)
            # every K-step of a wave moves the same kind of traffic; spread the wave's bytes
            # over its chunks by steps (address sampling makes single chunks lumpy)
            wave = run.chunks[first:]
            if not wave:
                continue
            total = _Chunk(0, 0.0, 0)
            self._measure(total, before)
            nst = sum(x.steps for x in wave)
            tot = [total.req, total.hit, total.miss, total.wb]
            s_req, s_miss = total.slice_req, total.slice_miss
            for x in wave:
                x.req, x.hit, x.miss, x.wb = (v * x.steps / nst for v in tot)
                x.slice_req, x.slice_miss = s_req * (x.steps / nst), s_miss * (x.steps / nst)

    def _replay_attention(self, k: Kernel, run: _KernelRun, bufs) -> None:
        t = k.tile
        conc, waves = run.concurrent, run.waves
        es = t.esize
        pack = t.pack           # query heads sharing one K/V head, in one unit
        qt = 1 if pack > 1 else math.ceil(t.S / t.bq)
        head_kv = t.Skv * t.D * es
        hq = t.H // t.Hkv
        q, kk, v, o = (bufs[getattr(t, x)].addr for x in ("q", "k", "v", "o"))
        for w in range(waves):
            u0, u1 = w * conc, min(k.units, (w + 1) * conc)
            # units of unequal length (causal): the busiest CTA's steps, spread over the waves
            steps = t.busiest_steps / waves if t.busiest_steps else k.steps
            ch = _Chunk(u1 - u0, (u1 - u0) / conc, steps)
            before = self._counters()
            for u in range(u0, u1):
                if pack > 1:   # unit = (batch, K/V head): its `pack` query heads, all S rows
                    b_, g = divmod(u, t.Hkv)
                    head, kvh = b_ * t.H + g * pack, u
                    rows, qoff = pack * t.S, head * t.S * t.D * es
                else:
                    head, qi = divmod(u, qt)
                    b_, h = divmod(head, t.H)
                    kvh = b_ * t.Hkv + h // hq
                    rows = min(t.bq, t.S - qi * t.bq)
                    qoff = (head * t.S + qi * t.bq) * t.D * es
                self.l2.access(q + qoff, rows * t.D * es, False, u)
                self.l2.access(kk + kvh * head_kv, head_kv, False, u)
                self.l2.access(v + kvh * head_kv, head_kv, False, u)
                self.l2.access(o + qoff, rows * t.D * es, True, u)
            self._measure(ch, before)
            ch.latency_rounds = 1.0
            run.chunks.append(ch)

    def _streams(self, k: Kernel, ch: _Chunk, u0: int, u1: int) -> None:
        """Every non-GEMM access of kernel k for units [u0, u1)."""
        n = k.units
        for acc in k.accesses:
            if acc.kind == "gemm":
                continue
            buf = self._bufs[acc.buffer]
            if acc.kind == "stream":
                for p in range(acc.passes):
                    self.l2.access_units(buf.addr + acc.offset, acc.nbytes, u0, u1, n,
                                         acc.write and p == acc.passes - 1)
            elif acc.kind == "rows":
                i0, i1 = acc.count * u0 // n, acc.count * u1 // n
                self.l2.rows_chunk(buf.addr, acc.row_bytes, acc.table_rows, i0, i1,
                                   acc.seed + self.seed)

    def _replay_stream(self, k: Kernel, run: _KernelRun, bufs) -> None:
        conc, waves = run.concurrent, run.waves
        nchunks = min(waves, MAX_CHUNKS)
        bounds = [round(i * k.units / nchunks) for i in range(nchunks + 1)]
        for i in range(nchunks):
            u0, u1 = bounds[i], bounds[i + 1]
            if u1 <= u0:
                continue
            ch = _Chunk(u1 - u0, (u1 - u0) / conc, 1)
            before = self._counters()
            self._streams(k, ch, u0, u1)
            self._measure(ch, before)
            ch.latency_rounds = math.ceil(ch.waves - 1e-9) * k.dep_rounds
            run.chunks.append(ch)

    # ---- timing: chunk records -> seconds at a clock ------------------------------------------
    def chunk_times(self, run: _KernelRun, f: float) -> tuple[list[float], dict]:
        cfg, k = self.cfg, run.kernel
        sm = cfg.sm
        sms = sm.count
        l2bw, dbw = cfg.l2.bandwidth, cfg.hbm.bandwidth
        out = []
        bound_time: dict[str, float] = {}
        km = kernel_model(k)
        for ch, (_, (_, l2b, _, ce), (add, floor), skew) in zip(run.chunks,
                                                               _chunk_terms(self, run)):
            u_sm = math.ceil(ch.units / sms)           # units on the busiest SM
            share = u_sm / ch.units
            terms = km.sm_terms(self, run, ch, f, u_sm, share)
            terms["l2"] = l2b * skew / l2bw
            if ce:
                terms["copy_engine"] = ce / cfg.launch.copy_engine_bandwidth
            terms["crossbar"] = ch.req / cfg.crossbar.bandwidth
            terms["dram"] = (ch.miss + ch.wb) / (dbw * self.channel_share(ch.miss + ch.wb))
            if floor:
                terms["latency"] = floor
            body = max(terms.values())
            tot = body + add
            name = max(terms, key=terms.get)
            bound_time[name] = bound_time.get(name, 0.0) + tot
            out.append(tot)
        return out, bound_time

    def channel_share(self, dram_bytes: float) -> float:
        """Fraction of the HBM channels a transfer of `dram_bytes` can keep busy: addresses
        interleave over the channels in granules, so a transfer of fewer granules than there
        are channels engages only that many (channel parallelism; no per-channel queues)."""
        hbm = self.cfg.hbm
        granules = math.ceil(dram_bytes / hbm.interleave) if dram_bytes > 0 else hbm.channels
        return min(1.0, granules / hbm.channels)

    def head_time(self, k: Kernel, run: "_KernelRun | None" = None) -> float:
        """Fixed time of a kernel: setup and drain, one memory round trip to fill the pipes."""
        return kernel_model(k).head(self, k, run)

    def kernel_time(self, run: _KernelRun, f: float) -> float:
        times, _ = self.chunk_times(run, f)
        return self.head_time(run.kernel, run) + sum(times)

    def totals(self, run: _KernelRun) -> dict:
        return {"req": sum(c.req for c in run.chunks), "hit": sum(c.hit for c in run.chunks),
                "miss": sum(c.miss for c in run.chunks), "wb": sum(c.wb for c in run.chunks)}

    def energy_actions(self, run: _KernelRun, tot: dict | None = None) -> dict:
        """A kernel's actions for the energy table: tensor flops, SIMT lane-instructions (the
        FFMA main loop of a SIMT GEMM as `simt_fma`, every other one as `simt_op`), bytes
        requested at L2, bytes to and from DRAM."""
        k = run.kernel
        tot = tot or self.totals(run)
        fma = k.simt_ops if (k.model == "gemm" and k.pipe == "simt") else 0
        return {"tensor_flop": k.tensor_flops, "simt_op": k.simt_ops - fma, "simt_fma": fma,
                "l2_byte": tot["req"], "dram_byte": tot["miss"] + tot["wb"]}

    def sm_share(self, run: _KernelRun) -> float:
        """Share of the SMs that hold the kernel's CTAs (the block scheduler spreads resident
        CTAs over the SMs first); 0 for a copy-engine transfer."""
        if not getattr(kernel_model(run.kernel), "uses_sms", True):
            return 0.0
        return min(1.0, run.concurrent / self.cfg.sm.count)

    def choose_clock(self, run: _KernelRun, limiter=None) -> tuple[float, float, dict]:
        """(clock, kernel time, actions): the highest clock whose power fits under the cap
        (with `limiter`, an archsim.energy.limiter.PowerLimiter: under the cap on the board's
        recent average power, and the fast peak limit; without: the kernel's own power).

        Each chunk's time is max(cycles / f, f-independent seconds) plus latency terms, so
        the terms are worked out once (`_clock_terms`) and the bisection over f evaluates a
        few numpy expressions instead of re-running every chunk formula 30 times."""
        cfg, k = self.cfg, run.kernel
        tot = self.totals(run)
        actions = self.energy_actions(run, tot)
        sm_share = self.sm_share(run)
        fmax = cfg.clocks.tensor_boost if k.tensor_flops else cfg.clocks.boost
        fmax = min(fmax, cfg.clocks.boost)
        cyc, const, floor, add = _clock_terms(self, run)
        head = self.head_time(k, run)

        lower = np.maximum(const, floor)    # max(max(x, a), b) = max(x, max(a, b)): once

        def ktime(f):
            return head + float(np.sum(np.maximum(cyc / f, lower) + add))

        def power(f):
            t = ktime(f)
            return self.energy.kernel_power(actions, f, t, sm_share, head), t

        if limiter is not None:
            f = limiter.clock(power, cfg.clocks.min, fmax)
            return f, ktime(f), actions
        p, t = power(fmax)
        if p <= cfg.power.cap:
            return fmax, t, actions
        lo, hi = cfg.clocks.min, fmax
        for _ in range(30):
            mid = 0.5 * (lo + hi)
            if power(mid)[0] <= cfg.power.cap:
                lo = mid
            else:
                hi = mid
        return lo, ktime(lo), actions

    def prepare(self, program: Program, l2_start: str) -> None:
        """Bind the program's buffers; for a warm start, load inputs and weights into L2."""
        if l2_start not in ("cold", "warm"):
            from archsim.errors import UserError
            raise UserError(f"l2_start must be 'cold' or 'warm', not {l2_start!r}")
        self._bufs = program.buffers
        if l2_start == "warm":
            budget = self.cfg.l2.size
            for name in program.resident:
                buf = program.buffers[name]
                if buf.nbytes > budget:
                    break
                self.l2.access(buf.addr, buf.nbytes, False)
                budget -= buf.nbytes

    # ---- the event-driven run -----------------------------------------------------------------
    def run(self, program: Program, *, l2_start: str = "cold", repeat: int = 1, progress=None,
            flush_l2_per_kernel: bool = False) -> SimResult:
        self.prepare(program, l2_start)
        cfg = self.cfg
        sim = Simulator(self.seed)
        kernels = [(oi, k) for oi, o in enumerate(program.ops) for k in o.kernels]
        n_total = max(1, len(kernels) * repeat)
        state = {"i": 0, "rep": 0, "rep_start": 0, "done": 0}
        records: list[dict] = []
        gap = int(round(cfg.launch.overhead * TICKS_PER_SECOND))
        from archsim.energy.limiter import limiter_for
        pm = limiter_for(cfg, start="idle")   # a rested board; the reported repeat of a
        # repeated run starts in the loop's periodic steady state (pm.new_period below)

        def start_kernel():
            i, rep = state["i"], state["rep"]
            if i >= len(kernels):
                state["rep"] += 1
                state["i"] = 0
                if state["rep"] >= repeat:
                    return
                if state["rep"] == repeat - 1:
                    records.clear()
                    state["rep_start"] = sim.now
                    pm.new_period(sim.now / TICKS_PER_SECOND)
                sim.schedule(0, start_kernel)
                return
            oi, k = kernels[i]
            if flush_l2_per_kernel:
                self.l2.flush()
            run = self.replay(k, program)
            now_s = sim.now / TICKS_PER_SECOND
            if flush_l2_per_kernel:
                pm.reset(now_s)
            else:
                pm.advance(now_s)
            f, t, actions = self.choose_clock(run, pm)
            times, bounds = self.chunk_times(run, f)
            head = self.head_time(k, run)
            pm.set_power(now_s, self.energy.kernel_power(actions, f, t, self.sm_share(run), head))
            scale = t / max(head + sum(times), 1e-30)
            rec = {"oi": oi, "kernel": k, "run": run, "clock": f, "time": t, "actions": actions,
                   "start": sim.now, "bounds": bounds, **self.totals(run)}
            records.append(rec)
            # one event per chunk, at its end time (ticks); the kernel ends after the last one
            tick = int(round(head * scale * TICKS_PER_SECOND))
            for ct in times:
                tick += int(round(ct * scale * TICKS_PER_SECOND))
                sim.schedule(tick, _chunk_done)
            sim.schedule(max(tick, 1), end_kernel, priority=1)

        def _chunk_done():
            sim.counters.add("chunks", 1)

        def end_kernel():
            pm.set_power(sim.now / TICKS_PER_SECOND, cfg.power.idle)
            state["done"] += 1
            if progress is not None:
                progress(min(1.0, state["done"] / n_total))
            state["i"] += 1
            sim.schedule(gap, start_kernel)

        sim.schedule(0, start_kernel)
        sim.run()
        end = sim.now - gap if records else sim.now
        return self._result(program, records, state["rep_start"], max(end, state["rep_start"]),
                            sim, repeat, l2_start)

    def _result(self, program, records, t0, t1, sim, repeat, l2_start) -> SimResult:
        cfg = self.cfg
        ps = 1.0 / TICKS_PER_SECOND
        ops: list[OpResult] = []
        by_op: dict[int, list[dict]] = {}
        for r in records:
            by_op.setdefault(r["oi"], []).append(r)
        e_comp: dict[str, float] = {}
        e_act: dict[str, float] = {}
        busy = 0.0
        tensor_busy = simt_busy = 0.0
        for oi, o in enumerate(program.ops):
            recs = by_op.get(oi, [])
            ker_dicts = []
            op_e = 0.0
            for r in recs:
                k, run = r["kernel"], r["run"]
                comp, act = self.energy.kernel_energy(r["actions"], r["clock"], r["time"],
                                                      self.sm_share(run), self.head_time(k, run))
                for d, src in ((e_comp, comp), (e_act, act)):
                    for key, v in src.items():
                        d[key] = d.get(key, 0.0) + v
                kj = sum(comp.values())
                op_e += kj
                busy += r["time"]
                bound = max(r["bounds"], key=r["bounds"].get) if r["bounds"] else "latency"
                rate = cfg.sm.tensor_flops_per_cycle.get(k.dtype, 4096)
                tensor_busy += k.tensor_flops / (rate * cfg.sm.count * r["clock"])
                simt_busy += k.simt_ops / (cfg.sm.simt_lanes * cfg.sm.count * r["clock"])
                ker_dicts.append({
                    "name": k.name, "grid": list(k.grid), "block": k.block, "ctas": k.ctas,
                    "units": k.units, "waves": run.waves, "ctas_per_sm": run.occ,
                    "time_s": r["time"], "start_s": (r["start"] - t0) * ps,
                    "clock_hz": r["clock"], "dram_read_bytes": int(r["miss"]),
                    "dram_write_bytes": int(r["wb"]), "l2_requested_bytes": int(r["req"]),
                    "l2_hit_bytes": int(r["hit"]),
                    "l2_hit_pct": 100.0 * r["hit"] / r["req"] if r["req"] else 0.0,
                    "energy_j": kj, "bound": bound, "approximate": k.approximate,
                    "tile": k.tile.summary() if k.tile is not None else {},
                })
                if "sms" in r:   # the component machine: where its CTAs ran, on which stream
                    ker_dicts[-1]["sms"] = r["sms"]
                    ker_dicts[-1]["stream"] = r["stream"]
            flops = o.flops
            ops.append(OpResult(
                name=o.op, kind=o.kind,
                start_s=((recs[0]["start"] - t0) * ps) if recs else 0.0,
                time_s=sum(r["time"] for r in recs), flops=flops,
                dram_read_bytes=int(sum(r["miss"] for r in recs)),
                dram_write_bytes=int(sum(r["wb"] for r in recs)),
                l2_hit_bytes=int(sum(r["hit"] for r in recs)),
                l2_miss_bytes=int(sum(r["req"] - r["hit"] for r in recs)),
                energy_j=op_e, kernels=ker_dicts,
                bound=ker_dicts[-1]["bound"] if ker_dicts else ""))
        total = (t1 - t0) * ps
        overlap = _overlap_ticks(records) * ps
        if overlap > 0:
            # kernels of two streams ran at the same time: each kernel's energy counted the
            # board's idle and static power over its own time; count the shared time once
            for d in (e_comp, e_act):
                d["idle"] = d.get("idle", 0.0) - cfg.power.idle * overlap
                d["static"] = d.get("static", 0.0) - cfg.power.static * overlap
            busy -= overlap
        idle_t = max(0.0, total - busy)
        if idle_t > 0:
            e_comp["idle"] = e_comp.get("idle", 0.0) + cfg.power.idle * idle_t
            e_act["idle"] = e_act.get("idle", 0.0) + cfg.power.idle * idle_t
        dram_r = sum(r["miss"] for r in records)
        dram_w = sum(r["wb"] for r in records)
        req = sum(r["req"] for r in records)
        hit = sum(r["hit"] for r in records)
        l2c = self.l2.counters()
        return SimResult(
            machine=cfg.name, time_s=total, cycles=int(round(total * cfg.clocks.boost)),
            clock_hz=cfg.clocks.boost, dram_read_bytes=int(dram_r), dram_write_bytes=int(dram_w),
            l2_hit_bytes=int(hit), l2_miss_bytes=int(req - hit),
            energy_by_component=e_comp, energy_by_action=e_act, ops=ops,
            counters={"kernels": len(records), "l2_requested_bytes": int(req),
                      "l2_writeback_bytes": int(dram_w),
                      "l2_flush_writeback_bytes": int(l2c["flush_writeback"]),
                      "l2_resident_bytes_at_end": int(self.l2.resident_bytes()),
                      "l2_dirty_bytes_at_end": int(self.l2.dirty_bytes()),
                      "chunks": int(sim.counters.get("chunks", 0)) if hasattr(sim.counters, "get") else 0},
            utilization={"sm_busy": busy / total if total else 0.0,
                         "tensor": tensor_busy / total if total else 0.0,
                         "simt": simt_busy / total if total else 0.0,
                         "dram": (dram_r + dram_w) / (cfg.hbm.bandwidth * total) if total else 0.0,
                         "l2": req / (cfg.l2.bandwidth * total) if total else 0.0},
            events=int(sim.events_processed),
            # simulator speed is measured by the caller (the report's "simulator" block), so
            # that everything a model returns is deterministic
            extra={"l2_sample": self.l2.sample, "l2_start": l2_start, "repeat": repeat,
                   "kernel_time_s": busy, "mode": program.mode,
                   "approximate_ops": [o.name for o in ops
                                       if any(k["approximate"] for k in o.kernels)]})


def _overlap_ticks(records) -> int:
    """Ticks during which more than one kernel ran (sum of kernel times minus their union);
    0 for one stream, whose kernels never overlap."""
    iv = sorted((r["start"], r["end"]) for r in records if "end" in r)
    total = union = 0
    cur_s = cur_e = None
    for a, b in iv:
        total += b - a
        if cur_e is None or a > cur_e:
            if cur_e is not None:
                union += cur_e - cur_s
            cur_s, cur_e = a, b
        else:
            cur_e = max(cur_e, b)
    if cur_e is not None:
        union += cur_e - cur_s
    return total - union


def _volume(program: Program) -> int:
    v = 0
    for k in program.kernels:
        v += kernel_model(k).volume(k)
    return v


def run_program(program: Program, cfg, *, l2_start: str = "cold", repeat: int = 1, seed: int = 0,
                progress=None, flush_l2_per_kernel: bool = False, engine: str = "components",
                monitors=None, l2_impl=None, backend: str | None = None,
                checkpoint: dict | None = None) -> SimResult | None:
    """Simulate `program` on GPU `cfg`; the last of `repeat` back-to-back runs is reported.

    checkpoint: {"after": N, "path": P, "meta": {...}} stops after N events, writes the machine
    (and `meta`, the caller's run options) to P and returns None (or the result if the run
    ended first); {"resume": P} loads P into a freshly built machine and runs it to the end
    (the component engine only: archsim.hw.gpu.machine).

    engine "components" (default) runs the component machine (archsim.hw.gpu.machine);
    "formula" the closed-form chunk sequence it reproduces (kept as the reference in tests).
    l2_impl: the cache class of the L2 instead of the compiled one (PyCache: same answers);
    backend: the event engine ("cython" or "python").
    l2_start "cold": the L2 starts empty; "warm": graph inputs and weights start resident as far
    as capacity allows (as after earlier runs). flush_l2_per_kernel: write back and invalidate
    the L2 before every kernel, as Nsight Compute does by default (--cache-control all) when it
    measures kernels one by one.
    """
    repeat = max(1, int(repeat))
    model = make_model(program, cfg, repeat=repeat, seed=seed, l2_impl=l2_impl)
    if engine == "formula":
        return model.run(program, l2_start=l2_start, repeat=repeat, progress=progress,
                         flush_l2_per_kernel=flush_l2_per_kernel)
    if engine != "components":
        from archsim.errors import UserError
        raise UserError(f"GPU engine must be 'components' or 'formula', not {engine!r}")
    from archsim.hw.gpu.machine import resume_machine, run_machine
    kw = dict(l2_start=l2_start, repeat=repeat, progress=progress,
              flush_l2_per_kernel=flush_l2_per_kernel, monitors=monitors, backend=backend)
    if checkpoint and checkpoint.get("resume"):
        return resume_machine(model, program, checkpoint["resume"], **kw)
    if checkpoint:
        return run_machine(model, program, checkpoint_after=int(checkpoint["after"]),
                           checkpoint_path=checkpoint["path"],
                           checkpoint_meta=checkpoint.get("meta"), **kw)
    return run_machine(model, program, **kw)


def make_model(program: Program, cfg, *, repeat: int = 1, seed: int = 0,
               l2_impl=None) -> GpuModel:
    """A GpuModel with the L2 address sampling this program's volume calls for."""
    vol = _volume(program) * repeat
    sample = min(SAMPLE_CAP, _pow2_at_least(vol / SAMPLE_VOLUME)) if vol > SAMPLE_VOLUME else 1
    return GpuModel(cfg, sample=sample, seed=seed, l2_impl=l2_impl)


# ---- per-chunk cost terms shared by the clock choice and the component machine -------------------

def _mem_bytes(model, run, ch) -> tuple[float, float, float, float]:
    """(crossbar, L2, DRAM, copy-engine) bytes of a chunk."""
    km = kernel_model(run.kernel)
    return ch.req, km.l2_bytes(model, run, ch), ch.miss + ch.wb, km.ce_bytes(model, run, ch)


def _clock_terms(model: GpuModel, run: _KernelRun):
    """Per chunk: busiest-SM cycles, f-independent seconds, latency floor, latency added."""
    cfg = model.cfg
    sms = cfg.sm.count
    n = len(run.chunks)
    cyc, const, floor, add = (np.zeros(n) for _ in range(4))
    km = kernel_model(run.kernel)
    for j, (ch, ((pipe, per, lsu, lsu_s), (xb, l2, dram, ce), lat, skew)) in enumerate(
            zip(run.chunks, _chunk_terms(model, run))):
        u_sm = math.ceil(ch.units / sms)
        pc = km.pipe_cycles(cfg.sm, run, ch, u_sm, per)
        cyc[j] = max(pc, u_sm * lsu)
        mem = max(l2 * skew / cfg.l2.bandwidth, xb / cfg.crossbar.bandwidth,
                  dram / (cfg.hbm.bandwidth * model.channel_share(dram)),
                  ce / cfg.launch.copy_engine_bandwidth, u_sm * lsu_s)
        const[j] = mem
        add[j], floor[j] = lat
    return cyc, const, floor, add


def _chunk_terms(model: GpuModel, run: _KernelRun) -> list:
    """Per chunk: (km.coeffs, _mem_bytes, km.latency, slice skew), worked out once per run
    (the chunks do not change after the replay)."""
    if run.terms is None or len(run.terms) != len(run.chunks):
        km = kernel_model(run.kernel)
        run.terms = [(km.coeffs(model, run, ch), _mem_bytes(model, run, ch),
                      km.latency(model, run, ch), ch.slice_skew()) for ch in run.chunks]
    return run.terms


class ChunkCosts:
    """Everything the component machine needs to run one kernel's chunks at clock f (plain
    data: picklable for checkpoints)."""

    def __init__(self, model: GpuModel, run: _KernelRun, f: float):
        k = run.kernel
        self.f = f
        self.head = model.head_time(k, run)
        n = len(run.chunks)
        self.units = np.array([c.units for c in run.chunks], np.int64)
        self.req = np.array([c.req for c in run.chunks], float)
        self.hit = np.array([c.hit for c in run.chunks], float)
        self.xbar, self.l2, self.dram, self.ce = (np.zeros(n) for _ in range(4))
        # per chunk and L2 slice: share of the chunk's L2 bytes, and hit / miss bytes (signals)
        ns = model.l2.nslices
        self.l2_frac = np.full((n, ns), 1.0 / ns)
        self.slice_hit, self.slice_miss = np.zeros((n, ns)), np.zeros((n, ns))
        self.lat_add, self.lat_floor = np.zeros(n), np.zeros(n)
        self.per, self.lsu, self.lsu_s = np.zeros(n), np.zeros(n), np.zeros(n)
        self.pipe = "simt"
        km = kernel_model(k)
        for j, (ch, (co, mb, lat, _)) in enumerate(zip(run.chunks, _chunk_terms(model, run))):
            self.pipe, self.per[j], self.lsu[j], self.lsu_s[j] = co
            self.xbar[j], self.l2[j], self.dram[j], self.ce[j] = mb
            self.lat_add[j], self.lat_floor[j] = lat
            if ch.slice_req is not None and ch.slice_req.sum() > 0:
                self.l2_frac[j] = ch.slice_req / ch.slice_req.sum()
                self.slice_miss[j] = ch.slice_miss
                self.slice_hit[j] = ch.slice_req - ch.slice_miss
        self.uses_sms = km.uses_sms
        self.model_name = k.model
        self.nonlinear = km.nonlinear(k)
        self.chain = km.chain_cycles(model.cfg.sm, run) if not self.nonlinear else 0.0
        self.occ = max(1, run.occ)
        self._sm, self._run = model.cfg.sm, run
        # the first chunk of the last wave: from then on every CTA of the kernel is dispatched
        # (K-range chunks of a GEMM wave each span the whole wave's units: count them by wave
        # index, not by summing `waves`, or a multi-wave GEMM looks fully dispatched after a
        # few chunks of its first wave and FIFO starts the next kernel beside it early)
        full = max(run.waves - 1, 0)
        if full and n and all(c.wave >= 0 for c in run.chunks):
            self.last_wave_chunk = next(j for j, c in enumerate(run.chunks) if c.wave >= full)
        else:
            cw = np.cumsum([c.waves for c in run.chunks]) if n else np.zeros(0)
            self.last_wave_chunk = (int(np.searchsorted(cw, full - 1e-9, side="right"))
                                    if full else 0)
        bufs = getattr(model, "_bufs", {})
        first = next((bufs[a.buffer].addr for a in k.accesses if a.buffer in bufs), 0)
        self.first_channel = int(first // model.cfg.hbm.interleave) % int(model.cfg.hbm.channels)

    def sm_times(self, u: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """sm_time(j, u) for every chunk j at once (rows), for a model whose pipe time is
        linear in units: the same element-wise operations, so the same ticks."""
        ps, f = float(TICKS_PER_SECOND), self.f
        pc = u[None, :] * self.per[:, None]
        if self.chain > 0.0:
            pc = np.maximum(pc, (np.ceil(u / self.occ) * self.chain)[None, :])
        pipe = np.ceil(pc / f * ps).astype(np.int64)
        lsu = np.ceil(np.maximum(u[None, :] * self.lsu[:, None] / f,
                                 u[None, :] * self.lsu_s[:, None]) * ps).astype(np.int64)
        return pipe, lsu

    def sm_time(self, j: int, u: np.ndarray, units: int | None = None
                ) -> tuple[np.ndarray, np.ndarray]:
        """Ticks on the SM's main pipe and on its load path for u units of chunk j (per-unit
        costs are the chunk's: bytes per unit stay those of the whole chunk)."""
        ps, f = float(TICKS_PER_SECOND), self.f
        km = KERNEL_MODELS[self.model_name]
        if self.nonlinear:
            ch = self._run.chunks[j]
            pc = np.array([km.pipe_cycles(self._sm, self._run, ch, int(x), self.per[j])
                           for x in u])
        else:
            pc = u * self.per[j]
            if self.chain > 0.0:   # the dependent warp chain of each round of resident CTAs
                pc = np.maximum(pc, np.ceil(u / self.occ) * self.chain)
        pipe = np.ceil(pc / f * ps).astype(np.int64)
        lsu = np.ceil(np.maximum(u * self.lsu[j] / f, u * self.lsu_s[j]) * ps).astype(np.int64)
        return pipe, lsu


def chunk_costs(model: GpuModel, run: _KernelRun, f: float) -> ChunkCosts:
    return ChunkCosts(model, run, f)
