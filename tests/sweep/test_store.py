"""The store and `archsim results`: keys, resume, failures recorded, --where guarded, CSV export."""
import csv
import io
import json
import sqlite3

import pytest

from archsim.cli import main
from archsim.errors import UserError
from archsim.sweep import Store, load_sweep, plan, run_sweep
from archsim.sweep.query import parse_where

SWEEP = """\
name: store-test
machines: [h200]
workloads: ["add(n=65536)", "gemm(M=64, N=64, K=64, bogus=1)"]
grid:
  l2.size: [20 MiB, 40 MiB]
  hbm.bandwidth: [2 TB/s, 4 TB/s]
"""


@pytest.fixture(scope="module")
def swept(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("store")
    f = tmp / "s.yaml"
    f.write_text(SWEEP)
    spec = load_sweep(f)
    summary = run_sweep(spec, workers=0, progress=False)
    return f, spec, summary


def test_failures_are_recorded_with_their_message_and_do_not_stop_the_sweep(swept):
    f, spec, s = swept
    assert s.ran == 8 and s.failed == 4
    with Store(spec.db) as st:
        assert st.count() == {"ok": 4, "failed": 4}
        recs = st.records()
    bad = [r for r in recs if r["status"] == "failed"]
    assert all("bogus" in r["error"] and r["report"] is None for r in bad)
    good = [r for r in recs if r["status"] == "ok"]
    assert all(r["report"]["workload"] == "add(n=65536)" for r in good)


def test_rerun_runs_nothing_and_retry_failed_reruns_only_failures(swept):
    f, spec, _ = swept
    again = run_sweep(spec, workers=0, progress=False)
    assert again.ran == 0 and again.skipped == 8
    retry = run_sweep(spec, workers=0, progress=False, retry_failed=True)
    assert retry.ran == 4 and retry.failed == 4
    with Store(spec.db) as st:
        assert st.count() == {"ok": 4, "failed": 4}


def test_headline_columns_match_the_stored_report(swept):
    _, spec, _ = swept
    con = sqlite3.connect(spec.db)
    for time_s, energy, dram, rd, wr, rep in con.execute(
            "SELECT time_s, energy_j, dram_bytes, dram_read_bytes, dram_write_bytes, report "
            "FROM points WHERE status='ok'"):
        r = json.loads(rep)
        assert (time_s, energy, rd, wr) == (r["time_s"], r["energy_j"], r["dram_read_bytes"],
                                            r["dram_write_bytes"])
        assert dram == rd + wr
    # the swept values are stored as written and as SI numbers from the resolved config
    vals = dict(((t, n), num) for n, t, num in con.execute("SELECT name, text, num FROM point_values"))
    assert vals[("20 MiB", "l2.size")] == 20 * 2 ** 20 and vals[("4 TB/s", "hbm.bandwidth")] == 4e12


def test_key_depends_on_resolved_config_seed_and_workload(tmp_path):
    def key(text):
        f = tmp_path / "k.yaml"
        f.write_text(text)
        return plan(load_sweep(f), None).jobs[0].key
    base = key("machines: [h200]\nworkloads: [add(n=1024)]\n")
    assert base == key("machines: [h200]\nworkloads: ['add( n=1024 )']\n")  # canonical spec
    assert base == key("machines: [h200]\nworkloads: [add(n=1024)]\nset: {l2.size: 60MiB}\n")
    assert base != key("machines: [h200]\nworkloads: [add(n=1024)]\nset: {l2.size: 50MiB}\n")
    assert base != key("machines: [h200]\nworkloads: [add(n=1024)]\nseeds: [1]\n")
    assert base != key("machines: [h200]\nworkloads: [add(n=2048)]\n")
    assert base != key("machines: [h100]\nworkloads: [add(n=1024)]\n")


def test_where_is_parameterised_and_validated():
    sql, params = parse_where(["time_s<1e-3", "l2.size>=40MiB", "workload~add*"], ["l2.size"])
    assert "?" in sql and "1e-3" not in sql and "add*" not in sql
    assert params == [1e-3, "l2.size", 40 * 2 ** 20, "add*"]
    for bad in ["time_s; DROP TABLE points", "1=1 OR time_s>0", "time_s<banana",
                "workload<abc", "report=1 --", "tme_s<1"]:
        with pytest.raises(UserError):
            parse_where([bad], ["l2.size"])
    with pytest.raises(UserError, match="did you mean 'time_s'"):
        parse_where(["tme_s<1"], [])


def test_results_cli_filters_and_exports_csv(swept, tmp_path, capsys):
    _, spec, _ = swept
    out = tmp_path / "r.csv"
    assert main(["results", spec.db, "--where", "l2.size>=40MiB", "--where", "status=ok",
                 "--out", str(out)]) == 0
    rows = list(csv.DictReader(io.StringIO(out.read_text())))
    assert len(rows) == 2 and {r["l2.size"] for r in rows} == {"40 MiB"}
    con = sqlite3.connect(spec.db)
    for r in rows:
        t = con.execute("SELECT time_s FROM points WHERE key=?", (r["key"],)).fetchone()[0]
        assert float(r["time_s"]) == t
    capsys.readouterr()
    assert main(["results", spec.db, "--where", "status=failed", "--columns", "key,error"]) == 0
    text = capsys.readouterr().out
    assert text.count("bogus") == 4 and "(4 points)" in text
    assert main(["results", spec.db, "--where", "time_s; DROP TABLE points"]) == 2
    assert "expected NAME OP VALUE" in capsys.readouterr().err
    assert con.execute("SELECT count(*) FROM points").fetchone()[0] == 8
    assert main(["results", str(tmp_path / "nope.db")]) == 2
    (tmp_path / "junk.db").write_text("not a database")
    assert main(["results", str(tmp_path / "junk.db")]) == 2
    assert "not an archsim sweep database" in capsys.readouterr().err


def test_existing_scheduler_gives_the_same_store_as_a_serial_run(tmp_path):
    distributed = pytest.importorskip("distributed")
    f = tmp_path / "d.yaml"
    f.write_text("machines: [h200]\nworkloads: [add(n=262144)]\ngrid:\n"
                 "  hbm.bandwidth: [1 TB/s, 2 TB/s, 4 TB/s]\n")
    spec = load_sweep(f)
    serial = run_sweep(spec, db=str(tmp_path / "serial.db"), workers=0, progress=False)
    # an in-process cluster (threads) stands in for a remote one: only its address is passed
    with distributed.LocalCluster(n_workers=1, threads_per_worker=1, processes=False,
                                  dashboard_address=None) as cluster:
        viadask = run_sweep(spec, db=str(tmp_path / "dask.db"), scheduler=cluster.scheduler_address,
                            progress=False)
    assert serial.ran == viadask.ran == 3 and viadask.failed == 0

    def reports(db):
        with Store(db) as st:
            return {r["key"]: {k: v for k, v in r["report"].items() if k != "simulator"}
                    for r in st.records()}
    assert reports(tmp_path / "serial.db") == reports(tmp_path / "dask.db")


def test_dry_run_counts_what_the_store_has_and_report_where_matching_nothing_is_an_error(swept, capsys):
    f, spec, _ = swept
    assert main(["sweep", str(f), "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert "8 points, 8 distinct, 8 already in" in out and out.count(" done ") == 8
    assert main(["sweep", str(f), "--dry-run", "--retry-failed"]) == 0
    assert "4 to run" in capsys.readouterr().out
    assert main(["report", spec.db, "--where", "time_s<0"]) == 2
    assert "none match --where" in capsys.readouterr().err


def test_a_sweep_point_stores_the_report_archsim_run_writes(tmp_path):
    f = tmp_path / "one.yaml"
    f.write_text("machines: [h200]\nworkloads: ['add(n=65536)']\nset: {l2.size: 40 MiB}\n"
                 "grid:\n  hbm.bandwidth: [3 TB/s]\n")
    spec = load_sweep(f)
    run_sweep(spec, workers=0, progress=False)
    with Store(spec.db) as st:
        (rec,) = st.records()
    assert main(["run", "-w", "add(n=65536)", "--set", "l2.size=40 MiB", "--set",
                 "hbm.bandwidth=3 TB/s", "-q", "--out", str(tmp_path / "run")]) == 0
    ran = json.loads((tmp_path / "run" / "report.json").read_text())
    for rep in (ran, rec["report"]):
        rep.pop("simulator")
        rep["options"].pop("hw")  # a path for `run`, the name as the sweep file wrote it
    assert rec["report"] == ran
