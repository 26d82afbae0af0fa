"""The comparison script's tables (benchmarks/upcycle.py): geomeans per set and missing cases."""
import importlib.util
from pathlib import Path

_spec = importlib.util.spec_from_file_location(
    "upcycle", Path(__file__).resolve().parents[2] / "benchmarks/upcycle.py")
up = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(up)


def _row(app, case, sps, power):
    return {"app": app, "case": case, "samples_per_s": sps, "power_w": power,
            "energy_per_sample_j": power / sps, "bound": {"mesh": 1.0}, "wall_s": 1.0,
            "cpu_s": 1.0}


def test_geomeans_per_set_and_missing_cases(capsys):
    ref = {"a100": {"power_w": 250},
           "throughput": {"resnet50": {"infer_bs1": 100, "train_bs16": 10},
                          "rnnt": {"infer_bs1": 100}}}
    rows = [_row("resnet50", "infer_bs1", 200, 50),     # 2x at 50 W
            _row("rnnt", "infer_bs1", 800, 100),        # 8x at 100 W
            _row("resnet50", "train_bs16", 5, 25)]      # 0.5x at 25 W
    up.print_tables(rows, ref, with_model=False)
    out = capsys.readouterr().out
    sets = {ln.split("|")[1].strip(): [c.strip() for c in ln.split("|")[2:-1]]
            for ln in out.splitlines() if ln.startswith("| infer") or ln.startswith("| train")
            or ln.startswith("| all")}
    assert sets["infer b1"][:3] == ["2", "4.00x", "-"]          # sqrt(2 * 8)
    assert sets["infer b1"][3] == "75 (0.30)"
    # energy per sample: A100 250 W / 100 samples/s = 2.5 J; UPCYCLE 0.25 J and 0.125 J
    assert sets["infer b1"][4] == "14.1x"                         # sqrt(10 * 20)
    assert sets["train b16"][:2] == ["1", "0.50x"]
    assert sets["all"][:2] == ["3", "2.00x"]                      # (2 * 8 * 0.5) ** (1/3)
    assert "3 of 20 cases" in out and "bert-large infer_bs1" in out
    assert "resnet50 infer_bs1," not in out.split("not in these rows:")[1]


def test_a_suspect_reference_is_marked_and_left_out_of_its_own_geomean(capsys):
    ref = {"a100": {"power_w": 250},
           "throughput": {"resnet50": {"train_bs1": 10}, "bert-large": {"train_bs1": 2}},
           "suspect": {"bert-large.train_bs1": "no source"}}
    rows = [_row("resnet50", "train_bs1", 20, 50),      # 2x
            _row("bert-large", "train_bs1", 64, 50)]    # 32x against the suspect reference
    up.print_tables(rows, ref, with_model=False)
    out = capsys.readouterr().out
    assert "| 2 (suspect) |" in out
    sets = {ln.split("|")[1].strip(): [c.strip() for c in ln.split("|")[2:-1]]
            for ln in out.splitlines() if ln.startswith("| train")}
    assert sets["train without 3D-UNet"][:2] == ["2", "8.00x"]              # sqrt(2 * 32)
    assert sets["train without 3D-UNet and suspect references"][:2] == ["1", "2.00x"]
    assert "suspect A100 reference bert-large.train_bs1: no source" in out
