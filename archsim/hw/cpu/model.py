"""The CPU model: a CpuProgram run on the component machine (machine.py), turned into a SimResult.

What is a formula and what is an event:
- a core step's own time is max(flops / (pipe rate x loop-class efficiency), L1 bytes / L1
  bandwidth, L2 bytes / L2 bandwidth) — the calibrated formula of v1, per step;
- everything between components is events: LLC requests over bounded links, LLC bandwidth,
  DRAM channel queues, the join of a parallel loop; hit rates come from line-granular caches
  (archsim.hw.cache) fed with each loop's real address stream (archsim.lower.cpu).
- a folded loop (an op repeated n times) runs its first and second executions; the remaining
  n-2 cost what the second did (time and traffic), as in v1.
Energy: each component's action counts x the config's energy per action — simt_op (SIMD
flops) or tensor_flop (matrix-engine flops) at `flop.<dtype>`, l1_byte, l2_byte, llc_byte,
dram_byte — plus `power.static` while cores run (by the share of cores a loop uses) and
`power.idle` all along.
"""
from __future__ import annotations

from typing import Callable

from archsim.engine import TICKS_PER_SECOND as TPS
from archsim.errors import UserError
from archsim.hw.cpu.machine import STATE_NAMES, CpuMachine
from archsim.hw.result import OpResult, SimResult
from archsim.hw.cpu.streams import task_bytes
from archsim.lower.cpu import CpuProgram, CpuTask

LINE = 64


def pipe_rate(cfg, task: CpuTask) -> tuple[float, str]:
    """Flops per second of one core for this task, and the pipe's name."""
    c = cfg.cores
    eff = c.efficiency.get(task.cls, c.efficiency.get("other", 0.25))
    if task.cls == "gemm" and task.dtype in c.matrix_flops_per_cycle:
        return c.matrix_flops_per_cycle[task.dtype] * c.clock * eff, "matrix"
    dtype = task.dtype if task.dtype in c.simd_flops_per_cycle else "fp32"
    per_cycle = c.simd_flops_per_cycle.get(dtype) or 1.0
    if task.dtype in ("c128", "c64"):  # complex arithmetic on real SIMD lanes
        per_cycle = c.simd_flops_per_cycle.get("fp64" if task.dtype == "c128" else "fp32", 1.0)
    return per_cycle * c.clock * eff, "simd"


def energy_per(cfg) -> dict[str, float]:
    e = cfg.energy
    return {"l1_byte": e.get("l1_byte", 0.0), "l2_byte": e.get("l2_byte", 0.0),
            "llc_byte": e.get("llc_byte", e.get("l3_byte", 0.0)), "dram_byte": e.get("dram_byte", 0.0)}


SAMPLE_LINES = 1 << 22   # line accesses a run simulates in full before address sampling starts
MAX_SAMPLE = 64


def volume_lines(program: CpuProgram, repeat: int = 1) -> float:
    """Line accesses a run of `program` makes at its first cache level (an estimate from the
    Access records, used only to choose the sampling rate)."""
    return sum(task_bytes(t) * min(t.repeat, 2) for t in program.tasks) / LINE * repeat


def choose_sample(program: CpuProgram, repeat: int = 1) -> int:
    """1 (every line simulated) up to SAMPLE_LINES line accesses, else the power of two that
    brings the run back to about that many, at most MAX_SAMPLE (see archsim/hw/cache README:
    sampling by a hash of the line address, tested unbiased)."""
    v = volume_lines(program, repeat)
    s = 1
    while v / s > SAMPLE_LINES and s < MAX_SAMPLE:
        s *= 2
    return s


def build_machine(program: CpuProgram, cfg, *, repeat: int = 1, seed: int = 0,
                  l2_start: str = "cold", sample: int | None = None) -> CpuMachine:
    if cfg.cores.count < 1:
        raise UserError("cores.count must be >= 1")
    rates = [pipe_rate(cfg, t)[0] for t in program.tasks]
    if sample is None:
        sample = choose_sample(program, repeat)
    m = CpuMachine(cfg, program, rates, repeat=repeat, seed=seed, sample=sample)
    if l2_start == "warm":   # inputs and weights resident in the LLC as far as it holds them
        c = m.llc.cache
        for name in program.resident:
            if name in program.buffers:
                addr, n = program.buffers[name]
                c.access(addr, n)
        c.take_fetches()
        c.take_writebacks()
        c.reset_counters()
    return m


def run_program(program: CpuProgram, cfg, *, l2_start: str = "cold", repeat: int = 1,
                seed: int = 0, progress: Callable[[float], None] | None = None,
                monitors=None, sample: int | None = None) -> SimResult:
    """Simulate `program` on the CPU `cfg`; the last of `repeat` back-to-back runs is reported.

    monitors: callables fn(bus, clock_hz) attached after the machine is built, before it runs.
    sample: simulate 1/sample of the lines (None: chosen by `choose_sample`; 1: every line —
    what a monitor emulating a prefetcher on llc.miss_addr needs).
    """
    m = build_machine(program, cfg, repeat=repeat, seed=seed, l2_start=l2_start, sample=sample)
    for fn in monitors or ():
        fn(m.signals, cfg.cores.clock)
    m.start()
    if progress is None:
        m.run()
    else:
        total = len(program.tasks) * repeat
        while m.pending:
            m.run(max_events=20000)
            done = m.nodes["ctl"].state["run"] * len(program.tasks) + m.nodes["ctl"].state["task"]
            progress(min(1.0, done / max(total, 1)))
    return result(m)


