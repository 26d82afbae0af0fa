"""One sweep point as a unit of work: its resolved config, its content key, and the task that runs it.

The key is a SHA-256 over (archsim version, the fully resolved machine config, the canonical
workload spec, mode, execution mode, seed, L2 start state, repeat). Two points that resolve to
the same config (an override equal to the file's value, say) share a key and run once. Editing
a machine file changes the key of every point that uses it.

`run_job` is what a Dask worker executes: it takes plain picklable data (the config object
travels, so a remote worker needs archsim but not the YAML files) and never raises — a failure
comes back as a record with the error's message.
"""
from __future__ import annotations

import hashlib
import json
import time
import traceback
from dataclasses import dataclass
from typing import Any

from archsim import __version__
from archsim.errors import UserError
from archsim.sweep.spec import Point


@dataclass(frozen=True)
class Job:
    key: str
    point: Point
    config: Any           # the resolved, immutable config object
    exec_mode: str
    version: str = __version__
    max_work: float = float("inf")   # set by make_job; not part of the key (it changes no result)


def resolve_config(point: Point):
    from archsim.config import load_config
    return load_config(point.hw, overrides=dict(point.overrides))


def point_key(point: Point, config_dict: dict, exec_mode: str) -> str:
    doc = {"archsim_version": __version__, "config": config_dict, "workload": point.workload,
           "mode": point.mode, "exec_mode": exec_mode, "seed": point.seed,
           "l2_start": point.l2_start, "repeat": point.repeat}
    text = json.dumps(doc, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()


def make_job(point: Point, max_work: float | None = None) -> Job:
    """Resolve the point's config and key (raises ConfigError/UserError if the point is bad).
    max_work: the estimated-work limit the point runs under (default: archsim's, as `archsim
    run`); a point over it is recorded as failed with WorkLimitError's message."""
    from archsim.config import to_dict
    from archsim.graph.work import DEFAULT_MAX_WORK
    from archsim.simulate import default_exec_mode
    cfg = resolve_config(point)
    exec_mode = point.exec_mode or default_exec_mode(cfg)
    return Job(key=point_key(point, to_dict(cfg), exec_mode), point=point, config=cfg,
               exec_mode=exec_mode, max_work=DEFAULT_MAX_WORK if max_work is None else max_work)


def run_job(job: Job) -> dict:
    """Simulate one point; return {key, status, report, error, wall_s}. Never raises."""
    t0 = time.perf_counter()
    try:
        if job.version != __version__:
            raise RuntimeError(f"worker runs archsim {__version__}, the sweep expects {job.version}")
        report = simulate_point(job)
        return {"key": job.key, "status": "ok", "report": report, "error": None,
                "wall_s": time.perf_counter() - t0}
    except UserError as exc:  # the user's own input (a work limit, a spec): its message alone
        return {"key": job.key, "status": "failed", "report": None, "error": str(exc),
                "wall_s": time.perf_counter() - t0}
    except Exception as exc:  # recorded, never fatal: one bad point must not stop a sweep
        last = traceback.extract_tb(exc.__traceback__)[-1:] if exc.__traceback__ else []
        where = f" (at {last[0].filename.rsplit('/', 1)[-1]}:{last[0].lineno})" if last else ""
        return {"key": job.key, "status": "failed", "report": None,
                "error": f"{type(exc).__name__}: {exc}{where}", "wall_s": time.perf_counter() - t0}


def simulate_point(job: Job) -> dict:
    """The report `archsim run` would write for this point (same fields, same builder)."""
    from archsim import engine
    from archsim.config import to_dict
    from archsim.graph import build_workload
    from archsim.report import build_report
    from archsim.simulate import simulate

    p = job.point
    graph = build_workload(p.workload)
    if p.mode == "training":
        from archsim.graph.training import training_graph
        graph = training_graph(graph)
    t0 = time.perf_counter()
    result = simulate(graph, job.config, exec_mode=job.exec_mode, l2_start=p.l2_start,
                      repeat=p.repeat, seed=p.seed, max_work=job.max_work)
    wall = time.perf_counter() - t0
    simulator = {"backend": engine.BACKEND, "wall_s": wall, "events": result.events,
                 "events_per_s": result.events / wall if wall > 0 else 0.0,
                 "sim_cycles_per_s": result.cycles / wall if wall > 0 else 0.0}
    options = {"hw": p.machine, "overrides": [f"{k}={v}" for k, v in p.overrides],
               "l2_start": p.l2_start, "repeat": p.repeat, "seed": p.seed}
    return build_report(result, config=to_dict(job.config), graph=graph, workload=p.workload,
                        mode=p.mode, exec_mode=job.exec_mode, options=options,
                        simulator=simulator)
