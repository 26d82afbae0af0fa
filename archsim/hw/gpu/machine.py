"""The GPU as components on the message layer (archsim.engine.component).

Components (names are also their signal prefixes):

    gs        GridScheduler: streams of kernels, a pluggable arbiter (registered by name),
              CTA dispatch to SMs by occupancy (threads, registers, shared memory, CTA slots)
    sm[i]     SM: resident CTAs and free resources; three pipes (tensor, simt, lsu) with
              busy-until state; signals simt_busy, tensor_busy, mem_outstanding, ctas
    xbar      the crossbar between SMs and L2 slices (bandwidth server)
    l2[s]     L2 slices: bandwidth servers; hits/misses from the functional L2 (the shared
              cache component archsim.hw.cache as GpuL2: the slices' tag state); each line
              is served by one slice (address hash), and a chunk's bytes go to the slices in
              the proportions its lines did, so a skewed stream queues on few slices
    hbm       HBM channels, each with its own queue (busy-until per channel); a bundle's bytes
              go to the channels its address interleave granules map to, so a skewed stream
              queues on few channels
    ce        the copy engine (dma kernels)

Granularity (the modelling choice; see README.md): a running kernel advances *chunk by
chunk* — a chunk is a range of K-steps of every tile of a wave (GEMM, attention) or a group of
work units (streams) — as one event per chunk. At a chunk's start every SM holding the
kernel's CTAs reserves its pipes for its own units (time from the calibrated per-pipe
formulas of model.py), and the chunk's line bundle is offered to the crossbar, the L2 slices
and the HBM channels as reservations (the fluid form of a link: the same finish time as
back-to-back line messages, without an event per line). The chunk ends when the slowest SM
and the slowest memory level are done, plus the dependent-latency terms. For a kernel running
alone this reproduces the calibrated closed form exactly; two kernels on two streams share SM
pipes, SMs and link bandwidth, and their times come out of that sharing.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

import numpy as np

from archsim.engine import TICKS_PER_SECOND
from archsim.engine.component import Link, Machine, Node
from archsim.errors import UserError
from archsim.hw.gpu.kernels import kernel_model
from archsim.hw.gpu.model import GpuModel, chunk_costs
from archsim.lower.program import Program
from archsim.lower.vendor import occupancy

PS = TICKS_PER_SECOND
# L2 slices per partition: each line is served by one slice (an address hash, archsim.hw.gpu.l2),
# and a chunk's bundle goes to the slices in the proportions its lines did
from archsim.hw.gpu.l2 import SLICES_PER_PARTITION as L2_SLICES_PER_PARTITION  # noqa: E402

# ---- arbiters: registered by name next to their definition ------------------------------------
ARBITERS: dict[str, Callable] = {}


def register_arbiter(name: str):
    def deco(fn):
        ARBITERS[name] = fn
        return fn
    return deco


@register_arbiter("fifo")
def fifo_arbiter(ready: list, active: list) -> int | None:
    """Today's hardware: one FIFO over kernels in launch order; the next kernel dispatches
    only after every earlier one has dispatched all its CTAs. Returns an index into `ready`."""
    if any(not a.dispatched_all for a in active):
        return None
    return 0 if ready else None


@dataclass(frozen=True)
class SmSpec:
    threads: int
    registers: int
    smem: int
    ctas: int


class Sm(Node):
    """One SM: its signals. Its free resources (threads, registers, shared memory, CTA slots)
    and pipe busy-until times live in the machine's per-SM arrays, so dispatch and chunk
    reservations over all SMs are vectorised; the arrays are plain state (checkpointed)."""

    def __init__(self, machine, i: int, spec: SmSpec):
        super().__init__(machine, f"sm[{i}]", spec, None)
        bus = machine.signals
        self.sig_simt = bus.declare(f"sm[{i}].simt_busy")
        self.sig_tensor = bus.declare(f"sm[{i}].tensor_busy")
        self.sig_mem = bus.declare(f"sm[{i}].mem_outstanding", width=48, unit="bytes")
        self.sig_ctas = bus.declare(f"sm[{i}].ctas", width=8)


class _Server(Node):
    """A bandwidth server (crossbar, L2 slice, copy engine): its link is used in fluid form."""

    def __init__(self, machine, name, bytes_per_tick, pulses=()):
        super().__init__(machine, name, None, {"bytes": 0})
        # the SMs' link into this server, used in fluid form (Link.reserve) by the chunks
        self.link = Link(machine, f"{name}.in", "sm", name, bandwidth=bytes_per_tick)
        self.sigs = {p: machine.signals.declare(f"{name}.{p}", kind="pulse", width=48,
                                                unit="bytes")
                     for p in pulses}


class Hbm(Node):
    """HBM channels with their own queues: busy-until per channel."""

    def __init__(self, machine, cfg):
        hbm = cfg.hbm
        self.channels = int(hbm.channels)
        self.interleave = int(hbm.interleave)
        self.bpt = hbm.bandwidth / self.channels / PS      # bytes per tick per channel
        super().__init__(machine, "hbm", None, {"free": np.zeros(self.channels, np.int64),
                                                "bytes": 0})
        bus = machine.signals
        self.sig_busy = [bus.declare(f"hbm[{c}].busy") for c in range(self.channels)]
        self.sig_queue = [bus.declare(f"hbm[{c}].queue", width=48, unit="bytes")
                          for c in range(self.channels)]
        self.watch = False
        self._all = np.arange(self.channels)

    def load_state(self, st):
        self.state = {"free": np.array(st["free"], np.int64), "bytes": st["bytes"]}

    def reserve(self, t: int, nbytes: float, first_channel: int) -> int:
        if nbytes <= 0:
            return t
        C = self.channels
        granules = math.ceil(nbytes / self.interleave)
        engaged = min(C, granules)
        per = nbytes / engaged
        dur = int(math.ceil(per / self.bpt))
        free = self.state["free"]
        self.state["bytes"] += nbytes
        if engaged == C and not self.watch:
            # every channel, no signal watched: the same update in place
            np.maximum(free, t, out=free)
            free += dur
            return int(free.max())
        idx = (first_channel + self._all[:engaged]) % C if engaged < C else slice(None)
        sub = free[idx]
        start = np.maximum(sub, t)
        end = start + dur
        free[idx] = end
        if self.watch:
            chans = range(C) if engaged == C else [(first_channel + j) % C for j in range(engaged)]
            for j, c in enumerate(chans):
                st0, en = int(start[j]), int(end[j])
                b, q = self.sig_busy[c], self.sig_queue[c]
                b.set(st0, 1)
                q.set(t, int((en - t) * self.bpt))
                # the fall is stamped at its own (future) time; the next bundle on this channel
                # starts no earlier, so every signal's times stay in order
                b.set(en, 0)
                q.set(en, 0)
        return int(end.max())


class KernelExec:
    """Runtime state of one dispatched kernel (plain data)."""

    def __init__(self, idx, stream, oi, kernel, run, clock, costs, start):
        self.idx = idx
        self.stream = stream
        self.oi = oi
        self.kernel = kernel
        self.run = run
        self.clock = clock
        self.costs = costs
        self.start = start
        self.chunk = 0
        self.sms = None              # SM indices holding this kernel's CTAs (one per CTA)
        self.want = 0                # CTAs it would hold on an idle GPU
        self.rem = 1.0               # part of the current chunk still to run
        self.ucache = {}             # (units, CTAs) -> (SMs used, units per SM)
        self.dispatched_all = False
        self.record = None


class GridScheduler(Node):
    def __init__(self, machine, arbiter: str):
        if arbiter not in ARBITERS:
            raise UserError(f"unknown arbiter {arbiter!r}; registered: {sorted(ARBITERS)}")
        super().__init__(machine, "gs", arbiter, None)
        self.arbiter = ARBITERS[arbiter]
        self.sig_kernel = machine.signals.declare("kernel.active", width=32)


class GpuMachine(Machine):
    """A GPU config as components running one Program (or several streams of kernels)."""

    def __init__(self, cfg, program: Program, *, model: GpuModel, streams=None, repeat: int = 1,
                 arbiter: str = "fifo", flush_l2_per_kernel: bool = False, progress=None,
                 seed: int = 0, backend: str | None = None):
        super().__init__(seed, backend=backend)
        self.cfg = cfg
        self.program = program
        self.model = model
        self.flush = flush_l2_per_kernel
        self.progress = progress
        self.repeat = repeat
        sm = cfg.sm
        spec = SmSpec(sm.max_threads, sm.registers, sm.shared_memory, sm.max_ctas)
        self.sms = [Sm(self, i, spec) for i in range(sm.count)]
        self.nsm = sm.count
        self.gs = GridScheduler(self, arbiter)
        self.xbar = _Server(self, "xbar", cfg.crossbar.bandwidth / PS, ("bytes",))
        self.nslices = model.l2.nslices     # partitions x L2_SLICES_PER_PARTITION
        self.slices = [_Server(self, f"l2[{s}]", cfg.l2.bandwidth / self.nslices / PS,
                               ("hit", "miss")) for s in range(self.nslices)]
        # the slices' busy-until times, one array (every chunk spreads over all slices)
        self.l2_busy = np.zeros(self.nslices, np.int64)
        self.l2_bytes = 0.0
        self.hbm = Hbm(self, cfg)
        self.ce = _Server(self, "ce", cfg.launch.copy_engine_bandwidth / PS, ("bytes",))
        self.gap = int(round(cfg.launch.overhead * PS))
        # per-SM pipe busy-until (ticks) and per-SM last signalled time
        self.busy = {p: np.zeros(self.nsm, np.int64) for p in ("tensor", "simt", "lsu")}
        n = self.nsm
        self.free = {"threads": np.full(n, spec.threads, np.int64),
                     "regs": np.full(n, spec.registers, np.int64),
                     "smem": np.full(n, spec.smem, np.int64),
                     "ctas": np.full(n, spec.ctas, np.int64)}
        self.resident = np.zeros(n, np.int64)
        self.sm_actions = {"tensor_flop": 0, "simt_op": 0}
        if streams is None:
            streams = [[(oi, k) for oi, o in enumerate(program.ops) for k in o.kernels]]
        self.streams = streams
        st = self.gs
        st.state = {
            "pos": [0] * len(streams), "rep": [0] * len(streams), "ready": [], "active": [],
            "records": [], "rep_start": 0, "done": 0, "next_idx": 0, "end": 0,
            "launch_seq": 0,
        }
        self.n_total = max(1, sum(len(s) for s in streams) * repeat)
        # the board power limiter (archsim.energy.limiter): a run starts on a rested board; a
        # repeated run's reported repeat starts in the loop's periodic steady state
        # (`_reported_run_begins`); Nsight-style per-kernel replays rest it before each kernel
        from archsim.energy.limiter import limiter_for
        self.pm = limiter_for(cfg, start="idle")
        self.kernel_power = {}       # idx -> board power while that kernel runs

    # ---- checkpoint of machine-level state ---------------------------------------------------
    def save_extra(self):
        return {"busy": {p: a.copy() for p, a in self.busy.items()},
                "free": {p: a.copy() for p, a in self.free.items()},
                "resident": self.resident.copy(), "l2": self.model.l2.get_state(),
                "l2_busy": self.l2_busy.copy(), "l2_bytes": self.l2_bytes,
                "sm_actions": dict(self.sm_actions), "pm": self.pm.state(),
                "kernel_power": dict(self.kernel_power)}

    def load_extra(self, extra):
        self.busy = {p: np.array(a, np.int64) for p, a in extra["busy"].items()}
        self.free = {p: np.array(a, np.int64) for p, a in extra["free"].items()}
        self.resident = np.array(extra["resident"], np.int64)
        self.l2_busy = np.array(extra["l2_busy"], np.int64)
        self.l2_bytes = extra["l2_bytes"]
        self.sm_actions = dict(extra["sm_actions"])
        if "pm" in extra:
            self.pm.load(extra["pm"])
            self.kernel_power = {int(k): v for k, v in extra["kernel_power"].items()}
        self.model.l2.set_state(extra["l2"])

    # ---- stream control ----------------------------------------------------------------------
    def start(self):
        self.watch()
        for s in range(len(self.streams)):
            if self.streams[s]:
                self.post(0, "gs_ctl", "launch", s)

    def launch(self, s: int):
        """Stream s puts its next kernel in the ready queue."""
        if self._wrap(s):
            self._launch_kernel(s)

    def _wrap(self, s: int) -> bool:
        """At the end of stream s, start its next run of the workload; False once all `repeat`
        runs are done. The last run is the one reported (`_reported_run_begins`)."""
        st = self.gs.state
        if st["pos"][s] >= len(self.streams[s]):
            st["rep"][s] += 1
            st["pos"][s] = 0
            if st["rep"][s] >= self.repeat:
                return False
            if s == 0 and st["rep"][s] == self.repeat - 1:
                self._reported_run_begins()
        return True

    def _reported_run_begins(self):
        st = self.gs.state
        st["records"].clear()
        st["rep_start"] = self.now
        self.pm.new_period(self.now / PS)

    def _launch_kernel(self, s: int):
        st = self.gs.state
        oi, k = self.streams[s][st["pos"][s]]
        st["ready"].append((st["launch_seq"], s, oi, k))
        st["launch_seq"] += 1
        self.arbitrate()

    def arbitrate(self):
        st = self.gs.state
        while st["ready"]:
            i = self.gs.arbiter(st["ready"], st["active"])
            if i is None:
                return
            _, s, oi, k = st["ready"][i]
            if not self._dispatch(s, oi, k):
                return
            st["ready"].pop(i)

    def _dispatch(self, s, oi, k) -> bool:
        st = self.gs.state
        m = self.model
        sms = None
        if kernel_model(k).uses_sms:
            # place CTAs first: a kernel that finds no free slot stays queued, and its
            # functional pass through the L2 runs only once it really starts
            self._check_fits(k)
            occ = occupancy(k.block, k.regs_per_thread, k.smem, self.cfg)
            want = max(1, min(k.units, k.ctas, occ * self.nsm))
            sms = self._place(k, want)
            if not sms.size:
                return False
        if self.flush:
            m.l2.flush()
        run = m.replay(k, self.program)
        now_s = self.now / PS
        if self.flush:
            self.pm.reset(now_s)
        else:
            self.pm.advance(now_s)
        f, t, actions = m.choose_clock(run, self.pm)
        costs = chunk_costs(m, run, f)
        ex = KernelExec(st["next_idx"], s, oi, k, run, f, costs, self.now)
        # board power: the highest of the running kernels' (each includes idle and static)
        self.kernel_power[ex.idx] = m.energy.kernel_power(actions, f, t, m.sm_share(run),
                                                          m.head_time(k, run))
        self.pm.set_power(now_s, max(self.kernel_power.values()))
        if sms is not None:
            ex.sms = sms
            ex.want = run.concurrent
        st["next_idx"] += 1
        times, bounds = m.chunk_times(run, f)
        ex.record = {"oi": oi, "kernel": k, "run": run, "clock": f, "time": 0.0,
                     "actions": actions, "start": self.now, "bounds": bounds, **m.totals(run),
                     "stream": s, "idx": ex.idx, "est_time": t}
        ex.dispatched_all = run.waves <= 1
        st["active"].append(ex)
        self.gs.sig_kernel.set(self.now, ex.idx + 1)
        self._signal_ctas(ex)
        head = int(round(costs.head * PS))
        self.post(head, "gs_ctl", "chunk_start", ex.idx)
        return True

    def _check_fits(self, k) -> None:
        """A CTA that does not fit an empty SM would wait forever: refuse it by name."""
        sm = self.cfg.sm
        for what, need, have in (("threads", k.block, sm.max_threads),
                                 ("registers", k.block * k.regs_per_thread, sm.registers),
                                 ("shared memory (bytes)", k.smem, sm.shared_memory)):
            if need > have:
                raise UserError(f"kernel {k.name} (op {k.op}) needs {need} {what} per CTA but an "
                                f"SM of {self.cfg.name} has {have}; the lowering chose a launch "
                                f"this machine cannot run")

    def _need(self, k):
        return {"threads": k.block, "regs": k.block * k.regs_per_thread, "smem": k.smem,
                "ctas": 1}

    def _place(self, k, want: int) -> np.ndarray:
        """Dispatch up to `want` CTAs breadth-first over SMs (one per SM per round, as the
        hardware's CTA distributor does), each SM taking at most the kernel's occupancy and
        what its free resources allow; returns the SM of every placed CTA, in dispatch order."""
        occ = occupancy(k.block, k.regs_per_thread, k.smem, self.cfg)
        cap = np.full(self.nsm, occ, np.int64)
        for r, need in self._need(k).items():
            if need > 0:
                cap = np.minimum(cap, self.free[r] // need)
        order = []
        placed = 0
        for r in range(int(cap.max(initial=0))):
            sms = np.nonzero(cap > r)[0]
            if placed + sms.size > want:
                sms = sms[: want - placed]
            order.append(sms)
            placed += sms.size
            if placed >= want:
                break
        if not placed:
            return np.zeros(0, np.int64)
        order = np.concatenate(order)
        cnt = np.bincount(order, minlength=self.nsm)
        for r, need in self._need(k).items():
            self.free[r] -= cnt * need
        self.resident += cnt
        return order

    def _find(self, idx) -> KernelExec:
        for ex in self.gs.state["active"]:
            if ex.idx == idx:
                return ex
        raise RuntimeError(f"kernel {idx} is not active")

    def _signal_ctas(self, ex):
        if ex.sms is None:
            return
        if not self._watch_ctas:
            return
        now = self.now
        for i in np.unique(ex.sms).tolist():
            self.sms[i].sig_ctas.set(now, int(self.resident[i]))

    # ---- one chunk ---------------------------------------------------------------------------
    def chunk_start(self, idx: int):
        """Start (the next part of) the kernel's current chunk.

        A kernel holding fewer CTAs than it would on an idle GPU (it started beside another
        kernel) runs the part of the chunk its CTAs cover, n / want of it, and the rest in the
        following event, by when more CTAs may have found a slot."""
        ex = self._find(idx)
        c = ex.costs
        j = ex.chunk
        now = self.now
        n = ex.sms.size if ex.sms is not None else 0
        first = ex.rem >= 1.0
        phi = ex.rem if (ex.sms is None or n >= ex.want) else min(ex.rem, n / ex.want)
        # memory: the chunk's bundle through the crossbar, the L2 slices and HBM channels
        mem_end = now
        xb = c.xbar[j] * phi
        if xb > 0:
            mem_end = max(mem_end, self.xbar.link.reserve(now, xb))
            self.xbar.state["bytes"] += xb
            s = self.xbar.sigs["bytes"]
            if s.subscribed:
                s.pulse(now, int(xb))
        if c.l2[j] > 0:
            # each slice takes the bytes of the lines that hash to it: a skewed bundle queues
            # on few slices (ticks rounded up per slice, as Link.transfer_ticks does)
            if phi == 1.0:
                # a whole chunk: every chunk's per-slice ticks, worked out once per kernel
                # (the same expression as below, over all chunks at once)
                dur = c.__dict__.get("l2_ticks")
                if dur is None:
                    dur = c.l2_ticks = np.ceil(
                        c.l2[:, None] * c.l2_frac / self.slices[0].link.spec.bandwidth
                    ).astype(np.int64)
                dur = dur[j]
            else:
                per = c.l2[j] * phi * c.l2_frac[j]
                dur = np.ceil(per / self.slices[0].link.spec.bandwidth).astype(np.int64)
            lb = self.l2_busy
            np.maximum(lb, now, out=lb)
            lb += dur
            mem_end = max(mem_end, int(lb.max()))
            self.l2_bytes += c.l2[j] * phi
            if self._watch_l2:
                for s, sl in enumerate(self.slices):
                    if sl.sigs["hit"].subscribed:
                        sl.sigs["hit"].pulse(now, int(c.slice_hit[j, s] * phi))
                    if sl.sigs["miss"].subscribed:
                        sl.sigs["miss"].pulse(now, int(c.slice_miss[j, s] * phi))
        if c.dram[j] > 0:
            mem_end = max(mem_end, self.hbm.reserve(now, c.dram[j] * phi, c.first_channel))
        if c.ce[j] > 0:
            mem_end = max(mem_end, self.ce.link.reserve(now, c.ce[j] * phi))
            self.ce.state["bytes"] += c.ce[j] * phi
        # SMs: each SM's pipes for its own units of the chunk
        sm_end = now
        if n:
            units = int(c.units[j]) if phi >= 1.0 else max(1, int(round(c.units[j] * phi)))
            # units of the chunk over the kernel's CTAs, CTA by CTA (breadth-first order)
            hit = ex.ucache.get((units, n))
            if hit is None:
                per_cta = np.full(n, units // n, np.int64)
                per_cta[: units % n] += 1
                u_sm = np.bincount(ex.sms, weights=per_cta, minlength=self.nsm)
                used = np.nonzero(u_sm)[0]
                hit = ex.ucache[(units, n)] = (used, u_sm[used])
            used, u = hit
            if c.nonlinear:
                pipe_t, lsu_t = c.sm_time(j, u, units)     # ticks per SM (arrays)
            else:
                # every chunk's ticks for these units per SM, worked out once (sm_times)
                mats = ex.__dict__.setdefault("smcache", {}).get((units, n))
                if mats is None:
                    mats = ex.smcache[(units, n)] = c.sm_times(u)
                pipe_t, lsu_t = mats[0][j], mats[1][j]
            pipe = self.busy[c.pipe]
            lsu = self.busy["lsu"]
            if used.size == self.nsm and not self._watch:
                # every SM, in order, and no SM signal watched: the same update in place
                np.maximum(pipe, now, out=pipe)
                pipe += pipe_t
                np.maximum(lsu, now, out=lsu)
                lsu += lsu_t
                sm_end = int(max(pipe.max(), lsu.max()))
            else:
                p0 = np.maximum(pipe[used], now)
                l0 = np.maximum(lsu[used], now)
                pe = p0 + pipe_t
                le = l0 + lsu_t
                pipe[used] = pe
                lsu[used] = le
                sm_end = int(max(pe.max(), le.max()))
                self._signal_sms(used, p0, pe, c.pipe, now, sm_end, c.req[j] * phi, u, units)
        body_end = max(sm_end, mem_end)
        lat_add = int(round(c.lat_add[j] * PS)) if first else 0
        floor_end = now + int(round(c.lat_floor[j] * PS)) if first else now
        end = max(body_end + lat_add, floor_end)
        ex.rem -= phi
        if ex.rem <= 1e-9:
            ex.rem = 1.0
            ex.chunk += 1
        if not ex.dispatched_all and ex.chunk >= c.last_wave_chunk:
            ex.dispatched_all = True
            self.post(0, "gs_ctl", "rearbitrate")
        if ex.chunk >= len(c.units):
            self.post_at(max(end, now + 1), "gs_ctl", "kernel_end", idx, priority=1)
        else:
            self.post_at(max(end, now + 1), "gs_ctl", "chunk_start", idx)

    def _signal_sms(self, used, p0, pe, pipe, now, end, req, u, units):
        if not self._sm_watch():
            return
        for n, i in enumerate(used.tolist()):
            sm = self.sms[i]
            sig = sm.sig_tensor if pipe == "tensor" else sm.sig_simt
            if sig.subscribed:
                sig.set(int(p0[n]), 1)
                sig.set(int(pe[n]), 0)
            if sm.sig_mem.subscribed:
                sm.sig_mem.set(now, int(req * u[n] / max(units, 1)))
                sm.sig_mem.set(end, 0)

    def _sm_watch(self) -> bool:
        return self._watch

    def watch(self) -> None:
        """Note which signal groups have subscribers (monitors attach before the run starts),
        so unwatched groups cost one flag test per chunk."""
        self._watch = any(s.sig_tensor.subscribed or s.sig_simt.subscribed or
                          s.sig_mem.subscribed for s in self.sms)
        self._watch_ctas = any(s.sig_ctas.subscribed for s in self.sms)
        self._watch_l2 = any(sl.sigs["hit"].subscribed or sl.sigs["miss"].subscribed
                             for sl in self.slices)
        self.hbm.watch = any(s.subscribed for s in self.hbm.sig_busy + self.hbm.sig_queue)

    def rearbitrate(self):
        self.arbitrate()

    def component_actions(self) -> dict:
        """Each component's own action counts over the whole run (all repeats): the SMs' pipe
        work, the crossbar's, the L2 slices' and the HBM channels' bytes (energy vocabulary of
        archsim.energy)."""
        sm = self.sm_actions
        return {"sm": {"tensor_flop": sm["tensor_flop"], "simt_op": sm["simt_op"]},
                "xbar": {"noc_byte": int(round(self.xbar.state["bytes"]))},
                "l2": {"l2_byte": int(round(self.l2_bytes))},
                "hbm": {"dram_byte": int(round(self.hbm.state["bytes"]))},
                "ce": {"dram_byte": 0, "noc_byte": int(round(self.ce.state["bytes"]))}}

    def kernel_end(self, idx: int):
        ex = self._find(idx)
        st = self.gs.state
        st["active"].remove(ex)
        self.kernel_power.pop(ex.idx, None)
        self.pm.set_power(self.now / PS, max(self.kernel_power.values(),
                                             default=self.cfg.power.idle))
        k = ex.kernel
        if ex.sms is not None:
            cnt = np.bincount(ex.sms, minlength=self.nsm)
            for r, need in self._need(k).items():
                self.free[r] += cnt * need
            self.resident -= cnt
            self._signal_ctas(ex)
            # CTAs still waiting for a slot (kernels that started beside this one) take the
            # freed resources now, as the CTA distributor would
            for other in st["active"]:
                if other.sms is not None and other.sms.size < other.want:
                    more = self._place(other.kernel, other.want - other.sms.size)
                    if more.size:
                        other.sms = np.concatenate([other.sms, more])
                        self._signal_ctas(other)
        rec = ex.record
        self.sm_actions["tensor_flop"] += k.tensor_flops
        self.sm_actions["simt_op"] += k.simt_ops
        rec["time"] = (self.now - ex.start) / PS
        rec["end"] = self.now
        rec["sms"] = _ranges(np.unique(ex.sms)) if ex.sms is not None else []
        st["records"].append(rec)
        st["done"] += 1
        st["end"] = max(st["end"], self.now)
        self.gs.sig_kernel.set(self.now, max((a.idx for a in st["active"]), default=-1) + 1)
        if self.progress is not None:
            self.progress(min(1.0, st["done"] / self.n_total))
        st["pos"][ex.stream] += 1
        self.post(self.gap, "gs_ctl", "launch", ex.stream)
        self.arbitrate()


def _ranges(ids: np.ndarray) -> list[list[int]]:
    """Sorted SM ids as [first, last] runs (most kernels hold every SM: one run)."""
    out: list[list[int]] = []
    for i in ids.tolist():
        if out and out[-1][1] == i - 1:
            out[-1][1] = i
        else:
            out.append([i, i])
    return out


class _Control(Node):
    """Routes the scheduler's named events to the machine (events name a component + method)."""

    def __init__(self, machine):
        super().__init__(machine, "gs_ctl", None, None)

    def launch(self, s):
        self.machine.launch(s)

    def chunk_start(self, idx):
        self.machine.chunk_start(idx)

    def kernel_end(self, idx):
        self.machine.kernel_end(idx)

    def rearbitrate(self):
        self.machine.rearbitrate()


