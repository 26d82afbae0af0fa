import json

from analytics.compare import compare_rows, main, time_by_kind


def fake_report(scale: float) -> dict:
    return {"schema": "archsim.report/1", "workload": "w", "machine": "m",
            "time_s": 2.0 * scale, "energy_j": 3.0 * scale, "dram_read_bytes": 10 * scale,
            "dram_write_bytes": 5 * scale, "flops": 100,
            "ops": [{"kind": "gemm", "time_s": 1.5 * scale}, {"kind": "softmax", "time_s": 0.5 * scale}]}


def test_ratios_and_kind_totals():
    rows = compare_rows([fake_report(1), fake_report(2)])
    assert dict((r[0], r[-1]) for r in rows)["time_s"] == "2.000x"
    assert time_by_kind(fake_report(1)) == {"gemm": 1.5, "softmax": 0.5}


def test_cli_writes_plot_and_rejects_non_reports(tmp_path, capsys):
    a, b, bad = tmp_path / "a.json", tmp_path / "b.json", tmp_path / "bad.json"
    a.write_text(json.dumps(fake_report(1)))
    b.write_text(json.dumps(fake_report(3)))
    bad.write_text(json.dumps({"schema": "other"}))
    assert main([str(a), str(b), "--plot", str(tmp_path / "k.png")]) == 0
    assert (tmp_path / "k.png").stat().st_size > 1000
    assert "3.000x" in capsys.readouterr().out
    assert main([str(bad)]) == 2
