"""Schema and provenance of issue 15's H200 data sets and the published A100/H100 file.

These check the measured files as data: that every record carries what the correlator and a
reader need (shape, dtype, kernel names, times, DRAM bytes, energy), that the held-out set is what
benchmarks/device/fid2_cases.py says was measured and shares no shape with any other file, and
that every published number names its source. No GPU needed.
"""
from __future__ import annotations

import json
import os
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
DATA = os.path.join(ROOT, "benchmarks", "data")
sys.path.insert(0, os.path.join(ROOT, "benchmarks", "device"))
sys.path.insert(0, os.path.join(ROOT, "benchmarks"))

import fid2_cases  # noqa: E402


def _load(name):
    with open(os.path.join(DATA, name)) as fh:
        return json.load(fh)


HELD = _load("h200-heldout-2.json")
CAL = _load("h200-fidelity2-cal.json")
PUB = _load("published-a100-h100.json")


@pytest.mark.parametrize("data,set_name", [(HELD, "heldout2"), (CAL, "cal")])
def test_header_states_device_driver_clocks_and_method(data, set_name):
    assert data["set"] == set_name
    dev = data["device"]
    assert dev["name"] == "NVIDIA H200" and dev["sms"] == 132
    assert dev["env"]["driver"] == "580.159.04" and dev["env"]["torch"].startswith("2.11")
    assert dev["clocks_before_kernels"]["clocks.max.sm"] == "1980"
    for word in ("CUDA-event", "CUDA graph", "Nsight Compute", "NVML", "fid2_kernels.py", "run_fid2.sh"):
        assert word in data["about"], word
    assert data["measured_utc"].startswith("2026-12-03T09:26")


@pytest.mark.parametrize("data", [HELD, CAL], ids=["heldout2", "cal"])
def test_kernel_records_are_complete(data):
    ids = [c["id"] for c in data["kernel_cases"]]
    assert len(ids) == len(set(ids))
    for c in data["kernel_cases"]:
        assert "error" not in c, c["id"]
        assert c["op"] and c["dtype"] in ("bf16", "fp16", "fp32"), c["id"]
        assert c["median_us"] > 0 and c["cupti_ns_sum"] > 0, c["id"]
        assert c["kernel_names"], c["id"]
        if c["op"] == "copy":  # cudaMemcpyAsync: no kernel for Nsight Compute, a Memcpy activity for CUPTI
            assert c["is_kernel"] is False and c["kernel_ns_sum"] == 0
            assert any(k["name"].startswith("Memcpy DtoD") for k in c["cupti_kernels"])
        else:
            assert c["is_kernel"] and c["kernel_ns_sum"] > 0, c["id"]
            assert all(k["dram_read"] is not None and k["sm_hz"] > 1e9 for k in c["kernels"]), c["id"]
            assert c["dram_bytes_sum"] > 0, c["id"]


@pytest.mark.parametrize("data", [HELD, CAL], ids=["heldout2", "cal"])
def test_model_records_have_time_kernels_dram_and_energy(data):
    for c in data["model_cases"]:
        assert c["graph_us"] > 0 and c["kernel_ns_sum"] > 0 and c["kernels"], c["id"]
        assert c["dram_bytes_sum"] > 0 and c["ncu_kernel_count"] > 0, c["id"]
        e = c["energy"]
        assert e["joules_per_step"] > 0 and e["iters"] > 0 and e["seconds"] > 1.0, c["id"]
        # energy per step and power agree with each other and with the measured step time
        assert e["joules_per_step"] == pytest.approx(e["avg_w"] * e["us_per_iter"] * 1e-6, rel=1e-6)
        assert e["us_per_iter"] == pytest.approx(c["graph_us"], rel=0.15), c["id"]


