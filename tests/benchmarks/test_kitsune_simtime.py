"""benchmarks/kitsune_simtime.py: its table reports the same dataflow time as run_dataflow."""
import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, "benchmarks"))


def test_simtime_row_matches_a_direct_dataflow_run(capsys):
    import kitsune_simtime
    from kitsune_speedup import graph_of
    from archsim.config import load_config
    from archsim.hw.dataflow.run import run_dataflow
    assert kitsune_simtime.main(["--app", "dlrm", "--phase", "inference"]) == 0
    rows = [line for line in capsys.readouterr().out.splitlines() if line.startswith("| dlrm |")]
    assert len(rows) == 1
    ms = float(rows[0].split("|")[3])
    direct = run_dataflow(graph_of("dlrm", "inference"),
                          load_config(os.path.join(ROOT, "hwconfigs", "a100-kitsune.yaml")))
    assert abs(ms - direct.time_s * 1e3) < 0.0005
