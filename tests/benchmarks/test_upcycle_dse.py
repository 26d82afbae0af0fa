"""The design-sweep script's Pareto front (benchmarks/upcycle_dse.py)."""
import importlib.util
from pathlib import Path

from hypothesis import given, strategies as st

_spec = importlib.util.spec_from_file_location(
    "upcycle_dse", Path(__file__).resolve().parents[2] / "benchmarks/upcycle_dse.py")
dse = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(dse)

pts = st.lists(st.fixed_dictionaries({"samples_per_s": st.integers(1, 50),
                                      "power_w": st.integers(1, 50)}), min_size=1, max_size=20)


@given(pts)
def test_pareto_front_is_exactly_the_undominated_points(points):
    front = set(dse.pareto(points, "power_w"))
    for i, p in enumerate(points):
        dominated = any(q["samples_per_s"] >= p["samples_per_s"] and q["power_w"] <= p["power_w"]
                        and q != p for q in points)
        assert (i in front) == (not dominated)
    assert front                      # a finite set always has an undominated point


def test_sweep_covers_the_issue_grid():
    assert sorted(dse.MESHES) == [1024, 2048, 4096]
    assert all(r * c == n for n, (r, c) in dse.MESHES.items())
    assert dse.SIMD == (256, 512) and min(dse.CLOCKS) == 1.0 and max(dse.CLOCKS) == 2.9


def test_sweep_file_is_the_issue_grid_on_two_workloads():
    from archsim.sweep.spec import load_sweep
    spec = load_sweep(str(dse.SWEEP_FILE))
    seen = set()
    for p in spec.points:
        ov = {k: str(v) for k, v in p.overrides}
        seen.add((p.workload.split("(")[0], int(ov["tiles.rows"]) * int(ov["tiles.cols"]),
                  int(ov["tiles.vector_bits"]), float(ov["tiles.clock"].split()[0])))
        assert p.exec_mode == "stepsync"
    want = {(w, t, b, g) for w in ("resnet50", "bert-large") for t in (1024, 2048, 4096)
            for b in (256, 512) for g in (1.0, 1.6, 2.4, 2.9)}
    assert seen == want and len(spec.points) == 48


def test_pareto_command_from_json_marks_the_fronts(tmp_path, capsys):
    import json
    rows = [{"workload": "w", "tiles": 1024, "bits": 512, "ghz": 1.0, "samples_per_s": 10,
             "power_w": 5, "area_mm2": 100},
            {"workload": "w", "tiles": 2048, "bits": 512, "ghz": 1.0, "samples_per_s": 9,
             "power_w": 6, "area_mm2": 200},     # beaten on both by the first
            {"workload": "w", "tiles": 4096, "bits": 512, "ghz": 2.9, "samples_per_s": 20,
             "power_w": 9, "area_mm2": 50}]
    f = tmp_path / "rows.json"
    f.write_text(json.dumps(rows))
    assert dse.main(["pareto", "--from-json", str(f)]) == 0
    lines = [ln for ln in capsys.readouterr().out.splitlines() if ln.startswith("| 2048")
             or ln.startswith("| 1024") or ln.startswith("| 4096")]
    cells = {ln.split("|")[1].strip(): [c.strip() for c in ln.split("|")[8:10]] for ln in lines}
    assert cells["2048"] == ["", ""]
    assert cells["1024"] == ["yes", ""]       # undominated on power, beaten on area by 4096
    assert cells["4096"] == ["yes", "yes"]