def test_files_hold_exactly_the_cases_the_script_lists():
    assert [c["id"] for c in HELD["kernel_cases"]] == [c["id"] for c in fid2_cases.heldout_kernels()]
    assert [c["id"] for c in CAL["kernel_cases"]] == [c["id"] for c in fid2_cases.cal_kernels() + fid2_cases.cal3_kernels()]
    assert [c["id"] for c in HELD["model_cases"]] == [c["id"] for c in fid2_cases.heldout_models()]
    assert [c["id"] for c in CAL["model_cases"]] == [c["id"] for c in fid2_cases.cal_models()]
    listed = {c["id"]: fid2_cases.shape_key(c) for c in fid2_cases.all_kernel_cases()}
    for c in HELD["kernel_cases"] + CAL["kernel_cases"]:
        assert fid2_cases.shape_key(c) == listed[c["id"]], c["id"]


def test_heldout_set_is_large_new_and_covers_every_kernel_kind():
    cases = HELD["kernel_cases"]
    assert len(cases) >= 40
    kinds = {c["op"] for c in cases}
    assert {"gemm", "attention", "conv2d", "pool", "softmax", "layernorm", "add", "copy", "gather",
            "embedding", "reduce", "transpose"} <= kinds
    assert any(c["op"] == "gemm" and c.get("batch", 1) > 1 for c in cases)
    assert any(c["op"] == "gemm" and c["dtype"] == "fp32" for c in cases)
    assert any(c["op"] == "attention" and c["S"] == 1 for c in cases)
    assert any(c["op"] == "conv2d" and c["C"] == 3 and c["R"] == 7 for c in cases)
    assert any(c["op"] == "softmax" and c["rows"] * c["cols"] == 2 ** 20 for c in cases)
    # nothing in it was measured in any other file (shapes compared without measured fields)
    others = _load("h200-kernels.json")["cases"] + CAL["kernel_cases"]
    ref = os.path.join(ROOT, "..", "shared", "reference", "h200-calibration.json")
    if os.path.exists(ref):
        with open(ref) as fh:
            others += json.load(fh)["cases"]
    seen = {fid2_cases.shape_key(c) for c in others if "op" in c}
    assert not [c["id"] for c in cases if fid2_cases.shape_key(c) in seen]
    old_models = {fid2_cases.model_key(c) for c in _load("h200-models.json")["cases"] + CAL["model_cases"]}
    models = HELD["model_cases"]
    assert not [c["id"] for c in models if fid2_cases.model_key(c) in old_models]
    for family in ("bert-base", "resnet50", "llama3-8b"):
        assert sum(c["workload"].startswith(family) and c["mode"] == "inference" for c in models) == 2, family
    assert sum(c["mode"] == "training" for c in models) == 2


def test_calibration_set_covers_the_issue_classes_with_energy():
    ops = {c["op"] for c in CAL["kernel_cases"]}
    assert {"conv2d", "pool", "softmax", "layernorm", "copy", "copy_kernel", "layernorm_backward",
            "softmax_backward", "adam_fused", "cast", "conv2d_dgrad", "conv2d_wgrad"} <= ops
    roles = {c.get("role") for c in CAL["kernel_cases"] if c["op"] == "gemm"}
    assert roles == {"fwd", "dgrad", "wgrad"}
    train = [c for c in CAL["model_cases"] if c["mode"] == "training" and c["model"] == "bert"]
    assert len({c["batch"] for c in train}) >= 3 and len({c["seq"] for c in train}) >= 3
    energy = [e for e in CAL["kernel_energy"] if "kernel_op" in e]
    assert len(energy) == len(fid2_cases.cal_energy())
    for e in energy:
        assert e["seconds"] > 2.0 and e["joules_per_call"] > 0 and e["us_per_call"] > 0, e["id"]
    idle = [e for e in CAL["kernel_energy"] if e.get("case", "").startswith("idle")]
    assert len(idle) == 2 and all(50 < e["avg_w"] < 200 for e in idle)


