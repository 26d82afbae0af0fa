"""The CPU model (v1): parallel loops on cores, a last-level cache that holds tensors, DRAM.

What it models, and how approximate it is:
- Each task (one op) is a parallel loop split over min(cores, work items) cores; the cores run
  as events on the archsim engine, and the task ends when the last core's chunk ends (a join),
  plus the fork/join cost. Tasks run one after another, as a program of parallel loops does.
- A chunk's time is the largest of: its flops over the pipe rate (SIMD, or the matrix engine
  for GEMM-class loops in a dtype it supports) times the loop class's efficiency; its bytes from
  DRAM over its share of the DRAM bandwidth, plus one DRAM latency if it misses at all; its
  bytes from the last-level cache over its share of that bandwidth. Per-core private caches set no time of their own in v1 (they bound only
  loops whose data fit there, which then run at the pipe rate).
- The last-level cache holds whole tensors, least recently used first out, write-back: reads of
  a resident tensor hit; outputs are allocated dirty; a dirty tensor evicted is written to DRAM.
  Stores that miss read their lines first (read-for-ownership) unless the loop is a copy, which
  streams its stores as memcpy does (`cores.write_allocate`).
  That is residency at tensor granularity, not lines: partial reuse of a tensor that does not
  fit is not credited.
- A blocked GEMM whose operands do not fit the cache re-reads them: extra DRAM traffic
  2·M·N·K·s / T with T the square tile that fits a third of the cache.
- An op repeated n times (folded loop iterations) runs its first execution, then a second with
  the cache state the first left; the remaining n-2 cost what the second did.
- Energy: flops x energy per flop of the dtype, bytes at each level x energy per byte, static
  power while cores run, idle power all along.
Calibration: benchmarks/correlate_cpu.py against the two host-CPU kernels measured beside the
H200; every other number in hwconfigs/xeon-host.yaml is marked assumed.
"""
from __future__ import annotations

import math
from collections import OrderedDict
from typing import Callable

from archsim.engine import Simulator
from archsim.engine import TICKS_PER_SECOND as TPS
from archsim.errors import UserError
from archsim.graph.dtypes import dtype_bytes
from archsim.hw.result import OpResult, SimResult
from archsim.lower.cpu import CpuProgram, CpuTask


class LastLevelCache:
    """Tensor-granularity LRU write-back cache."""

    def __init__(self, capacity: int):
        self.capacity = capacity
        self.lines: OrderedDict[str, tuple[int, bool]] = OrderedDict()  # name -> (bytes, dirty)
        self.used = 0

    def read(self, name: str, nbytes: int) -> tuple[int, int, int]:
        """-> (hit bytes, miss bytes, dirty bytes written back by evictions)."""
        if name in self.lines:
            self.lines.move_to_end(name)
            return nbytes, 0, 0
        wb = self._insert(name, nbytes, dirty=False)
        return 0, nbytes, wb

    def write(self, name: str, nbytes: int) -> int:
        """Allocate `name` dirty; -> bytes written back by evictions (or by not fitting)."""
        if name in self.lines:
            self.used -= self.lines.pop(name)[0]
        return self._insert(name, nbytes, dirty=True)

    def _insert(self, name: str, nbytes: int, dirty: bool) -> int:
        if nbytes > self.capacity:  # streams through: a dirty tensor goes straight to DRAM
            return nbytes if dirty else 0
        written = 0
        while self.used + nbytes > self.capacity and self.lines:
            _, (b, d) = self.lines.popitem(last=False)
            self.used -= b
            written += b if d else 0
        self.lines[name] = (nbytes, dirty)
        self.used += nbytes
        return written