def build(cfg, program, **kw) -> GpuMachine:
    m = GpuMachine(cfg, program, **kw)
    _Control(m)
    return m


def run_machine(model: GpuModel, program: Program, *, l2_start="cold", repeat=1, progress=None,
                flush_l2_per_kernel=False, monitors=None, streams=None, arbiter="fifo",
                checkpoint_after: int | None = None, checkpoint_path: str | None = None,
                backend: str | None = None, checkpoint_meta: dict | None = None):
    """Run `program` on the component GPU; returns the SimResult (see model.GpuModel._result).

    checkpoint_after / checkpoint_path: stop after that many events, write a checkpoint there
    and return None (resume with `resume_machine`); `checkpoint_meta` (plain data: the
    caller's run options) is stored beside the machine (`checkpoint_meta(path)` reads it)."""
    model.prepare(program, l2_start)
    m = build(model.cfg, program, model=model, streams=streams, repeat=repeat, arbiter=arbiter,
              flush_l2_per_kernel=flush_l2_per_kernel, progress=progress, seed=model.seed,
              backend=backend)
    for fn in monitors or ():
        fn(m.signals, model.cfg.clocks.boost)
    m.start()
    if checkpoint_after is not None:
        m.run(max_events=checkpoint_after)
        if m.pending:
            save_checkpoint(m, checkpoint_path, meta=checkpoint_meta)
            return None
    m.run()
    return finish(m, l2_start)


