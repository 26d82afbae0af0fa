"""Fuzz the archsim CLI: generated machine YAML, --set lists and workload specs, each run in a
worker process under a deadline. Every case must end in exit 0 or exit 2 with one line; the
script counts tracebacks (an exception escaping main), exit 1 (internal errors), crashes (the
worker died) and hangs (past the deadline: the worker is killed and replaced).

    PYTHONPATH=. python benchmarks/fuzz.py --cases 10000 --workers 2 --deadline 30

Workers import archsim once and run cases in-process (a fresh interpreter per case would cost a
second each); each worker's address space is capped (--mem-gib) so a runaway allocation shows up
as an internal error instead of swapping the machine. Cases come from tests/helpers/fuzzgen.py,
seeded by case number: `--only N` replays case N and prints its argv.
"""
from __future__ import annotations

import argparse
import collections
import contextlib
import io
import json
import multiprocessing as mp
import os
import random
import sys
import tempfile
import time
from multiprocessing.connection import wait
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests" / "helpers"))
sys.path.insert(0, str(ROOT))

import fuzzgen  # noqa: E402


def run_case(seed: int, tmpdir: Path) -> dict:
    from archsim import cli
    rng = random.Random(seed)
    kind, argv, files = fuzzgen.case(rng, tmpdir)
    for name, text in files.items():
        (tmpdir / name).write_bytes(text.encode("utf-8", "surrogatepass"))
    out, err = io.StringIO(), io.StringIO()
    t0 = time.perf_counter()
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            rc = cli.main(argv)
        outcome = "ok" if rc in (0, 2) else f"exit-{rc}"
    except SystemExit as e:  # argparse: exit 2 with a usage line
        rc = e.code if isinstance(e.code, int) else 1
        outcome = "ok" if rc in (0, 2) else f"exit-{rc}"
    except BaseException as e:  # noqa: BLE001 - exactly what the fuzzer looks for
        rc, outcome = None, "traceback"
        err.write(f"{type(e).__name__}: {e}")
    lines = [ln for ln in err.getvalue().splitlines() if ln.strip()]
    if outcome == "ok" and rc == 2 and lines and "Traceback" in err.getvalue():
        outcome = "traceback"
    return {"seed": seed, "kind": kind, "rc": rc, "outcome": outcome,
            "wall_s": time.perf_counter() - t0, "argv": argv,
            "message": (lines[-1] if lines else "")[:300]}


def worker(conn, mem_gib: float) -> None:
    import resource
    import warnings
    warnings.simplefilter("ignore")
    if mem_gib > 0:
        limit = int(mem_gib * 2**30)
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    tmp = Path(tempfile.mkdtemp(prefix="archsim-fuzz-"))
    while True:
        seed = conn.recv()
        if seed is None:
            return
        conn.send(run_case(seed, tmp))


def cpu_seconds(pid: int) -> float:
    """utime + stime of a process, from /proc (Linux)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return 0.0


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--cases", type=int, default=2000)
    ap.add_argument("--start", type=int, default=0, help="first case number (seed)")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--deadline", type=float, default=30.0,
                    help="CPU seconds per case (the machine may be shared: CPU time, not wall "
                         "time, tells a hang from a wait)")
    ap.add_argument("--wall-deadline", type=float, default=600.0, help="wall seconds per case")
    ap.add_argument("--mem-gib", type=float, default=6.0, help="address-space cap per worker")
    ap.add_argument("--only", type=int, default=None, help="replay one case in this process")
    ap.add_argument("--log", default=None, help="write every failing case as JSON lines here")
    args = ap.parse_args()
    if args.only is not None:
        r = run_case(args.only, Path(tempfile.mkdtemp(prefix="archsim-fuzz-")))
        print(json.dumps(r, indent=1))
        return

    ctx = mp.get_context("fork")
    todo = collections.deque(range(args.start, args.start + args.cases))
    slots: dict = {}  # conn -> (process, seed, started)

    def spawn():
        parent, child = ctx.Pipe()
        p = ctx.Process(target=worker, args=(child, args.mem_gib), daemon=True)
        p.start()
        return parent, p

    counts = collections.Counter()
    by_kind = collections.Counter()
    failures = []
    walls = []
    t0 = time.time()
    idle = [spawn() for _ in range(args.workers)]
    while todo or slots:
        while idle and todo:
            conn, p = idle.pop()
            seed = todo.popleft()
            conn.send(seed)
            slots[conn] = (p, seed, time.time(), cpu_seconds(p.pid))
        timeout = 1.0
        for conn in wait(list(slots), timeout=timeout):
            p, seed, _, _ = slots.pop(conn)
            try:
                r = conn.recv()
            except (EOFError, OSError):  # the worker died (a crash: segfault, abort, OOM kill)
                r = {"seed": seed, "outcome": "crash", "kind": "?", "message": f"exitcode {p.exitcode}"}
                p.join(1)
                conn, p = spawn()
            counts[r["outcome"]] += 1
            by_kind[(r["kind"], r.get("rc"))] += 1
            walls.append(r.get("wall_s", 0.0))
            if r["outcome"] != "ok":
                failures.append(r)
            idle.append((conn, p))
        now = time.time()
        for conn, (p, seed, started, cpu0) in list(slots.items()):
            cpu = cpu_seconds(p.pid) - cpu0
            if cpu > args.deadline or now - started > args.wall_deadline:  # a hang: replace it
                p.kill()
                p.join(5)
                slots.pop(conn)
                counts["hang"] += 1
                failures.append({"seed": seed, "outcome": "hang", "kind": "?",
                                 "message": f"no answer within {cpu:.0f} CPU s / "
                                            f"{now - started:.0f} wall s"})
                idle.append(spawn())
        done = sum(counts.values())
        if done and done % 500 == 0:
            print(f"  {done} cases, {time.time() - t0:.0f} s, {dict(counts)}", file=sys.stderr,
                  flush=True)
    for conn, p in idle:
        conn.send(None)
        p.join(5)

    total = sum(counts.values())
    print(f"archsim fuzz: {total} cases (seeds {args.start}..{args.start + args.cases - 1}), "
          f"{args.workers} workers, deadline {args.deadline:g} CPU s ({args.wall_deadline:g} wall s), "
          f"{time.time() - t0:.0f} s wall")
    print(f"| outcome | cases |\n|---|---|")
    for k in ("ok", "traceback", "exit-1", "crash", "hang"):
        print(f"| {k} | {counts.get(k, 0)} |")
    print("\n| kind | exit 0 | exit 2 |\n|---|---|---|")
    for kind in ("yaml", "set", "spec"):
        print(f"| {kind} | {by_kind.get((kind, 0), 0)} | {by_kind.get((kind, 2), 0)} |")
    walls.sort()
    if walls:
        print(f"\nper-case wall: median {walls[len(walls) // 2]:.3f} s, max {walls[-1]:.1f} s")
    for f in failures[:20]:
        print(f"FAIL seed {f['seed']} {f['outcome']}: {f.get('argv')} -> {f['message']}")
    if args.log:
        with open(args.log, "w") as fh:
            for f in failures:
                fh.write(json.dumps(f) + "\n")
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