def test_every_published_number_cites_its_source_and_runs_on_a_shipped_config():
    from archsim.graph import build_workload
    for e in PUB["entries"]:
        assert e["source"] and e["conditions"] and e["derive"], e["id"]
        assert e["setting_match"] in ("yes", "partial"), e["id"]
        assert os.path.exists(os.path.join(ROOT, "hwconfigs", f"{e['config']}.yaml")), e["id"]
        assert e["value"] > 0
        build_workload(e["workload"])  # the spec parses and builds


def test_published_times_follow_each_entrys_formula():
    from correlate_published import measured_time_s
    by = {e["id"]: e for e in PUB["entries"]}
    # 2*6912*16384*2048 flop at 267.9 TFLOP/s, and 256 images at 2470 images/s
    assert measured_time_s(by["P-A100-GEMM-MAMF"]) == pytest.approx(1.7315e-3, rel=1e-3)
    assert measured_time_s(by["P-A100-RN50-TRAIN-AMP"]) == pytest.approx(0.10364, rel=1e-3)
    assert measured_time_s(by["P-A100-COPY"]) == pytest.approx(2 * 94906265 * 4 / 1490e9)


def test_every_kernel_case_maps_or_says_why_not():
    from correlate_fidelity2 import Unmapped, case_workload, kernel_class
    unmapped = []
    for c in HELD["kernel_cases"] + CAL["kernel_cases"]:
        assert kernel_class(c)
        try:
            g, _, desc, _ = case_workload(c)
            assert len(g.ops) >= 1 and desc
        except Unmapped as exc:
            unmapped.append((c["id"], str(exc)))
    assert unmapped == []  # every case maps (batch norm too, since issue 15's third stage)


def test_cal5_file_is_calibration_only_and_maps():
    # issue 15 third stage: its own calibration file, no held-out shape, every case simulated
    from correlate_fidelity2 import case_workload
    from fid2_cases import heldout_kernels, shape_key
    cal5 = _load("h200-fidelity2-cal5.json")
    assert cal5["set"] == "cal5" and len(cal5["kernel_cases"]) == 42
    held = {shape_key(c) for c in heldout_kernels()}
    for c in cal5["kernel_cases"]:
        assert c["set"] == "cal5" and c["id"].startswith("F5-K")
        assert shape_key(c) not in held
        assert c["kernel_ns_sum"] > 0 and c["kernels"]
        g, _, desc, _ = case_workload(c)
        assert g.ops and desc


def test_cal6_file_is_calibration_only_maps_and_keeps_each_launch_cluster():
    # issue 15 fourth stage: the conv sweep and ResNet-50 conv gradients, no held-out shape
    from correlate_fidelity2 import case_workload
    from fid2_cases import cal6_kernels, heldout_kernels, shape_key
    cal6 = _load("h200-fidelity2-cal6.json")
    assert cal6["set"] == "cal6" and len(cal6["kernel_cases"]) == len(cal6_kernels()) == 80
    held = {shape_key(c) for c in heldout_kernels()}
    for c in cal6["kernel_cases"]:
        assert c["set"] == "cal6" and c["id"].startswith("F6-K")
        assert shape_key(c) not in held
        assert c["kernel_ns_sum"] > 0 and c["kernels"]
        for k in c["kernels"]:
            assert len(k["cluster"]) == 2 and k["grid_ctas"] >= 1
        g, _, desc, _ = case_workload(c)
        assert g.ops and desc
    # the fact the grid rule rests on: a persistent xmma launch holds every cluster the GPCs fit,
    # so its CTA count is a function of the cluster size alone (1 or 2 -> 132, 4 or 8 -> 120)
    seen = {}
    for c in cal6["kernel_cases"]:
        for k in c["kernels"]:
            if "xmma_fprop" in k["name"] and k["grid_ctas"] in (105, 110, 117, 120, 132):
                seen.setdefault(k["cluster"][0] * k["cluster"][1], set()).add(k["grid_ctas"])
    assert seen[2] == {132} and seen[8] == {120}