def finish(m: GpuMachine, l2_start: str):
    st = m.gs.state
    records = st["records"]
    end = st["end"] if records else m.now
    res = m.model._result(m.program, records, st["rep_start"], max(end, st["rep_start"]),
                          m.sim, m.repeat, l2_start)
    res.events = int(m.events_processed)
    res.extra["engine"] = "components"
    res.extra["streams"] = len(m.streams)
    res.extra["t0_ticks"] = int(st["rep_start"])
    res.extra["actions_by_component"] = m.component_actions()
    m.final_time = end
    return res


def save_checkpoint(m: GpuMachine, path: str, meta: dict | None = None) -> None:
    """Write the running machine (and `meta`, if given) to `path` atomically (temp file +
    rename). A file the path's folder does not allow is a UserError."""
    import os
    import pickle
    import tempfile
    blob = m.checkpoint()
    if meta is not None:
        blob = pickle.dumps({"archsim_checkpoint": CHECKPOINT_FILE_VERSION, "meta": meta,
                             "machine": blob}, protocol=pickle.HIGHEST_PROTOCOL)
    d = os.path.dirname(os.path.abspath(path))
    try:
        fd, tmp = tempfile.mkstemp(dir=d, prefix=".ckpt-")
        with os.fdopen(fd, "wb") as fh:
            fh.write(blob)
        os.replace(tmp, path)
    except OSError as exc:
        raise UserError(f"checkpoint {path}: cannot write there ({exc.strerror or exc})") \
            from None