class CpuMachine:
    def __init__(self, cfg):
        self.cfg = cfg
        if cfg.cores.count < 1:
            raise UserError("cores.count must be >= 1")

    def pipe_rate(self, task: CpuTask) -> tuple[float, str]:
        """Flops per second of one core for this task, and the pipe's name."""
        c = self.cfg.cores
        eff = c.efficiency.get(task.cls, c.efficiency.get("other", 0.25))
        if task.cls == "gemm" and task.dtype in c.matrix_flops_per_cycle:
            return c.matrix_flops_per_cycle[task.dtype] * c.clock * eff, "matrix"
        dtype = task.dtype if task.dtype in c.simd_flops_per_cycle else "fp32"
        per_cycle = c.simd_flops_per_cycle.get(dtype) or 1.0
        if task.dtype in ("c128", "c64"):  # complex arithmetic on real SIMD lanes
            per_cycle = c.simd_flops_per_cycle.get("fp64" if task.dtype == "c128" else "fp32", 1.0)
        return per_cycle * c.clock * eff, "simd"

    def op_energy(self, task: CpuTask, out_bytes: int, totals: dict, time_s: float,
                  cores: int) -> dict[str, float]:
        """Joules of all `task.repeat` executions, by action: flops; bytes through L1 and L2
        (every byte read and written), the last-level cache (hits and writes) and DRAM; static
        power of the busy cores."""
        e, rep = self.cfg.energy, task.repeat
        moved = (sum(b for _, b in task.reads) + out_bytes) * rep
        return {
            "flop": task.flops * rep * e.get(f"flop.{task.dtype}", e.get("flop.fp32", 0.0)),
            "cache": moved * (e.get("l1_byte", 0.0) + e.get("l2_byte", 0.0))
            + (totals["llc_hit"] + out_bytes * rep) * e.get("l3_byte", 0.0),
            "dram": (totals["dram_read"] + totals["dram_write"]) * e.get("dram_byte", 0.0),
            "static": self.cfg.power.static * time_s * cores / self.cfg.cores.count,
        }

    def execute(self, task: CpuTask, llc: LastLevelCache) -> dict:
        """Traffic and time of one execution of a task, updating the cache."""
        cfg = self.cfg
        hit = miss = wb = 0
        for name, nbytes in task.reads:
            h, m, w = llc.read(name, nbytes)
            hit, miss, wb = hit + h, miss + m, wb + w
        out_bytes = rfo = 0
        for name, nbytes in task.writes:
            if cfg.cores.write_allocate and task.kind != "copy" and name not in llc.lines:
                rfo += nbytes      # read for ownership: the line comes in before the store
            wb += llc.write(name, nbytes)
            out_bytes += nbytes
        miss += rfo
        if task.gemm_mnk is not None:
            M, N, K = task.gemm_mnk
            s = dtype_bytes(task.dtype)
            operands = sum(b for _, b in task.reads)
            if operands > llc.capacity:
                tile = math.sqrt(llc.capacity / (3 * s))
                miss += int(2 * M * N * K * s / tile)
        cores = min(cfg.cores.count, task.items)
        rate, pipe = self.pipe_rate(task)
        t_comp = task.flops / (rate * cores) if task.flops else 0.0
        # a loop that misses pays one DRAM round trip before its stream is in flight
        t_dram = (miss + wb) / cfg.dram.bandwidth + (cfg.dram.latency if miss else 0.0)
        llc_bw = cfg.l3.bandwidth * (cores / cfg.cores.count if cfg.l3.shared else cores)
        t_llc = (hit + out_bytes) / llc_bw
        bounds = {pipe: t_comp, "dram": t_dram, "llc": t_llc}
        bound = max(bounds, key=bounds.get)
        t = bounds[bound] + (cfg.cores.fork_join if cores > 1 else 0.0)
        if t == 0.0:
            t, bound = cfg.dram.latency, "latency"
        return {"time_s": t, "cores": cores, "bound": bound, "llc_hit": hit, "dram_read": miss,
                "dram_write": wb, "out_bytes": out_bytes}


