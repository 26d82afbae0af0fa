"""Build benchmarks/data/h200-fidelity4-energy.json from the raw output of fid4_energy.py (no torch needed).

    python3 benchmarks/device/fid4_assemble.py benchmarks/data/raw-fid4-energy/fid4_energy.json

Keeps the calibration models and kernel loops in the shapes correlate_fidelity2.py / energy_fid2.py
read (model_cases with graph_us and energy; kernel_energy with joules_per_call, us_per_call, avg_w),
and summarises the limiter timelines (the raw file keeps every GEMM's event time and every NVML
sample): per experiment the GEMM time at full clock and under the limiter, and for the step
response the time from the first GEMM to the first throttled one.
"""
import json
import os
import statistics
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(os.path.dirname(HERE), "data", "h200-fidelity4-energy.json")
ENERGY_KEYS = ("joules", "iters", "seconds", "avg_w", "sm_clock_mhz", "sm_clock_min_mhz", "sm_clock_max_mhz",
               "max_power_w", "temp_c_end", "us_per_iter", "joules_per_step", "loop")


def limiter_summary(lim):
    unit = lim["unit_us"]["gemm_4096x4096x2048"]
    out = {"gemm": "bf16 torch.mm 4096x4096x2048 (out=), one CUDA event after each",
           "gemm_us_rested": unit}
    st = lim["step"]["calls"]
    slow = 1.05 * statistics.median(c[2] for c in st[1:50])
    first = next(c for c in st[1:] if c[2] > slow)
    tail = [c[2] for c in st if c[1] > st[-1][1] - 100e3]
    inst = [r[3] / 1e3 for r in lim["step"]["nvml"] if r[3] and r[0] > 0]
    clk = [r[1] for r in lim["step"]["nvml"] if r[0] > 300]
    out["step"] = {"about": "1.5 s idle (context open, ~125 W), then back-to-back GEMMs",
                   "gemm_us_first_50": statistics.median(c[2] for c in st[1:50]),
                   "first_throttled_gemm_start_ms": first[1] / 1e3,
                   "gemm_us_last_100ms": statistics.median(tail),
                   "nvml_instant_w_samples": sorted(set(round(x, 1) for x in inst)),
                   "nvml_sm_mhz_after_300ms": statistics.median(clk) if clk else None,
                   "duration_ms": st[-1][1] / 1e3}
    out["bursts"] = {}
    for k, v in lim.items():
        if not k.startswith("burst") or "calls" not in v:
            continue
        g = [c[2] for c in v["calls"] if c[0] == "gemm"]
        off = [c[2] for c in v["calls"] if c[0] == "off"]
        late = [c[2] for c in v["calls"] if c[0] == "gemm" and c[1] > v["calls"][-1][1] / 2]
        out["bursts"][k] = {"on_ms": v["L_ms"], "gemms_per_burst": v["n_on"], "cycles": v["reps"],
                            "off_us_median": statistics.median(off),
                            "gemm_us_median": statistics.median(g), "gemm_us_median_second_half": statistics.median(late),
                            "nvml_sm_mhz_min": min(r[1] for r in v["nvml"] if r[1])}
    return out


def main(raw_path):
    with open(raw_path) as fh:
        raw = json.load(fh)
    models = []
    for r in raw["models"]:
        if "error" in r:
            continue
        c = {k: r[k] for k in ("id", "model", "batch", "seq", "phase", "context", "mode", "workload") if k in r}
        c["name"] = f"{r['model']}_{r['mode']}_{r['id'].lower()}"
        c.update({k: v for k, v in r["info"].items() if k in ("includes", "training", "flops", "dtype")})
        c["graph_us"] = r["graph_us"]
        c["energy"] = {k: r[k] for k in ENERGY_KEYS if k in r}
        models.append(c)
    kernels = [{k: v for k, v in r.items() if k not in ("eager_event_us", "op")} for r in raw["kernels"] if "error" not in r]
    out = {"about": ("Issue 15 fourth stage (energy): CALIBRATION data, never held-out. Whole models at sizes not in "
                     "h200-heldout-2.json (by workload name) with NVML energy of ~2 s of back-to-back CUDA-graph "
                     "replays; kernel-class loops (a CUDA graph of K calls, replayed ~2 s) of non-GEMM classes and "
                     "short kernels; the board power limiter's response (summary; every event and NVML sample is in "
                     "raw-fid4-energy/fid4_energy.json)."),
           "set": "cal-fid4", "measured_utc": raw["measured_utc"], "device": raw["device"],
           "script": "benchmarks/device/fid4_energy.py (run from benchmarks/device; raw output "
                     "benchmarks/data/raw-fid4-energy/), assembled by benchmarks/device/fid4_assemble.py",
           "idle_before": raw["idle_before"], "idle_after": raw["idle_after"],
           "model_cases": models, "kernel_energy": kernels, "limiter": limiter_summary(raw["limiter"])}
    with open(OUT, "w") as fh:
        json.dump(out, fh, indent=1, sort_keys=True)
        fh.write("\n")
    print(f"wrote {OUT}: {len(models)} models, {len(kernels)} kernel loops")
    print(json.dumps(out["limiter"], indent=1))


if __name__ == "__main__":
    main(sys.argv[1])
