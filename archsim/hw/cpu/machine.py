"""The CPU as components: cores, a shared LLC and DRAM channels exchanging messages over links.

    ctl ──start──► core[i] ──req (link, depth = cores.outstanding)──► llc ──(link, depth =
    dram.queue)──► dram ──done──► llc ──resp──► core[i] ──done──► ctl

- `Core` runs its share of each parallel loop in steps (archsim.hw.cpu.streams): at issue it
  replays the step's addresses on its private L1 and L2 and sends the lines they miss (and the
  lines it stores: the private levels are write-through) to the LLC as one request; it keeps up
  to `cores.outstanding` requests in flight (a full link stalls it). A step executes once its
  data has arrived, for max(compute, L1 time, L2 time): compute from the calibrated pipe rate
  x loop-class efficiency, L1/L2 time from their bytes over their bandwidth.
- `Llc` looks the request's lines up in the shared cache, reserves its bandwidth for the hits
  and stores, and sends misses, write-backs and streaming stores to DRAM as one request. It
  answers the core when both are done (+ its latency) and only then frees the core's link slot.
- `Dram` spreads a request's lines over its channels (hash of the line address); each channel
  is a FIFO server at bandwidth / channels (busy-until per channel: its own queue), so a skewed
  address stream queues on few channels. A request holds a controller slot (its link's depth)
  until its last channel finishes; data arrives `dram.latency` later.
- `Control` forks each task over min(cores, units) cores after the fork/join time and joins
  them (a core waiting at the join is in state `sync`).

Signals (archsim.engine.signals contract): core[i].state (0 idle, 1 compute, 2 stall_l1,
3 stall_l2, 4 stall_llc, 5 stall_dram, 6 sync), core[i].op (task index + 1), l1[i].hit/miss,
l2[i].hit/miss, llc.hit/miss (pulses, lines), llc.miss_addr (a pulse per line the LLC misses on
a demand read, amount = the line's byte address), dram[c].busy, dram[c].queue (bytes waiting).
"""
from __future__ import annotations

import math

import numpy as np

from archsim.engine import TICKS_PER_SECOND as TPS
from archsim.engine.component import Link, Machine, Message, Node
from archsim.hw.cache import Cache
from archsim.hw.cpu.streams import LINE, PrivateCaches, task_bytes, units_of

IDLE, COMPUTE, STALL_L1, STALL_L2, STALL_LLC, STALL_DRAM, SYNC = range(7)
STATE_NAMES = ("idle", "compute", "stall_l1", "stall_l2", "stall_llc", "stall_dram", "sync")


def _ticks(seconds: float) -> int:
    return int(math.ceil(seconds * TPS)) if seconds > 0 else 0


