"""UPCYCLE batch on the lent machine's CPU cores (issue 11, third stage): no GPU is used.

Runs, in one process pool (one task per core, longest first), whatever of these fits before a
wall-clock deadline, and rewrites one JSON file under OUT after every finished task:
- `case`: comparison cases (benchmarks/upcycle.py's `run_case`, upcycle-2048, step-synchronous);
  `APP:CASE:THREADS` runs the case's cache walks and routing on THREADS threads
  (ARCHSIM_MANYCORE_THREADS; same results), and with UPCYCLE_PROGRESS_DIR set each case
  writes its progress there after every op;
- `a100`: archsim's own A100 model (mode bsp) on a case's graph (the sim-to-sim column);
- `sens`: a sensitivity point (benchmarks/upcycle_dse.py's `run_point`);
- `sweep`: a point of sweeps/upcycle-dse.yaml through the sweep machinery's own `make_job` /
  `run_job` (its outcome is what `archsim sweep` would store; benchmarks/upcycle_dse.py
  `import` adds it to the sweep's store on the host, under the same content key).

    python3 benchmarks/device/upcycle_batch.py --out OUT/upcycle_batch.json --deadline-s 230 \
        --cases resnet50:train_bs16 ... --a100 resnet50:train_bs16 ... \
        --sens "bert-large(...)" --sweep-workload "bert-large(...)" --jobs 16

Deterministic: each task is one simulation with fixed seeds; the pool only changes which
finish before the deadline. The file records the CPU model, core count and date.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from datetime import datetime, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


class Progress:
    """Writes a case's fraction of ops done (and its CPU and wall seconds) to
    DIR/progress_APP_CASE.txt after every op, so a case stopped at the deadline says how far
    it got (fourth stage)."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.c0, self.w0 = time.process_time(), time.perf_counter()

    def __call__(self, frac: float) -> None:
        Path(self.path).write_text(f"{frac:.6f} ops done, {time.process_time() - self.c0:.1f} s CPU, "
                                   f"{time.perf_counter() - self.w0:.1f} s wall\n")


def task(t: tuple) -> dict:
    kind = t[0]
    c0, w0 = time.process_time(), time.perf_counter()
    if kind == "case":
        import upcycle
        app, case = t[1], t[2]
        if len(t) > 3:    # APP:CASE:THREADS: the case's cache walks and routing on threads
            os.environ["ARCHSIM_MANYCORE_THREADS"] = str(int(t[3]))
        pdir = os.environ.get("UPCYCLE_PROGRESS_DIR")
        prog = Progress(str(Path(pdir) / f"progress_{app}_{case}.txt")) if pdir else None
        out = upcycle.run_case((str(ROOT / "hwconfigs/upcycle-2048.yaml"), app, case, (), False,
                                prog))
        out["threads"] = int(os.environ.get("ARCHSIM_MANYCORE_THREADS", "1") or 1)
    elif kind == "a100":
        import upcycle
        _, app, case = t
        out = {"app": app, "case": case, "a100_model": upcycle.a100_model(app, case)}
    elif kind == "sens":
        import upcycle_dse
        _, spec, name = t
        out = upcycle_dse.run_point((spec, tuple(upcycle_dse.SENSITIVITY[name]), 1))
        out.update(name=name, workload=spec)
    elif kind == "sweep":
        import workloads  # noqa: F401  (registers the models without the installed entry point)
        from archsim.sweep.point import make_job, run_job
        from archsim.sweep.spec import load_sweep
        _, index = t
        spec = load_sweep(str(ROOT / "sweeps/upcycle-dse.yaml"))
        job = make_job(spec.points[index])
        out = run_job(job)
        out.update(index=index, workload=job.point.workload,
                   overrides=[[k, str(v)] for k, v in job.point.overrides])
    else:
        raise ValueError(kind)
    out["task"] = list(t)
    out["task_cpu_s"] = time.process_time() - c0
    out["task_wall_s"] = time.perf_counter() - w0
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", required=True)
    ap.add_argument("--deadline-s", type=float, required=True)
    ap.add_argument("--jobs", type=int, default=os.cpu_count())
    ap.add_argument("--cases", nargs="*", default=[], metavar="APP:CASE[:THREADS]")
    ap.add_argument("--a100", nargs="*", default=[], metavar="APP:CASE")
    ap.add_argument("--sens", nargs="*", default=[], metavar="SPEC")
    ap.add_argument("--sweep-workload", nargs="*", default=[], metavar="SPEC")
    ap.add_argument("--sweep-limit", type=int, default=None, help="only the first N such points")
    a = ap.parse_args(argv)
    t0 = time.perf_counter()
    todo = [("case", *c.split(":")) for c in a.cases]
    todo += [("sens", spec, name) for spec in a.sens
             for name in __import__("upcycle_dse").SENSITIVITY]
    if a.sweep_workload:
        from archsim.sweep.spec import load_sweep
        spec = load_sweep(str(ROOT / "sweeps/upcycle-dse.yaml"))
        todo += [("sweep", i) for i, p in enumerate(spec.points)
                 if p.workload in a.sweep_workload][:a.sweep_limit]
    todo += [("a100", *c.split(":")) for c in a.a100]
    head = {"cpu_model": _cpu_model(), "cores": os.cpu_count(), "jobs": a.jobs,
            "python": platform.python_version(), "platform": platform.platform(),
            "started_utc": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "deadline_s": a.deadline_s, "tasks": [list(t) for t in todo]}
    results: list = []
    out = Path(a.out)

    def save(done: bool) -> None:
        doc = dict(head, finished=done, elapsed_s=time.perf_counter() - t0, results=results,
                   not_finished=[list(t) for t in todo
                                 if list(t) not in [r["task"] for r in results]])
        tmp = out.with_suffix(".tmp")
        tmp.write_text(json.dumps(doc, indent=1, default=str) + "\n")
        tmp.replace(out)

    save(False)
    ex = ProcessPoolExecutor(a.jobs)
    pending = {ex.submit(task, t): t for t in todo}
    while pending:
        left = a.deadline_s - (time.perf_counter() - t0)
        if left <= 0:
            break
        done, _ = wait(pending, timeout=left, return_when=FIRST_COMPLETED)
        for f in done:
            t = pending.pop(f)
            try:
                r = f.result()
            except Exception as exc:  # recorded: one failed task must not lose the others
                r = {"task": list(t), "error": f"{type(exc).__name__}: {exc}"}
            results.append(r)
            print(f"[{time.perf_counter() - t0:6.1f} s] done {t}: "
                  f"{r.get('samples_per_s', r.get('status', r.get('error')))} "
                  f"({r.get('task_cpu_s', 0):.0f} s CPU)", flush=True)
            save(False)
    save(not pending)
    print(f"finished {len(results)} of {len(todo)} tasks in {time.perf_counter() - t0:.0f} s; "
          f"not finished: {[pending[f] for f in pending]}", flush=True)
    sys.stdout.flush()
    for p in list(getattr(ex, "_processes", {}).values()):   # the tasks still running
        p.kill()
    os._exit(0)   # do not wait for the tasks still running past the deadline


if __name__ == "__main__":
    sys.exit(main())
