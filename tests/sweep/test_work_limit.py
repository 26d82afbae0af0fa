"""A sweep point over the estimated-work limit is a recorded failure with the limit's message,
never a hang; the limit is `archsim sweep --max-work` (run_sweep(max_work=)), default as `run`."""
import time

from archsim.cli import main
from archsim.sweep import Store, load_sweep, run_sweep

SWEEP = """\
name: work-limit
machines: [h200]
workloads: ["add(n=65536)", "gemm(M=65536, N=65536, K=65536)"]
"""


def test_point_over_the_default_limit_is_recorded_as_failed_quickly(tmp_path):
    f = tmp_path / "w.yaml"
    f.write_text(SWEEP)
    spec = load_sweep(f)
    t0 = time.perf_counter()
    s = run_sweep(spec, workers=0, progress=False)
    assert time.perf_counter() - t0 < 30      # the 5.6e14-flop GEMM is refused, not simulated
    assert s.ran == 2 and s.failed == 1
    with Store(spec.db) as st:
        recs = {r["params"]["workload"]: r for r in st.records()}
    bad = recs["gemm(M=65536, N=65536, K=65536)"]
    assert bad["status"] == "failed" and bad["report"] is None
    assert bad["error"].startswith("workload 'gemm(M=65536, N=65536, K=65536)' is too large")
    assert "--max-work" in bad["error"] and "Traceback" not in bad["error"]
    assert recs["add(n=65536)"]["status"] == "ok"


def test_a_lower_limit_fails_points_and_retry_with_the_default_runs_them(tmp_path):
    f = tmp_path / "w.yaml"
    f.write_text('machines: [h200]\nworkloads: ["add(n=65536)"]\n')
    spec = load_sweep(f)
    s = run_sweep(spec, workers=0, progress=False, max_work=1e6)
    assert s.failed == 1 and "too large to simulate" in s.errors[0][1]
    again = run_sweep(spec, workers=0, progress=False, retry_failed=True)
    assert again.ran == 1 and again.failed == 0


def test_cli_sweep_max_work_is_validated_and_reaches_the_points(tmp_path, capsys):
    f = tmp_path / "w.yaml"
    f.write_text('machines: [h200]\nworkloads: ["add(n=65536)"]\n')
    try:
        main(["sweep", str(f), "--max-work", "0", "--workers", "0", "-q"])
        raise AssertionError("argparse should have exited")
    except SystemExit as e:
        assert e.code == 2
    assert "positive" in capsys.readouterr().err
    assert main(["sweep", str(f), "--max-work", "1e6", "--workers", "0", "-q"]) == 0
    captured = capsys.readouterr()
    assert "(1 failed)" in captured.out and "too large to simulate" in captured.err
