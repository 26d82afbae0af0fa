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


def test_format_text_and_html_diff_show_ratios_to_the_first():
    from analytics.compare import format_text, html_diff
    a, b = fake_report(1), fake_report(2)
    a["energy"] = {"by_component": {"dram": 1.0, "sm": 2.0}}
    b["energy"] = {"by_component": {"dram": 3.0, "sm": 2.0}}
    text = format_text([a, b], ["base", "other"])
    assert "time_s" in text and "2.000x" in text and "#1: other" in text
    page = html_diff([a, b], ["base", "<other>"])
    assert "&lt;other&gt;" in page and "3.000x" in page  # dram energy tripled
    assert "class='n worse'>3.000x" in page and "data:image/png;base64," in page


def test_archsim_compare_cli_reads_reports_and_sweep_points(tmp_path, capsys):
    from archsim.cli import main
    from archsim.sweep import Store, load_sweep, run_sweep
    (tmp_path / "s.yaml").write_text("machines: [h200]\nworkloads: [add(n=16777216)]\n"
                                     "grid:\n  hbm.bandwidth: [1 TB/s, 4 TB/s]\n")
    spec = load_sweep(tmp_path / "s.yaml")
    run_sweep(spec, workers=0, progress=False)
    with Store(spec.db) as st:
        recs = {r["params"]["hbm.bandwidth"]: r for r in st.records()}
    slow, fast = recs["1 TB/s"], recs["4 TB/s"]
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    (run_dir / "report.json").write_text(json.dumps(slow["report"]))
    out = tmp_path / "diff.html"
    assert main(["compare", str(run_dir), f"{spec.db}:{fast['key'][:12]}", "--html", str(out)]) == 0
    text = capsys.readouterr().out
    ratio = fast["report"]["time_s"] / slow["report"]["time_s"]
    assert ratio < 0.5 and f"{ratio:.3f}x" in text
    assert "hbm.bandwidth=4 TB/s" in text and out.stat().st_size > 5000
    assert main(["compare", str(run_dir), f"{spec.db}:zz"]) == 2
    assert main(["compare", str(run_dir), f"{spec.db}:ffffffffffff"]) == 2
    assert main(["compare", str(run_dir)]) == 2
    (tmp_path / "bad.json").write_text("{not json")
    assert main(["compare", str(run_dir), str(tmp_path / "bad.json")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert all(line.startswith("archsim: error: ") for line in err) and len(err) == 4
    assert "bad.json:1: not JSON" in err[-1]
