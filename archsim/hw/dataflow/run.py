"""Mode `dataflow` on a GPU: plan (archsim.lower.dataflow), profile, balance, run, report.

`run_dataflow(graph, cfg, "dataflow", ...)`:
1. lowers the graph kernel by kernel (mode bsp) and runs it: the baseline, whose per-kernel
   times and pipe utilisations feed the load balancer and price each stage's compute;
2. plans pipelines (`plan_dataflow`, the compiler pass) unless a plan is given;
3. balances every pipeline (the ILP, archsim.lower.dataflow.balance);
4. runs BSP ops and pipelines in plan order on the DataflowMachine (arbiter `kitsune`),
   `repeat` times back to back (the L2 stays warm between runs; the last run is reported,
   as in mode bsp; the BSP profile is the last of `repeat` BSP runs too);
5. reports: BSP ops as in mode bsp; pipeline ops with their stage, pipeline share of time,
   DRAM and L2 bytes, energy; `extra["dataflow"]` lists pipelines, stages, queues, CTA
   allocation and achieved throughput per stage, and the BSP baseline's time.
"""
from __future__ import annotations

from dataclasses import asdict

from archsim.engine import TICKS_PER_SECOND
from archsim.errors import UserError
from archsim.hw.dataflow.executor import build_dataflow
from archsim.hw.dataflow.profile import bsp_profile, pipeline_costs
from archsim.hw.dataflow.queue import params_for
from archsim.hw.gpu.machine import finish
from archsim.hw.gpu.model import make_model
from archsim.hw.result import OpResult

PS = TICKS_PER_SECOND


def _plan(graph, cfg):
    try:
        from archsim.lower.dataflow.select import plan_dataflow
    except ImportError:
        raise UserError("mode dataflow needs the Kitsune compiler pass "
                        "(archsim.lower.dataflow.select.plan_dataflow), which this build lacks") \
            from None
    return plan_dataflow(graph, cfg)


def run_dataflow(graph, cfg, exec_mode="dataflow", *, l2_start="cold", repeat=1, seed=0,
                 progress=None, monitors=None, plan=None, params=None, program=None,
                 fallback=True, bsp_monitors=None, keep_bsp=False):
    from archsim.hw.gpu import _gemm_tuner
    from archsim.lower import lower
    repeat = max(1, int(repeat))
    if program is None:
        program = lower(graph, cfg, mode="bsp", tuner=_gemm_tuner(cfg))
    if plan is None:
        plan = _plan(graph, cfg)
    if params is None:
        params = params_for(cfg)
    bsp, prof = bsp_profile(program, cfg, l2_start=l2_start, seed=seed, monitors=bsp_monitors,
                            repeat=repeat)
    pcs, allocs, where = pipeline_costs(graph, plan, prof, cfg, params)
    index = {o.op: oi for oi, o in enumerate(program.ops)}
    stream, fell = [], []
    for what, x in plan.order:
        if what == "pipeline":
            for c in where[int(x)]:
                pc = pcs[c]
                if fallback and pc.predicted_s >= pc.bsp_s:
                    # not worth it by the balancer's own estimate: its ops run kernel by
                    # kernel (ours, not the paper's: a compiler with a cost model would)
                    fell.append(pc.name)
                    for o in sorted((index[o] for o in pc.ops if o in index)):
                        stream += [(o, k) for k in program.ops[o].kernels]
                else:
                    stream.append(("pipeline", c))
        else:
            if x not in index:
                raise UserError(f"dataflow plan names op {x!r}, which the program lacks")
            oi = index[x]
            stream += [(oi, k) for k in program.ops[oi].kernels]
    model = make_model(program, cfg, repeat=repeat, seed=seed)
    model.prepare(program, l2_start)
    m = build_dataflow(cfg, program, model=model, pipelines=pcs, params=params, stream=stream,
                       arbiter="kitsune", progress=progress, seed=seed, repeat=repeat)
    for fn in monitors or ():
        fn(m.signals, cfg.clocks.boost)
        if hasattr(fn, "attach"):     # a monitor that reads components directly
            fn.attach(m)
    m.start()
    m.run()
    res = finish(m, l2_start)
    _merge_pipelines(res, m, graph, cfg, model, plan, allocs, params)
    res.extra["dataflow"]["bsp_time_s"] = bsp.time_s
    res.extra["dataflow"]["fallback_to_bsp"] = fell
    res.extra["dataflow"]["predicted"] = [
        {"pipeline": pc.name, "predicted_s": pc.predicted_s, "bsp_s": pc.bsp_s} for pc in pcs]
    res.extra["dataflow"]["bsp_dram_bytes"] = bsp.dram_read_bytes + bsp.dram_write_bytes
    res.extra["mode"] = "dataflow"
    res.extra["dataflow"]["bsp_result"] = bsp if keep_bsp else None
    return res


