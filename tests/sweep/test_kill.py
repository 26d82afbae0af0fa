"""Kill a sweep with SIGKILL at random moments five times, restarting each time: the final store
holds every point exactly once, identical to an uninterrupted run.

Each killed run is its own process group (the sweep and, in the Dask round, its worker
processes), killed with SIGKILL as a whole. Moments are drawn from a seeded generator: during
start-up in the first round, and in the others a random delay after one or two more points are
committed, so the kills land mid-sweep (between commits, or during one).
"""
import json
import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

from archsim.sweep import Store, load_sweep, plan, run_sweep

REPO = Path(__file__).resolve().parents[2]
SWEEP = """\
name: kill-test
machines: [h200]
workloads: ["layernorm(rows=4096, cols=1024)", "gemm(M=512, N=512, K=512)"]
grid:
  l2.size: [20 MiB, 40 MiB]
  sm.count: [66, 99, 132]
"""


def rows(db: Path) -> int:
    if not db.exists():
        return 0
    try:
        con = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=10)
    except sqlite3.DatabaseError:  # being created right now
        return 0
    try:
        return con.execute("SELECT count(*) FROM points").fetchone()[0]
    except sqlite3.DatabaseError:  # tables not created yet
        return 0
    finally:
        con.close()


def comparable(db: Path) -> dict:
    """key -> (the row's columns apart from wall time, the report apart from its simulator block)."""
    con = sqlite3.connect(db)
    con.row_factory = sqlite3.Row
    out = {}
    for r in con.execute("SELECT * FROM points"):
        d = dict(r)
        rep = json.loads(d.pop("report"))
        rep.pop("simulator")
        d.pop("wall_s")
        out[d["key"]] = (d, rep)
    values = sorted(tuple(r) for r in con.execute("SELECT key, name, text, num FROM point_values"))
    assert con.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    con.close()
    return {"points": out, "values": values}


def test_sigkill_five_times_then_finish_equals_uninterrupted(tmp_path):
    sweep = tmp_path / "kill.yaml"
    sweep.write_text(SWEEP)
    spec = load_sweep(sweep)
    n_points = len(plan(spec, None).jobs)
    assert n_points == 12

    ref_db = tmp_path / "ref.db"
    s = run_sweep(spec, db=str(ref_db), workers=0, progress=False)
    assert s.ran == n_points and s.failed == 0
    # one point's simulation time (median over the reference run): a kill lands a random
    # fraction of a point after the awaited commit, so it falls inside the sweep, not after it
    with sqlite3.connect(ref_db) as con:
        walls = sorted(w for (w,) in con.execute("SELECT wall_s FROM points"))
    point_s = walls[len(walls) // 2]

    db = tmp_path / "killed.db"
    env = dict(os.environ, PYTHONPATH=str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", ""),
               PYTHONWARNINGS="ignore")
    rng = random.Random(14)
    mid_sweep_kills, history = 0, []
    for rnd in range(5):
        workers = "1" if rnd == 1 else "0"  # one round on a Dask LocalCluster, the rest without
        before = rows(db)
        proc = subprocess.Popen([sys.executable, "-m", "archsim", "sweep", str(sweep), "--db", str(db),
                                 "--workers", workers, "-q"], cwd=tmp_path, env=env,
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True)
        try:
            if rnd == 0:
                time.sleep(rng.uniform(0.2, 1.5))  # during start-up
            else:  # after one or two more committed points, and a random fraction of a point
                target = before + rng.randint(1, 2)
                deadline = time.monotonic() + 60
                while rows(db) < target and proc.poll() is None and time.monotonic() < deadline:
                    time.sleep(0.01)
                time.sleep(rng.uniform(0.0, point_s))
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except ProcessLookupError:  # the sweep had finished and its group is gone
                pass
        finally:
            proc.wait(timeout=30)
        after = rows(db)
        killed = proc.returncode == -signal.SIGKILL  # else it had finished (exit 0) before the kill
        assert killed or proc.returncode == 0, proc.stderr.read()
        history.append((rnd, before, after, killed))
        if killed and after < n_points:
            mid_sweep_kills += 1
        assert before <= after <= n_points
        print("round", rnd, "workers", workers, "rows", before, "->", after, "killed:", killed)
    assert mid_sweep_kills >= 3, history  # the kills really interrupted running sweeps
    assert rows(db) > 0, history

    # restart: runs exactly the missing points, then nothing
    done = run_sweep(load_sweep(sweep), db=str(db), workers=0, progress=False)
    assert done.ran == n_points - history[-1][2] and done.skipped == history[-1][2], history
    with Store(db) as store:
        assert store.count() == {"ok": n_points}
    again = run_sweep(load_sweep(sweep), db=str(db), workers=0, progress=False)
    assert again.ran == 0 and again.skipped == n_points

    got, ref = comparable(db), comparable(ref_db)
    assert sorted(got["points"]) == sorted(ref["points"])
    for key in ref["points"]:
        assert got["points"][key] == ref["points"][key], key
    assert got["values"] == ref["values"]