CHECKPOINT_FILE_VERSION = 1


def _read_checkpoint(path: str) -> tuple[dict | None, bytes]:
    """(meta or None, machine blob) of a checkpoint file; a bad file is a UserError.
    Checkpoints are pickles: resume only files you wrote."""
    import pickle
    try:
        with open(path, "rb") as fh:
            raw = fh.read()
    except OSError as exc:
        raise UserError(f"checkpoint {path}: cannot read it ({exc.strerror or exc})") from None
    try:
        data = pickle.loads(raw)
    except Exception:
        raise UserError(f"checkpoint {path}: not an archsim checkpoint") from None
    if isinstance(data, dict) and "archsim_checkpoint" in data:
        if data["archsim_checkpoint"] != CHECKPOINT_FILE_VERSION:
            raise UserError(f"checkpoint {path}: written by another archsim version")
        return data.get("meta"), data["machine"]
    return None, raw


def checkpoint_meta(path: str) -> dict | None:
    """The run options stored with a checkpoint (None if it was written without any)."""
    return _read_checkpoint(path)[0]


def resume_machine(model: GpuModel, program: Program, path: str, *, l2_start="cold", repeat=1,
                   progress=None, flush_l2_per_kernel=False, monitors=None, streams=None,
                   arbiter="fifo", backend: str | None = None):
    """Rebuild the machine from its spec, load the checkpoint at `path`, run to the end."""
    model._bufs = program.buffers
    m = build(model.cfg, program, model=model, streams=streams, repeat=repeat, arbiter=arbiter,
              flush_l2_per_kernel=flush_l2_per_kernel, progress=progress, seed=model.seed,
              backend=backend)
    for fn in monitors or ():
        fn(m.signals, model.cfg.clocks.boost)
    m.restore(_read_checkpoint(path)[1])
    m.watch()
    m.run()
    return finish(m, l2_start)