def _merge_pipelines(res, m, graph, cfg, model, plan, allocs, params):
    """Fold the pipelines' time, bytes, work and energy into the SimResult."""
    t0 = res.extra.get("t0_ticks", 0)
    f = cfg.clocks.boost
    byname = {o.name: i for i, o in enumerate(res.ops)}
    tensor_busy = simt_busy = 0.0
    for rep in m.reports:
        t = rep["time_s"]
        acts = {"tensor_flop": rep["tensor_flops"], "simt_op": rep["simt_ops"],
                "l2_byte": rep["l2_bytes"],
                "dram_byte": rep["dram_read_bytes"] + rep["dram_write_bytes"]}
        comp, act = model.energy.kernel_energy(acts, f, t)
        # idle power over the pipeline's time is already in the result (time no kernel ran)
        comp.pop("idle")
        act.pop("idle")
        for d, src in ((res.energy_by_component, comp), (res.energy_by_action, act)):
            for k, v in src.items():
                d[k] = d.get(k, 0.0) + v
        e_pipe = sum(comp.values()) + cfg.power.idle * t
        res.dram_read_bytes += int(rep["dram_read_bytes"])
        res.dram_write_bytes += int(rep["dram_write_bytes"])
        res.l2_hit_bytes += int(max(0.0, rep["l2_bytes"] - rep["dram_read_bytes"]))
        res.l2_miss_bytes += int(rep["dram_read_bytes"])
        tensor_busy += rep["tensor_busy_s"]
        simt_busy += rep["simt_busy_s"]
        nops = max(1, len(rep["ops"]))
        seen = set()
        for st in rep["stages"]:
            for o in st["ops"]:
                if o in seen:           # a split op's reduce stage names it again
                    continue
                seen.add(o)
                op = graph.op(o)
                share = 1.0 / nops
                row = OpResult(
                    name=o, kind=op.kind, start_s=(rep["start"] - t0) / PS, time_s=t * share,
                    flops=op.flops, dram_read_bytes=int(rep["dram_read_bytes"] * share),
                    dram_write_bytes=int(rep["dram_write_bytes"] * share),
                    l2_hit_bytes=int(max(0.0, rep["l2_bytes"] - rep["dram_read_bytes"]) * share),
                    l2_miss_bytes=int(rep["dram_read_bytes"] * share),
                    energy_j=e_pipe * share, bound="dataflow",
                    kernels=[{"name": f"{rep['name']}/{st['name']}", "pipeline": rep["name"],
                              "stage": st["name"], "ctas": st["ctas"], "time_s": t * share,
                              "start_s": (rep["start"] - t0) / PS,
                              "throughput_tiles_per_s": st["throughput_tiles_per_s"]}])
                if o in byname and res.ops[byname[o]].bound == "dataflow":
                    # an op of a pipeline cut into segments: its parts add up
                    prev = res.ops[byname[o]]
                    row.time_s += prev.time_s
                    row.start_s = prev.start_s
                    row.dram_read_bytes += prev.dram_read_bytes
                    row.dram_write_bytes += prev.dram_write_bytes
                    row.l2_hit_bytes += prev.l2_hit_bytes
                    row.l2_miss_bytes += prev.l2_miss_bytes
                    row.energy_j += prev.energy_j
                    row.kernels = prev.kernels + row.kernels
                    res.ops[byname[o]] = row
                elif o in byname:
                    res.ops[byname[o]] = row
                else:
                    res.ops.append(row)
    total = res.time_s
    N = cfg.sm.count
    if total > 0:
        u = res.utilization
        u["tensor"] = u.get("tensor", 0.0) + tensor_busy / (N * total)
        u["simt"] = u.get("simt", 0.0) + simt_busy / (N * total)
        u["dram"] = (res.dram_read_bytes + res.dram_write_bytes) / (cfg.hbm.bandwidth * total)
    res.extra["dataflow"] = {
        "pipelines": [{k: v for k, v in r.items() if k not in ("start", "end")} |
                      {"start_s": (r["start"] - t0) / PS, "end_s": (r["end"] - t0) / PS}
                      for r in m.reports],
        "allocation": [{"pipeline": a.pipeline, "ctas": list(a.ctas),
                        "ilp_throughput_tiles_per_s": a.throughput} for a in allocs],
        "coverage_ops": plan.covered, "bsp_ops": len(plan.bsp_ops),
        "plan_pipelines": len(plan.pipelines), "segments": len(m.reports),
        "queue_params": asdict(params),
    }