def run_program(program: CpuProgram, cfg, *, l2_start: str = "cold", repeat: int = 1,
                seed: int = 0, progress: Callable[[float], None] | None = None) -> SimResult:
    """Simulate `program` on the CPU `cfg`; l2_start='warm' starts with the inputs resident in
    the last-level cache as far as it holds them; repeat=N runs the program N times and
    reports the last."""
    machine = CpuMachine(cfg)
    llc = LastLevelCache(cfg.l3.size)
    if l2_start == "warm":
        produced = {name for t in program.tasks for name, _ in t.writes}
        for t in program.tasks:
            for name, nbytes in t.reads:
                if name not in produced:
                    llc.read(name, nbytes)
    sim = Simulator(seed)
    rows: list[OpResult] = []
    for rep in range(repeat):
        rows = []
        by_action: dict[str, float] = {}   # joules by action, of the reported (last) repetition
        t_start = sim.now
        pending = {"chunks": 0}
        for i, task in enumerate(program.tasks):
            first = machine.execute(task, llc)
            steady = machine.execute(task, llc) if task.repeat > 1 else first
            n_more = task.repeat - 1
            time_s = first["time_s"] + n_more * steady["time_s"]
            totals = {k: first[k] + n_more * steady[k] for k in ("llc_hit", "dram_read", "dram_write")}
            begin = sim.now
            ticks = max(1, math.ceil(time_s * TPS))  # never below the modelled time
            pending["chunks"] = first["cores"]

            def chunk_done(p=pending):
                p["chunks"] -= 1

            for _ in range(first["cores"]):  # one event per core's chunk; the join is the last
                sim.schedule(ticks, chunk_done)
            sim.run()
            assert pending["chunks"] == 0
            flops = task.flops * task.repeat
            actions = machine.op_energy(task, first["out_bytes"], totals, time_s, first["cores"])
            for k, v in actions.items():
                by_action[k] = by_action.get(k, 0.0) + v
            rows.append(OpResult(
                name=task.op, kind=task.kind, start_s=(begin - t_start) / TPS, time_s=time_s,
                flops=flops, dram_read_bytes=int(totals["dram_read"]),
                dram_write_bytes=int(totals["dram_write"]), l2_hit_bytes=int(totals["llc_hit"]),
                l2_miss_bytes=int(totals["dram_read"]), energy_j=sum(actions.values()),
                kernels=[{"name": task.op, "cores": first["cores"], "time_s": time_s,
                          "repeat": task.repeat, "bound": first["bound"]}],
                bound=first["bound"]))
            if progress is not None:
                progress((rep + (i + 1) / len(program.tasks)) / repeat)
        elapsed = (sim.now - t_start) / TPS
    by_action["idle"] = cfg.power.idle * elapsed
    by_component = {"cores": by_action.get("flop", 0.0) + by_action.get("static", 0.0),
                    "caches": by_action.get("cache", 0.0), "dram": by_action.get("dram", 0.0),
                    "idle": by_action["idle"]}
    dram_r = sum(r.dram_read_bytes for r in rows)
    dram_w = sum(r.dram_write_bytes for r in rows)
    hits = sum(r.l2_hit_bytes for r in rows)
    busy = {}
    for r in rows:
        busy[r.bound] = busy.get(r.bound, 0.0) + r.time_s
    return SimResult(
        machine=cfg.name, time_s=elapsed, cycles=int(round(elapsed * cfg.cores.clock)),
        clock_hz=cfg.cores.clock, dram_read_bytes=dram_r, dram_write_bytes=dram_w,
        l2_hit_bytes=hits, l2_miss_bytes=dram_r, energy_by_component=by_component,
        energy_by_action=by_action, ops=rows,
        counters={"llc.hit_bytes": hits, "dram.read_bytes": dram_r, "dram.write_bytes": dram_w},
        utilization={f"time_bound_by.{k}": v / elapsed for k, v in sorted(busy.items())} if elapsed else {},
        events=sim.events_processed,
        extra={"note": "l2_* fields hold last-level-cache (L3) traffic on a CPU"})