def result(m: CpuMachine) -> SimResult:
    cfg, program = m.cfg, m.program
    end = m.done_at if m.done_at is not None else m.now
    elapsed = (end - m.rep_start) / TPS
    ep = energy_per(cfg)
    rows: list[OpResult] = []
    by_action: dict[str, float] = {}
    stime = [0.0] * 7
    tot = {"dram_read": 0, "dram_write": 0, "llc_hit": 0, "llc_acc": 0, "l1_acc": 0, "l1_hit": 0,
           "l2_acc": 0, "l2_hit": 0}
    for i, start, first, second, rep in m.records:
        task = program.tasks[i]

        def total(k, f=first, s=second, n=rep):
            return f[k] + (n - 1) * s[k]

        t_ticks = total("time")
        time_s = t_ticks / TPS
        flops = task.flops * task.repeat
        _, pipe = pipe_rate(cfg, task)
        e_flop = cfg.energy.get(f"flop.{task.dtype}", cfg.energy.get("flop.fp32", 0.0))
        dr, dw = int(total("dram_read")), int(total("dram_write"))
        acts = {
            "tensor_flop" if pipe == "matrix" else "simt_op": flops * e_flop,
            "l1_byte": total("l1_acc") * LINE * ep["l1_byte"],
            "l2_byte": total("l2_acc") * LINE * ep["l2_byte"],
            "llc_byte": total("llc_acc") * LINE * ep["llc_byte"],
            "dram_byte": (dr + dw) * ep["dram_byte"],
            "static": cfg.power.static * time_s * first["cores"] / cfg.cores.count,
        }
        for k, v in acts.items():
            by_action[k] = by_action.get(k, 0.0) + v
        st = {name: total(f"t_{name}") for name in STATE_NAMES}
        for j, name in enumerate(STATE_NAMES):
            stime[j] += st[name]
        busy = {k: v for k, v in st.items() if k not in ("idle", "sync")}
        bound = max(busy, key=busy.get) if any(busy.values()) else "sync"
        bound = {"stall_dram": "dram", "stall_llc": "llc", "stall_l2": "l2", "stall_l1": "l1",
                 "compute": "matrix" if pipe == "matrix" else "simd"}.get(bound, bound)
        for k in tot:
            tot[k] += total(k)
        hit_b = int(total("llc_hit")) * LINE
        rows.append(OpResult(
            name=task.op, kind=task.kind, start_s=start / TPS, time_s=time_s, flops=flops,
            dram_read_bytes=dr, dram_write_bytes=dw, l2_hit_bytes=hit_b, l2_miss_bytes=dr,
            energy_j=sum(acts.values()),
            kernels=[{"name": task.op, "cores": first["cores"], "start_s": start / TPS, "time_s": time_s,
                      "repeat": task.repeat, "bound": bound,
                      "l1_hit_rate": _rate(total("l1_hit"), total("l1_acc")),
                      "l2_hit_rate": _rate(total("l2_hit"), total("l2_acc")),
                      "llc_hit_rate": _rate(total("llc_hit"), total("llc_acc"))}],
            bound=bound))
    by_action["idle"] = cfg.power.idle * elapsed
    by_component = {
        "cores": by_action.get("simt_op", 0.0) + by_action.get("tensor_flop", 0.0)
        + by_action.get("static", 0.0),
        "l1": by_action.get("l1_byte", 0.0), "l2": by_action.get("l2_byte", 0.0),
        "llc": by_action.get("llc_byte", 0.0), "dram": by_action.get("dram_byte", 0.0),
        "idle": by_action["idle"]}
    core_time = sum(stime) or 1.0
    util = {f"core.{name}": stime[j] / core_time for j, name in enumerate(STATE_NAMES)}
    counters = {
        "l1.accesses": tot["l1_acc"], "l1.hits": tot["l1_hit"],
        "l2.accesses": tot["l2_acc"], "l2.hits": tot["l2_hit"],
        "llc.accesses": tot["llc_acc"], "llc.hits": tot["llc_hit"],
        "llc.hit_bytes": tot["llc_hit"] * LINE,
        "dram.read_bytes": tot["dram_read"], "dram.write_bytes": tot["dram_write"],
    }
    # built-in prefetchers (whole run, all repetitions): what the YPU's emulated one is
    # compared with
    S = m.sample
    for lvl, caches in (("l1", [c.caches.l1 for c in m.cores]), ("l2", [c.caches.l2 for c in m.cores]),
                        ("llc", [m.llc.cache])):
        if caches[0].prefetch == "none":
            continue
        issued = sum(c.pf_issued for c in caches) * S
        useful = sum(c.pf_useful for c in caches) * S
        misses = sum(c.misses for c in caches) * S
        counters[f"{lvl}.prefetch_issued"] = issued
        counters[f"{lvl}.prefetch_useful"] = useful
        counters[f"{lvl}.prefetch_coverage"] = useful / (useful + misses) if useful + misses else 0.0
        counters[f"{lvl}.prefetch_accuracy"] = useful / issued if issued else 0.0
    return SimResult(
        machine=cfg.name, time_s=elapsed, cycles=int(round(elapsed * cfg.cores.clock)),
        clock_hz=cfg.cores.clock, dram_read_bytes=int(tot["dram_read"]),
        dram_write_bytes=int(tot["dram_write"]), l2_hit_bytes=int(tot["llc_hit"]) * LINE,
        l2_miss_bytes=int(tot["dram_read"]), energy_by_component=by_component,
        energy_by_action=by_action, ops=rows, counters=counters, utilization=util,
        events=int(m.events_processed),
        extra={"note": "l2_* fields hold last-level-cache (LLC) traffic on a CPU",
               "engine": "components", "signals": len(m.signals), "sample": m.sample,
               "t0_ticks": int(m.rep_start)})


def _rate(h: float, a: float) -> float:
    return float(h / a) if a else 0.0