def make_cache(level, size: int | None = None, *, private: bool, seed: int = 0,
               write_fetch: bool = True, sample: int = 1) -> Cache:
    size = size or level.size
    ways = level.ways
    line = level.line
    unit = line * ways * sample
    size = max(unit, size // unit * unit)
    if private:   # write-through, allocate on write without fetch (the LLC owns dirty data)
        return Cache(size, line, ways, replacement=level.replacement, write_back=False,
                     write_allocate=True, write_fetch=False, prefetch=level.prefetch,
                     prefetch_degree=level.prefetch_degree, seed=seed, sample=sample)
    return Cache(size, line, ways, replacement=level.replacement, prefetch=level.prefetch,
                 prefetch_degree=level.prefetch_degree, seed=seed, write_fetch=write_fetch,
                 sample=sample)


class Core(Node):
    def __init__(self, m: "CpuMachine", i: int):
        super().__init__(m, f"core[{i}]", None, None)
        cfg = m.cfg
        self.i = i
        S = m.sample
        self.caches = PrivateCaches(make_cache(cfg.l1, private=True, seed=i, sample=S),
                                    make_cache(cfg.l2, private=True, seed=i, sample=S))
        self.link = Link(m, f"core[{i}]->llc", self.name, "llc", depth=cfg.cores.outstanding)
        bus = m.signals
        self.sig_state = bus.declare(f"core[{i}].state", width=3)
        self.sig_op = bus.declare(f"core[{i}].op", width=32)
        self.sig_l1 = (bus.declare(f"l1[{i}].hit", kind="pulse", width=48, unit="lines"),
                       bus.declare(f"l1[{i}].miss", kind="pulse", width=48, unit="lines"))
        self.sig_l2 = (bus.declare(f"l2[{i}].hit", kind="pulse", width=48, unit="lines"),
                       bus.declare(f"l2[{i}].miss", kind="pulse", width=48, unit="lines"))
        self.l1_bw = cfg.l1.bandwidth
        self.l2_bw = cfg.l2.bandwidth
        self.state = {"task": -1, "steps": [], "issue": 0, "exec": 0, "busy": False,
                      "ready": {}, "level": {}, "dur": {}, "stime": [0] * 7, "since": 0}

    # a core's private caches are part of its state
    def save_state(self):
        return {"st": self.state, "l1": self.caches.l1.get_state(), "l2": self.caches.l2.get_state(),
                "sig": (self.sig_state.value, self.sig_op.value)}

    def load_state(self, s):
        self.state = s["st"]
        self.sig_state.value = s["sig"][0]
        self.sig_op.value = s["sig"][1]
        self.caches.l1.set_state(s["l1"])
        self.caches.l2.set_state(s["l2"])

    def _set_state(self, v: int) -> None:
        sig = self.sig_state
        if sig.value != v:
            st, now = self.state, self.machine.now
            st["stime"][sig.value] += now - st["since"]
            st["since"] = now
            sig.set(now, v)

    def state_ticks(self) -> list[int]:
        """Ticks spent in each state so far (the current one counted up to now)."""
        st = self.state
        out = list(st["stime"])
        out[self.sig_state.value] += self.machine.now - st["since"]
        return out

    def start(self, task_idx: int, u0: int, u1: int) -> None:
        """Run units [u0, u1) of task `task_idx`, cut into at most cores.max_steps steps."""
        n = u1 - u0
        m = self.machine
        # at most max_steps steps, unless that makes a step touch more than step_bytes (the
        # last step's execution is the loop's tail after its last data arrives)
        k = max(min(n, m.cfg.cores.max_steps), min(n, math.ceil(n * m.unit_bytes[task_idx]
                                                                / m.cfg.cores.step_bytes)))
        steps = [(u0 + n * j // k, u0 + n * (j + 1) // k) for j in range(k)]
        m.stats["steps_planned"] += k
        # fresh pages are faulted in by a loop's first execution (a folded loop's later
        # iterations write the same buffer)
        first = not m.nodes["ctl"].state["execs"]
        self.state.update(task=task_idx, steps=steps, issue=0, exec=0, busy=False,
                          ready={}, level={}, dur={}, first=first)
        self.sig_op.set(self.machine.now, task_idx + 1)
        self._issue()
        self._try_exec()

    def _issue(self) -> None:
        st, m = self.state, self.machine
        task = m.tasks[st["task"]]
        units = m.units[st["task"]]
        while st["issue"] < len(st["steps"]) and self.link.can_send():
            k = st["issue"]
            u0, u1 = st["steps"][k]
            l1, l2 = self.caches.l1, self.caches.l2
            h1, a1, h2, a2 = l1.hits, l1.accesses, l2.hits, l2.accesses
            reads, writes, nt = self.caches.step(task, u0, u1, units)
            row_reads = self.caches.row_reads
            S = m.sample
            d1h, d1a = (l1.hits - h1) * S, (l1.accesses - a1) * S
            d2h, d2a = (l2.hits - h2) * S, (l2.accesses - a2) * S
            now = m.now
            if self.sig_l1[0].subscribed or self.sig_l1[1].subscribed:
                self.sig_l1[0].pulse(now, d1h)
                self.sig_l1[1].pulse(now, d1a - d1h)
            if self.sig_l2[0].subscribed or self.sig_l2[1].subscribed:
                self.sig_l2[0].pulse(now, d2h)
                self.sig_l2[1].pulse(now, d2a - d2h)
            frac = (u1 - u0) / units
            fn_s = m.fn_s[st["task"]]
            t_comp = frac * fn_s if fn_s is not None else task.flops * frac / m.rate[st["task"]]
            t_l1 = d1a * l1.sector / self.l1_bw
            t_l2 = d2a * l2.sector / self.l2_bw
            dur = max(t_comp, t_l1, t_l2)
            lvl = COMPUTE if dur == t_comp else (STALL_L1 if dur == t_l1 else STALL_L2)
            if st["first"] and m.fault_s[st["task"]]:
                dur += frac * m.fault_s[st["task"]]   # the OS maps and zeroes the pages first
            st["dur"][k] = (_ticks(dur), lvl)
            st["issue"] = k + 1
            if len(reads) == 0 and not writes and not nt:
                st["ready"][k] = True
                continue
            tag = m.new_request(self.i, k, reads, writes, nt, row_reads)
            m.stats["req_sent"] += 1
            st["level"][k] = STALL_LLC
            self.link.send(Message("req", len(reads) * LINE * m.sample
                                   + sum(n * k for _, n, _, k in writes) + sum(n for _, n in nt),
                                   src=self.name, dst="llc", tag=tag))
            if st["issue"] < len(st["steps"]) and not self.link.can_send():
                m.stats["core_blocked"] += 1      # its next request waits for a free slot

    def on_link_free(self, link: str) -> None:
        self._issue()
        self._try_exec()

    def on_response(self, k: int) -> None:
        self.state["ready"][k] = True
        self._try_exec()

    def mem_level(self, k: int, lvl: int) -> None:
        """The LLC found DRAM misses in step k's request (a signal update only)."""
        st = self.state
        st["level"][k] = lvl
        if not st["busy"] and st["exec"] == k and k not in st["ready"]:
            self._set_state(lvl)

    def _try_exec(self) -> None:
        st = self.state
        if st["busy"]:
            return
        k = st["exec"]
        if k >= len(st["steps"]):
            return
        if st["ready"].pop(k, False):
            ticks, lvl = st["dur"].pop(k)
            st["level"].pop(k, None)
            st["busy"] = True
            self._set_state(lvl)
            self.machine.post(ticks, self.name, "exec_done")
        else:
            self._set_state(st["level"].get(k, STALL_LLC))

    def exec_done(self) -> None:
        st = self.state
        st["busy"] = False
        self.machine.stats["steps_run"] += 1
        st["exec"] += 1
        if st["exec"] >= len(st["steps"]):
            self._set_state(SYNC)
            self.machine.post(0, "ctl", "core_done", self.i)
            return
        self._issue()
        self._try_exec()


class Llc(Node):
    def __init__(self, m: "CpuMachine"):
        super().__init__(m, "llc", None, {"busy_until": 0, "waiting": [], "dram_blocked": False,
                                          "rows_free": [0] * m.ncores})
        cfg = m.cfg
        self.demand_lines = int(cfg.cores.demand_lines)
        self.dram_latency = _ticks(cfg.dram.latency)
        # stores that miss read their line first (read for ownership) unless the machine
        # says otherwise; streaming stores never allocate (they arrive as `nt` ranges)
        self.cache = make_cache(cfg.l3, private=False, write_fetch=bool(cfg.cores.write_allocate),
                                sample=m.sample)
        self.cache.record = True
        self.bpt = cfg.l3.bandwidth / TPS            # bytes per tick
        self.latency = _ticks(cfg.l3.latency)
        self.link = Link(m, "llc->dram", "llc", "dram", depth=cfg.dram.queue)
        bus = m.signals
        self.sig_hit = bus.declare("llc.hit", kind="pulse", width=48, unit="lines")
        self.sig_miss = bus.declare("llc.miss", kind="pulse", width=48, unit="lines")
        self.sig_addr = bus.declare("llc.miss_addr", kind="pulse", width=64)

    def save_state(self):
        return {"st": self.state, "cache": self.cache.get_state()}

    def load_state(self, s):
        self.state = s["st"]
        self.cache.set_state(s["cache"])

    def on_message(self, link: str, msg: Message) -> None:
        m, c = self.machine, self.cache
        req = m.requests[msg.tag]
        now = m.now
        m.stats["llc_read_lines_in"] += len(req["reads"])
        h0, a0 = c.hits, c.accesses
        nr = req["row_reads"]
        if nr:                                 # random-row lines first: their hits and misses
            c.access_addrs(req["reads"][:nr], LINE)     # set the core's demand round trips
            self._row_round_trips(req, (c.hits - h0) * m.sample, (c.accesses - a0) * m.sample)
            if len(req["reads"]) > nr:
                c.access_addrs(req["reads"][nr:], LINE)
        elif len(req["reads"]):
            c.access_addrs(req["reads"], LINE)
        demand = c.take_fetches()              # demand misses (+ prefetch fills) of the reads
        for a, n, stride, count in req["writes"]:
            c.access_strided(a, n, stride, count, True)
        rfo = c.take_fetches()
        nt_bytes = 0
        for a, n in req["nt"]:
            c.invalidate(a, n)
            nt_bytes += n
        wb = c.take_writebacks()
        S = m.sample
        hits, acc = (c.hits - h0) * S, (c.accesses - a0) * S
        if self.sig_hit.subscribed:
            self.sig_hit.pulse(now, hits)
        if self.sig_miss.subscribed:
            self.sig_miss.pulse(now, acc - hits)
        if self.sig_addr.subscribed:
            for x in demand.tolist():
                self.sig_addr.pulse(now, x)
        st = self.state
        start = max(st["busy_until"], now)
        st["busy_until"] = start + int(math.ceil(acc * LINE / self.bpt))
        req["llc_end"] = st["busy_until"]
        fetch = np.concatenate([demand, rfo]) if len(rfo) else demand
        # the requests' own line lists are no longer needed: keep checkpoints small
        req["reads"] = req["writes"] = None
        req["dram_read"] = int(len(fetch)) * LINE * S
        req["dram_write"] = int(len(wb)) * LINE * S + nt_bytes
        m.stats["llc_hit_lines"] += hits
        m.stats["llc_access_lines"] += acc
        if len(fetch) or len(wb) or nt_bytes:
            req["fetch"], req["wb"] = fetch, wb
            m.stats["llc_sent_read_lines"] += len(fetch)
            m.stats["llc_sent_write_lines"] += len(wb)
            m.stats["llc_sent_nt_bytes"] += nt_bytes
            m.nodes[f"core[{req['core']}]"].mem_level(req["step"], STALL_DRAM)
            st["waiting"].append(msg.tag)
            self._send_dram()
        else:
            self._respond(msg.tag)

    def _row_round_trips(self, req: dict, hits: int, lines: int) -> None:
        """A core fetches its random rows' lines on demand with at most `cores.demand_lines`
        in flight (its fill buffers), each held for a round trip: LLC latency for a hit, plus
        DRAM latency for a miss (Little's law). The core's fill buffers are one server shared
        by its requests in flight (`rows_free`); the response waits for this as well as for
        the LLC's and DRAM's own queues (idle latencies here; queueing is theirs)."""
        F = self.demand_lines
        if not F or not lines:
            return
        st, m = self.state, self.machine
        c = req["core"]
        start = max(st["rows_free"][c], m.now)
        dur = (-(-hits // F)) * self.latency + (-(-(lines - hits) // F)) * (
            self.latency + self.dram_latency)
        st["rows_free"][c] = req["rows_end"] = start + dur

    def _send_dram(self) -> None:
        st = self.state
        while st["waiting"]:
            tag = st["waiting"][0]
            req = self.machine.requests[tag]
            if not self.link.send(Message("dram", req["dram_read"] + req["dram_write"],
                                          src="llc", dst="dram", tag=tag)):
                self.machine.stats["llc_blocked"] += 1
                return                          # controller queue full: wait for on_link_free
            st["waiting"].pop(0)

    def on_link_free(self, link: str) -> None:
        self._send_dram()

    def dram_done(self, tag: int) -> None:
        self._respond(tag)

    def _respond(self, tag: int) -> None:
        m = self.machine
        req = m.requests.pop(tag)
        m.stats["req_done"] += 1
        t = max(max(m.now, req["llc_end"]) + self.latency, req["rows_end"])
        m.links[f"core[{req['core']}]->llc"].release()
        m.post_at(t, f"core[{req['core']}]", "on_response", req["step"])


class Dram(Node):
    def __init__(self, m: "CpuMachine"):
        cfg = m.cfg.dram
        self.channels = int(cfg.channels)
        super().__init__(m, "dram", None, {"free": np.zeros(self.channels, np.int64)})
        self.bpt = cfg.bandwidth / self.channels / TPS
        self.latency = _ticks(cfg.latency)
        bus = m.signals
        self.sig_busy = [bus.declare(f"dram[{c}].busy") for c in range(self.channels)]
        self.sig_queue = [bus.declare(f"dram[{c}].queue", width=48) for c in range(self.channels)]

    def channel_of(self, addrs: np.ndarray) -> np.ndarray:
        """The channel each line address maps to (a hash of the line address)."""
        L = addrs >> np.uint64(6)
        return ((L ^ (L >> np.uint64(7)) ^ (L >> np.uint64(17))) % np.uint64(self.channels)).astype(np.int64)

    def on_message(self, link: str, msg: Message) -> None:
        m = self.machine
        req = m.requests[msg.tag]
        f, w = req["fetch"], req["wb"]
        m.stats["dram_read_lines_in"] += len(f)
        m.stats["dram_write_lines_in"] += len(w)
        lines = f if not len(w) else (w if not len(f) else np.concatenate([f, w]))
        by = np.bincount(self.channel_of(lines), minlength=self.channels) * float(LINE * m.sample)
        nt = req["dram_write"] - len(w) * LINE * m.sample
        if nt > 0:                              # streaming stores: spread evenly
            by += nt / self.channels
            m.stats["dram_nt_bytes_in"] += nt
        now = m.now
        free = self.state["free"]
        used = by > 0
        start = np.maximum(free, now)
        end = start + np.ceil(by / self.bpt).astype(np.int64)
        free[used] = end[used]
        end_all = int(end[used].max()) if used.any() else now
        if any(s.subscribed for s in self.sig_busy) or any(s.subscribed for s in self.sig_queue):
            for c in np.flatnonzero(used).tolist():
                # the fall is stamped at its own (future) time; the next request on this
                # channel starts no earlier, so each signal's times stay in order
                s0, e0 = int(start[c]), int(end[c])
                self.sig_busy[c].set(s0, 1)
                self.sig_queue[c].set(now, int((e0 - now) * self.bpt))
                self.sig_busy[c].set(e0, 0)
                self.sig_queue[c].set(e0, 0)
        m.stats["dram_read"] += req["dram_read"]
        m.stats["dram_write"] += req["dram_write"]
        m.post_at(end_all, "dram", "complete", msg.tag)

    def complete(self, tag: int) -> None:
        self.machine.links["llc->dram"].release()
        self.machine.post(self.latency, "llc", "dram_done", tag)


class Control(Node):
    """Forks each task over the cores, joins them, and records the op's counters."""

    def __init__(self, m: "CpuMachine"):
        super().__init__(m, "ctl", None, {"task": 0, "run": 0, "waiting": 0, "t0": 0,
                                          "snap": None, "execs": []})

    def begin(self) -> None:
        m, st = self.machine, self.state
        if st["task"] >= len(m.tasks):
            st["run"] += 1
            if st["run"] >= m.repeat:
                m.done_at = m.now
                return
            st["task"] = 0
            m.run_started(st["run"])
        i = st["task"]
        task = m.tasks[i]
        units = m.units[i]
        cores = min(m.ncores, units)
        st["t0"] = st["op_start"] = m.now
        st["snap"] = m.snapshot()
        st["waiting"] = cores
        st["cores"] = cores
        fork = self.start_ticks(cores)
        for c in range(cores):
            core = m.nodes[f"core[{c}]"]
            core._set_state(SYNC)
            m.post(fork, f"core[{c}]", "start", i, units * c // cores, units * (c + 1) // cores)

    def start_ticks(self, cores: int) -> int:
        """Time before a loop's cores start: the fork (parallel loops only) and the host's
        per-call dispatch (`cores.call_overhead`, eager libraries)."""
        cc = self.machine.cfg.cores
        return _ticks((cc.fork_join if cores > 1 else 0.0) + cc.call_overhead)

    def core_done(self, c: int) -> None:
        m, st = self.machine, self.state
        st["waiting"] -= 1
        if st["waiting"]:
            return
        for j in range(st["cores"]):
            core = m.nodes[f"core[{j}]"]
            core._set_state(IDLE)
            core.sig_op.set(m.now, 0)
        i = st["task"]
        task = m.tasks[i]
        delta = m.delta(st["snap"])
        delta["time"] = m.now - st["t0"]
        delta["cores"] = st["cores"]
        st["execs"].append(delta)
        if task.repeat > 1 and len(st["execs"]) < 2:
            self.begin_same()
            return
        first = st["execs"][0]
        second = st["execs"][-1]
        extra = task.repeat - len(st["execs"])      # folded iterations cost what the second did
        m.record_op(i, st["op_start"], first, second, task.repeat)
        st["execs"] = []
        st["task"] += 1
        m.post(extra * second["time"] if extra > 0 else 0, "ctl", "begin")

    def begin_same(self) -> None:
        # a folded loop's second execution, with the cache state the first one left
        m, st = self.machine, self.state
        i = st["task"]
        units = m.units[i]
        cores = st["cores"]
        st["t0"] = m.now
        st["snap"] = m.snapshot()
        st["waiting"] = cores
        fork = self.start_ticks(cores)
        for c in range(cores):
            m.nodes[f"core[{c}]"]._set_state(SYNC)
            m.post(fork, f"core[{c}]", "start", i, units * c // cores, units * (c + 1) // cores)


PAGE = 4096


def function_seconds(cfg, task) -> float | None:
    """One core's time for one execution of an elementwise loop whose function has a cost in
    `cores.elementwise_cycles` (keyed 'fn.dtype' or 'fn'): elements x cycles / clock, in place
    of its flops; None for every other loop."""
    table = cfg.cores.elementwise_cycles
    fn = getattr(task, "fn", "")
    if not table or not fn:
        return None
    cyc = table.get(f"{fn}.{task.dtype}", table.get(fn))
    return None if cyc is None else task.elements * cyc / cfg.cores.clock


def first_touch_seconds(cfg, task) -> float:
    """Core time to fault in the fresh pages a loop's outputs were given (`dram.first_touch`
    per 4 KiB page); 0 when the key is unset."""
    ft = cfg.dram.first_touch
    return ft * getattr(task, "fresh_bytes", 0) / PAGE if ft else 0.0


class CpuMachine(Machine):
    def __init__(self, cfg, program, rates, *, repeat: int = 1, seed: int = 0, sample: int = 1):
        super().__init__(seed)
        self.sample = sample
        self.cfg = cfg
        self.program = program
        self.tasks = program.tasks
        self.units = [units_of(t) for t in self.tasks]
        self.unit_bytes = [task_bytes(t) / u for t, u in zip(self.tasks, self.units)]
        self.rate = rates
        self.fn_s = [function_seconds(cfg, t) for t in self.tasks]
        self.fault_s = [first_touch_seconds(cfg, t) for t in self.tasks]
        self.repeat = repeat
        self.ncores = cfg.cores.count
        self.requests: dict[int, dict] = {}
        self._next_tag = 0
        # machine-wide counters; the *_lines ones count simulated (sampled) lines, for the
        # conservation tests: what one level sends is what the next receives
        self.stats = {"dram_read": 0, "dram_write": 0, "llc_hit_lines": 0, "llc_access_lines": 0,
                      "req_sent": 0, "req_done": 0, "llc_read_lines_in": 0,
                      "llc_sent_read_lines": 0, "llc_sent_write_lines": 0, "llc_sent_nt_bytes": 0,
                      "dram_read_lines_in": 0, "dram_write_lines_in": 0, "dram_nt_bytes_in": 0,
                      "steps_run": 0, "steps_planned": 0, "core_blocked": 0, "llc_blocked": 0}
        self.records: list = []
        self.rep_start = 0
        self.done_at = None
        self.cores = [Core(self, i) for i in range(self.ncores)]
        self.llc = Llc(self)
        for c in self.cores:      # the LLC is inclusive: what it evicts, no core keeps
            c.caches.l1.set_parent(self.llc.cache)
            c.caches.l2.set_parent(self.llc.cache)
        self.dram = Dram(self)
        Control(self)

    def new_request(self, core: int, step: int, reads, writes, nt, row_reads: int = 0) -> int:
        tag = self._next_tag
        self._next_tag += 1
        self.requests[tag] = {"core": core, "step": step, "reads": reads, "writes": writes,
                              "nt": nt, "llc_end": 0, "row_reads": row_reads, "rows_end": 0}
        return tag

    def save_extra(self):
        return {"requests": self.requests, "next_tag": self._next_tag, "stats": self.stats,
                "records": self.records, "rep_start": self.rep_start, "done_at": self.done_at}

    def load_extra(self, x):
        self.requests, self._next_tag, self.stats = x["requests"], x["next_tag"], x["stats"]
        self.records, self.rep_start, self.done_at = x["records"], x["rep_start"], x["done_at"]

    def run_started(self, run: int) -> None:
        self.records = []
        self.rep_start = self.now

    def snapshot(self) -> dict:
        s = {"l1_acc": 0, "l1_hit": 0, "l2_acc": 0, "l2_hit": 0}
        S = self.sample
        for c in self.cores:
            s["l1_acc"] += c.caches.l1.accesses * S
            s["l1_hit"] += c.caches.l1.hits * S
            s["l2_acc"] += c.caches.l2.accesses * S
            s["l2_hit"] += c.caches.l2.hits * S
        s["llc_acc"] = self.stats["llc_access_lines"]
        s["llc_hit"] = self.stats["llc_hit_lines"]
        s["dram_read"] = self.stats["dram_read"]
        s["dram_write"] = self.stats["dram_write"]
        ticks = [0] * 7
        for c in self.cores:
            for j, v in enumerate(c.state_ticks()):
                ticks[j] += v
        s.update({f"t_{STATE_NAMES[j]}": ticks[j] for j in range(7)})
        s["pf_issued"] = self.llc.cache.pf_issued + sum(c.caches.l2.pf_issued for c in self.cores)
        s["pf_useful"] = self.llc.cache.pf_useful + sum(c.caches.l2.pf_useful for c in self.cores)
        return s

    def delta(self, snap: dict) -> dict:
        now = self.snapshot()
        return {k: now[k] - snap[k] for k in snap}

    def record_op(self, i: int, start: int, first: dict, second: dict, repeat: int) -> None:
        self.records.append((i, start - self.rep_start, first, second, repeat))

    def start(self) -> None:
        self.run_started(0)
        self.post(0, "ctl", "begin")
