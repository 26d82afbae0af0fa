"""Running a sweep: plan (resolve every point, find what the store already has), then execute.

Execution is on Dask: a `distributed.LocalCluster` of `workers` single-threaded worker processes
by default (one per core), or an existing cluster at `scheduler`. Each point is one task; results
are committed to the store by this process as they complete, in completion order, so killing the
sweep loses only the points in flight. `workers=0` runs the points one by one in this process
without Dask (debugging, tiny sweeps); the store and the results are the same.
"""
from __future__ import annotations

import logging
import os
import sys
import time
from dataclasses import dataclass, field
from typing import Callable, Iterator

from archsim.errors import ConfigError, UserError
from archsim.sweep.point import Job, make_job, run_job
from archsim.sweep.spec import SweepSpec, locate_override_error
from archsim.sweep.store import Store


@dataclass
class Plan:
    jobs: list[Job]                     # unique points, in sweep-file order
    done: set[str]                      # keys already in the store
    same_as: dict[int, str] = field(default_factory=dict)  # point index -> key of an earlier twin

    @property
    def todo(self) -> list[Job]:
        return [j for j in self.jobs if j.key not in self.done]


def plan(spec: SweepSpec, store: Store | None, *, retry_failed: bool = False,
         max_work: float | None = None) -> Plan:
    """Resolve every point's config and key; a bad point is a ConfigError at its sweep-file line."""
    from archsim.graph import get_workload
    from archsim.graph.spec import parse_spec
    jobs, seen, same_as = [], {}, {}
    checked_workloads: set[str] = set()
    for i, point in enumerate(spec.points):
        if point.workload not in checked_workloads:  # unknown names fail here, not on a worker
            try:
                get_workload(parse_spec(point.workload)[0])
            except UserError as exc:
                raise ConfigError(str(exc), file=spec.file, key="workloads") from None
            checked_workloads.add(point.workload)
        try:
            job = make_job(point, max_work)
        except ConfigError as exc:
            raise locate_override_error(spec, point, exc) from None
        if job.key in seen:
            same_as[i] = job.key
            continue
        seen[job.key] = True
        jobs.append(job)
    done = store.finished(include_failed=not retry_failed) if store is not None else set()
    return Plan(jobs=jobs, done=done, same_as=same_as)


def default_workers() -> int:
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not Linux
        return max(1, os.cpu_count() or 1)


def _serial(jobs: list[Job]) -> Iterator[tuple[Job, dict]]:
    for job in jobs:
        yield job, run_job(job)


def _dask(jobs: list[Job], workers: int | None, scheduler: str | None) -> Iterator[tuple[Job, dict]]:
    try:
        from distributed import Client, LocalCluster, as_completed
    except ImportError:
        raise UserError("dask.distributed is not installed: pip install 'dask[distributed]', "
                        "or run without Dask with --workers 0") from None
    cluster = None
    try:
        if scheduler:
            try:
                client = Client(scheduler, timeout="20s")
            except (OSError, TimeoutError, ValueError) as exc:
                raise UserError(f"--scheduler {scheduler}: cannot connect ({exc})") from None
        else:
            cluster = LocalCluster(n_workers=workers or default_workers(), threads_per_worker=1,
                                   processes=True, dashboard_address=None,
                                   silence_logs=logging.ERROR)
            client = Client(cluster)
        by_key = {f"archsim-point-{j.key}": j for j in jobs}
        futures = client.map(run_job, jobs, key=list(by_key), pure=False)
        for fut in as_completed(futures):
            job = by_key[fut.key]
            try:
                outcome = fut.result()
            except Exception as exc:  # the worker died (KilledWorker), or the task was lost
                outcome = {"key": job.key, "status": "failed", "report": None, "wall_s": 0.0,
                           "error": f"{type(exc).__name__}: {exc}"}
            fut.release()
            yield job, outcome
        client.close()
    finally:
        if cluster is not None:
            cluster.close()


@dataclass
class Summary:
    ran: int = 0
    failed: int = 0
    skipped: int = 0
    duplicates: int = 0
    wall_s: float = 0.0
    point_wall_s: list = field(default_factory=list)
    errors: list = field(default_factory=list)


def run_sweep(spec: SweepSpec, *, db: str | None = None, workers: int | None = None,
              scheduler: str | None = None, retry_failed: bool = False, progress: bool = True,
              on_point: Callable[[Job, dict], None] | None = None,
              max_work: float | None = None) -> Summary:
    """Run every point of `spec` not yet in the store; return what happened. max_work: the
    estimated-work limit per point (default: archsim's, as `archsim run --max-work`)."""
    t0 = time.perf_counter()
    with Store(db or spec.db) as store:
        p = plan(spec, store, retry_failed=retry_failed, max_work=max_work)
        todo = p.todo
        s = Summary(skipped=len(p.jobs) - len(todo), duplicates=len(p.same_as))
        if not todo:
            s.wall_s = time.perf_counter() - t0
            return s
        results = _serial(todo) if workers == 0 else _dask(todo, workers, scheduler)
        bar = None
        if progress:
            from tqdm import tqdm
            bar = tqdm(total=len(todo), unit="pt", desc=spec.name, file=sys.stderr,
                       dynamic_ncols=True, smoothing=0.1,
                       mininterval=0.1 if sys.stderr.isatty() else 10.0)
        try:
            for job, outcome in results:
                store.add(key=job.key, sweep=spec.name, point=job.point, exec_mode=job.exec_mode,
                          config=_config_dict(job), outcome=outcome, version=job.version)
                s.ran += 1
                s.point_wall_s.append(outcome.get("wall_s") or 0.0)
                if outcome["status"] != "ok":
                    s.failed += 1
                    s.errors.append((job.point.label(), outcome.get("error")))
                if on_point is not None:
                    on_point(job, outcome)
                if bar is not None:
                    bar.set_postfix_str(f"{outcome.get('wall_s') or 0:.2f} s/pt, "
                                        f"{s.failed} failed", refresh=False)
                    bar.update(1)
        finally:
            if bar is not None:
                bar.close()
            if hasattr(results, "close"):
                results.close()
    s.wall_s = time.perf_counter() - t0
    return s


def _config_dict(job: Job) -> dict:
    from archsim.config import to_dict
    return to_dict(job.config)
