"""A whole MeshProgram on a many-core chip: per-op timing from an execution mode, energy and
power, area, assembled into a SimResult.

Modes: `stepsync` (stepsync.py, the authors' method; the default) and `event` (eventsim.py:
the same work items as messages through router, cache-bank and HBM components).
"""
from __future__ import annotations

from typing import Callable

from archsim.hw.manycore.power import (area, dynamic_energy, peak_ops_per_s,
                                       static_power_by_component, tile_static_power)
from archsim.hw.manycore.stepsync import StepSyncModel
from archsim.hw.result import OpResult, SimResult
from archsim.lower.mesh import MeshProgram

COUNTER_KEYS = ("macs", "vector_ops", "l1_accesses", "l2_accesses", "llc_accesses",
                "byte_hops", "hbm_read_bytes", "hbm_write_bytes", "l1_block_hits",
                "l1_block_misses", "l2_block_hits", "l2_block_misses", "work_items", "steps")


def run_program(program: MeshProgram, cfg, *, mode: str = "stepsync", seed: int = 0,
                progress: Callable[[float], None] | None = None) -> SimResult:
    if mode == "event":
        from archsim.hw.manycore.eventsim import EventModel
        model = EventModel(cfg, seed=seed)
    else:
        model = StepSyncModel(cfg, seed=seed)
    model.set_program(program.ops)
    clock = cfg.tiles.clock
    rows: list[OpResult] = []
    totals: dict[str, float] = {}
    by_action: dict[str, float] = {}
    bound_time: dict[str, float] = {}
    t = 0.0
    for i, op in enumerate(program.ops):
        r = model.run_op(op, i)
        time_s = r.cycles / clock
        counts = {k: r.counters.get(k, 0) for k in COUNTER_KEYS}
        counts["hbm_bytes"] = counts["hbm_read_bytes"] + counts["hbm_write_bytes"]
        energy = dynamic_energy(cfg, counts, op.dtype)
        for k, v in energy.items():
            by_action[k] = by_action.get(k, 0.0) + v
        for k, v in counts.items():
            totals[k] = totals.get(k, 0) + v
        bound_time[r.bound] = bound_time.get(r.bound, 0.0) + time_s
        rows.append(OpResult(
            name=op.name, kind=op.kind, start_s=t, time_s=time_s, flops=op.flops,
            dram_read_bytes=int(counts["hbm_read_bytes"]),
            dram_write_bytes=int(counts["hbm_write_bytes"]),
            l2_hit_bytes=0, l2_miss_bytes=0, energy_j=sum(energy.values()),
            kernels=[{
                "name": op.name, "mode": mode, "cycles": r.cycles, "time_s": time_s,
                "onchip_cycles": r.onchip_cycles, "offchip_cycles": r.offchip_cycles,
                "compute_cycles": r.compute_cycles, "fetch_cycles": r.fetch_cycles,
                "steps": r.steps, "repeat": op.repeat, "cls": op.cls,
                "blocks": {"G": op.G, "M": op.M, "N": op.N, "K": op.K, "mb": op.mb,
                           "nb": op.nb, "kb": op.kb, "splitk": op.splitk},
                "placement": program.placement, "approximate": op.approximate,
                "l1_accesses": counts["l1_accesses"], "l2_accesses": counts["l2_accesses"],
                "llc_accesses": counts["llc_accesses"],
                "mesh_byte_hops": counts["byte_hops"],
                "mesh_max_link_bytes_per_step": r.counters.get("max_link_bytes", 0) / max(r.steps, 1),
                "mesh_peak_link_bytes": r.counters.get("peak_link_bytes", 0),
                "offchip_bytes": counts["hbm_bytes"], "bound": r.bound}],
            bound=r.bound))
        t += time_s                   # ops run one after another (a barrier per layer)
        if progress is not None:
            progress((i + 1) / len(program.ops))
    elapsed = t
    static = static_power_by_component(cfg)
    for k, w in static.items():
        by_action[f"static.{k}"] = w * elapsed
    by_component = {
        "cores": by_action["static.cores"] + by_action.get("mac", 0.0) + by_action.get("vrf", 0.0),
        "caches": by_action["static.cache_leakage"] + by_action.get("l1", 0.0)
        + by_action.get("l2", 0.0) + by_action.get("llc", 0.0),
        "noc": by_action["static.noc"] + by_action.get("noc_dynamic", 0.0),
        "hbm": by_action["static.hbm"] + by_action.get("hbm_dynamic", 0.0)}
    a = area(cfg)
    tp = tile_static_power(cfg)
    dtypes = {op.dtype for op in program.ops}
    peak = {d: peak_ops_per_s(cfg, d) for d in sorted(dtypes)}
    util = {f"time_bound_by.{k}": v / elapsed for k, v in sorted(bound_time.items())} \
        if elapsed else {}
    return SimResult(
        machine=cfg.name, time_s=elapsed, cycles=int(round(elapsed * clock)), clock_hz=clock,
        dram_read_bytes=int(totals.get("hbm_read_bytes", 0)),
        dram_write_bytes=int(totals.get("hbm_write_bytes", 0)), l2_hit_bytes=0, l2_miss_bytes=0,
        energy_by_component=by_component, energy_by_action=by_action, ops=rows,
        counters={f"manycore.{k}": v for k, v in sorted(totals.items())}, utilization=util,
        events=getattr(model, "events", 0),
        extra={"manycore": {
            "mode": mode, "tiles": cfg.tiles.tiles, "mesh": [cfg.tiles.rows, cfg.tiles.cols],
            "placement": program.placement, "peak_ops_per_s": peak,
            "static_power_w": static, "tile_static_power_w": tp.total,
            "area_mm2": {"core": a.core_mm2, "sram_per_tile": a.sram_mm2,
                         "router": a.router_mm2, "tile": a.tile_mm2, "hbm_phy": a.hbm_phy_mm2,
                         "chip": a.chip_mm2},
            "approximate_ops": [op.name for op in program.ops if op.approximate]},
            "note": "l2_* fields are not used on a manycore machine; per-op L1/L2/LLC accesses "
                    "and mesh loads are in each op's kernels[0]"})
