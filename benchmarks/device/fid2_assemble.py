"""Build issue 15's two data files from the raw files run_fid2.sh packed (no torch needed).

    python3 fid2_assemble.py RUN1_DIR RUN2_DIR [RUN3_DIR]
        RUN1_DIR: kernels_time.json, models_time.json, models_energy.json, power.json,
                  ncu_kernels_{heldout2,cal}.csv, ncu_kernels_order_{heldout2,cal}.json, and log.txt
        RUN2_DIR: ncu_model_<name>.csv and ncu_model_order_<name>.json per profiled model, log.txt
        RUN3_DIR: a second machine's kernels_time.json, models_time.json, models_energy.json, ncu_kernels_new.csv,
                  ncu_kernels_order_new.json and ncu_model_* of the cases added after run 1 (see run_fid2.sh)

Writes benchmarks/data/h200-heldout-2.json (set "heldout2") and benchmarks/data/h200-fidelity2-cal.json
(set "cal"), each atomically. The top-level keys are kernel_cases / model_cases / kernel_energy, not
the older files' cases / energy, so that tools reading the older schema do not mistake these sets
for theirs (and nobody tunes on the held-out one by accident).
"""
import json
import os
import re
import sys

import merge_ncu as m

HERE = os.path.dirname(os.path.abspath(__file__))
DATA = os.path.join(HERE, "..", "data")
FILES = {"heldout2": "h200-heldout-2.json", "cal": "h200-fidelity2-cal.json"}


def load(p):
    with open(p) as f:
        return json.load(f)


def dump(name, obj):
    path = os.path.join(DATA, name)
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        json.dump(obj, f, indent=1)
        f.write("\n")
    os.replace(tmp, path)


def norm(name):  # CUPTI and ncu demangle anonymous namespaces differently; "at::" dropped as elsewhere
    return name.replace("(anonymous namespace)", "<unnamed>").replace("at::", "")[:128]


def env_from_log(log):
    text = open(log, errors="replace").read()
    env = {}
    for key, pat in [("driver", r"Driver Version: ([0-9.]+)"), ("ncu", r"Version (20[0-9.]+ \(build [0-9]+\))"),
                     ("nvcc", r"Cuda compilation tools, release ([^\n]+)"),
                     ("started_utc", r"### env start (\S+)")]:
        mm = re.search(pat, text)
        env[key] = mm.group(1) if mm else None
    mm = re.search(r"\n(2\.\d+\.\d+\+cu\d+) (\S+) (\S+) (\d+)\n", text)
    if mm:
        env.update(torch=mm.group(1), torchvision=mm.group(2), cuda=mm.group(3), cudnn=int(mm.group(4)))
    return env


def kernel_cases(r1, r3=None):
    t = load(f"{r1}/kernels_time.json")
    by_id = {c["id"]: c for c in t["cases"]}
    logs = [(r1, s, f"ncu_kernels_{s}.csv", f"ncu_kernels_order_{s}.json") for s in ("heldout2", "cal")]
    if r3:  # the second machine: cases added after run 1 (all fields from it), repeats of the rest
        for c in load(f"{r3}/kernels_time.json")["cases"]:
            if c["id"] not in by_id:
                c["run"] = 3
                t["cases"].append(c)
                by_id[c["id"]] = c
            else:
                old = by_id[c["id"]]
                old["median_us_rep"] = c.get("median_us")
                old["graph_us_rep"] = c.get("graph_us")
                old["cupti_ns_sum_rep"] = c.get("cupti_ns_sum")
        logs.append((r3, "new", "ncu_kernels_new.csv", "ncu_kernels_order_new.json"))
    for run, s, csv, order_f in logs:
        segs = m.segments(m.read_ncu(f"{run}/{csv}"))
        order = load(f"{run}/{order_f}")
        assert len(segs) == len(order), (s, len(segs), len(order))
        for cid, ks in zip(order, segs):
            c = by_id[cid]
            c["kernels"] = ks
            c["kernel_ns_sum"] = sum(k["ns"] or 0 for k in ks)
            c["dram_bytes_sum"] = sum((k["dram_read"] or 0) + (k["dram_write"] or 0) for k in ks)
    for c in t["cases"]:
        for k in c.get("cupti_kernels", []):
            k["name"] = norm(k["name"])
        c.setdefault("kernels", [])
        # Nsight Compute's spelling (as in the older files); CUPTI's only where ncu saw no kernel (memcpy)
        src = c["kernels"] or c.get("cupti_kernels", [])
        c["kernel_names"] = list(dict.fromkeys(k["name"] for k in src))
        c["is_kernel"] = bool(c["kernels"])
        if not c["kernels"]:
            c["note"] = (c.get("note", "") + "; Nsight Compute saw no kernel (cudaMemcpyAsync D2D runs on the copy "
                         "engine): kernel_ns_sum and dram_bytes_sum are 0; cupti_kernels holds the Memcpy DtoD "
                         "activity").lstrip("; ")
    return t, t["cases"]


ENERGY_KEYS = ("joules", "iters", "seconds", "joules_per_step", "us_per_iter", "avg_w", "sm_clock_mhz", "sm_clock_min_mhz",
               "sm_clock_max_mhz", "mem_clock_mhz", "sampled_power_w", "max_power_w", "temp_c_end", "samples", "loop")


def model_cases(r1, r2, r3=None):
    t = load(f"{r1}/models_time.json")
    energy = {e.get("id"): e for e in load(f"{r1}/models_energy.json")["energy"]}
    ncu_dir = {c["name"]: r2 for c in t["cases"]}
    if r3:
        have = {c["id"]: c for c in t["cases"]}
        e3 = {e.get("id"): e for e in load(f"{r3}/models_energy.json")["energy"]}
        for c in load(f"{r3}/models_time.json")["cases"]:
            if c["id"] not in have:
                c["run"] = 3
                t["cases"].append(c)
                ncu_dir[c["name"]] = r3
                energy[c["id"]] = e3.get(c["id"], {})
            else:
                old = have[c["id"]]
                old["graph_us_rep"] = c.get("graph_us")
                old["median_us_rep"] = c.get("median_us")
                old["kernel_ns_sum_rep"] = c.get("kernel_ns_sum")
                e = e3.get(c["id"], {})
                if "joules" in e:
                    old["energy_rep"] = {k: e[k] for k in ENERGY_KEYS if k in e}
    for c in t["cases"]:
        for k in c.get("kernels", []):
            k["name"] = norm(k["name"])
        csv = f"{ncu_dir[c['name']]}/ncu_model_{c['name']}.csv"
        if os.path.exists(csv):
            segs = m.segments(m.read_ncu(csv))
            ks = segs[0] if segs else []
            c["dram_bytes_sum"] = sum((k["dram_read"] or 0) + (k["dram_write"] or 0) for k in ks)
            c["ncu_kernel_ns_sum"] = sum(k["ns"] or 0 for k in ks)
            c["ncu_kernel_count"] = len(ks)
            c["ncu_kernels"] = [{"name": k["name"], "ns": k["ns"], "dram_read": k["dram_read"],
                                 "dram_write": k["dram_write"]} for k in ks]
        else:
            c["ncu_missing"] = ("no Nsight Compute log came back for this model (its ncu process exited 0 "
                                "but wrote no log file); DRAM bytes not measured")
        e = energy.get(c["id"])
        if e and "joules" in e:
            c["energy"] = {k: e[k] for k in ENERGY_KEYS if k in e}
    idle = [e for e in load(f"{r1}/models_energy.json")["energy"] if str(e.get("case", "")).startswith("idle")]
    return t, t["cases"], idle


def kernel_energy(r1):
    p = load(f"{r1}/power.json")
    return p["device"], p["energy"]


ABOUT_COMMON = (
    "One NVIDIA H200 SXM (132 SMs, 60 MiB L2, 141 GB HBM3e, 700 W limit), driver 580.159.04, PyTorch 2.11.0+cu130 "
    "eager, CUDA 13.0, cuDNN 9.19 (91900), Nsight Compute 2025.3.1, Firecracker VM; clocks left alone (max SM "
    "1980 MHz, memory 3201 MHz; under heavy load the 700 W cap lowers the SM clock, see sm_hz / sm_clock_mhz); TF32 "
    "off; cudnn.benchmark off. Measured 2026-12-03 09:26-09:38 UTC on one freshly started machine, by "
    "benchmarks/device/run_fid2.sh (stages env,kernels,models,models_energy,power,ncu_kernels_h,ncu_kernels_c, then "
    "ncu_models in a second call on the same machine); case lists in benchmarks/device/fid2_cases.py; built by "
    "benchmarks/device/fid2_assemble.py. METHOD, kernel_cases (fid2_kernels.py, as kernels.py): inputs torch.randn, "
    "made once; 3 warm-up calls; median_us/min_us = CUDA-event time per call of back-to-back calls (reps sized to "
    "~50 ms); graph_us = the call captured in a one-call CUDA graph and replayed (median; includes ~9 us of graph "
    "launch for one-kernel graphs); cupti_kernels / cupti_ns_sum = every GPU activity (kernels, memcpy, memset) of "
    "one more eager call from torch.profiler (CUPTI), warm L2; kernels / kernel_ns_sum / dram_bytes_sum = Nsight "
    "Compute (--clock-control none, default --cache-control all: L2 flushed before each profiled kernel, as in the "
    "calibration file) of one call after 3 warm-ups, per kernel: name, grid, block, ns, dram_read, dram_write, "
    "l2_hit_pct, sm_pct, sm_hz; kernel_names = the kernel names either tool saw. copy = dst.copy_(src) contiguous "
    "same dtype = cudaMemcpyAsync D2D (no kernel: is_kernel false). model_cases (fid2_models.py, models.py's "
    "models and method; models.py's docstring says exactly what each model includes): 5 warm-ups; median_us = "
    "eager step, CUDA events, median of 30 (CPU-launch-bound at small sizes); graph_us = CUDA-graph replay of one "
    "step, median of 30 (the device time to compare with); kernels = CUPTI activities of one eager step; "
    "kernel_ns_sum = kernels only; ncu_* / dram_bytes_sum = Nsight Compute over one eager step (cache flushed per "
    "kernel: an upper bound on a warm step's DRAM traffic); energy = NVML nvmlDeviceGetTotalEnergyConsumption "
    "(whole board) over ~2.5 s of back-to-back CUDA-graph replays of the step (joules_per_step, avg_w, sampled "
    "clocks); idle_energy = a process holding a CUDA context doing nothing, before the first and after the last "
    "model. Training = fp32 master weights, autocast bf16 forward, loss mean(h.float()**2), backward, "
    "Adam(fused=True, capturable=True). flops = matmul + attention only (training 3x forward). "
    "RUN 3 (a second, freshly started machine, 10:02-10:06 UTC, stages env,kernels,models,models_energy,"
    "ncu_kernels_new,ncu_models): cases with \"run\": 3 were first measured there (all their fields come from it; "
    "ResNet-50 training steps are built by fid2_models.build_resnet50_training); for every other case the *_rep "
    "fields (median_us_rep, graph_us_rep, cupti_ns_sum_rep; models: graph_us_rep, median_us_rep, kernel_ns_sum_rep, "
    "energy_rep) are the same measurement repeated there: the run-to-run spread. "
)


def main(r1, r2, r3=None):
    kt, kcs, = kernel_cases(r1, r3)
    mt, mcs, idle = model_cases(r1, r2, r3)
    pdev, pen = kernel_energy(r1)
    env = env_from_log(f"{r1}/log.txt")
    device = dict(kt["device"], clocks_before_kernels=kt["clocks_before"], clocks_after_kernels=kt.get("clocks_after"),
                  power_limit_w=pdev.get("power_limit_w"), max_sm_clock_mhz=pdev.get("max_sm_clock_mhz"), env=env)
    for s, fname in FILES.items():
        out = {
            "about": ABOUT_COMMON + (
                "THIS FILE IS THE FROZEN HELD-OUT SET of issue 15 (measured before any tuning on it; shapes and "
                "model sizes checked absent from h200-calibration.json, h200-kernels.json, h200-models.json and "
                "the calibration set by fid2_cases.py --check): do not tune on it; report it."
                if s == "heldout2" else
                "THIS FILE IS THE CALIBRATION SET of issue 15 for its weak classes (tune on it). kernel_energy "
                "(fid2_power.py) = NVML board energy of each case looped ~2.5 s from a CUDA graph of K back-to-back "
                "calls (K so one replay lasts >= 2 ms; attention_backward looped eagerly: autograd not captured), "
                "joules_per_call and us_per_call; idle rows before/after."),
            "set": s,
            "measured_utc": "2026-12-03T09:26:39Z/2026-12-03T09:38:16Z (runs 1-2); 2026-12-03T10:02:42Z/10:06:38Z (run 3)",
            "device": device,
            "kernel_cases": [c for c in kcs if c["set"] == s],
            "model_cases": [c for c in mcs if c["set"] == s],
            "idle_energy": idle,
        }
        if s == "cal":
            out["kernel_energy"] = pen
        dump(fname, out)
        print(fname, len(out["kernel_cases"]), "kernel cases,", len(out["model_cases"]), "models,",
              len(out.get("kernel_energy", [])), "kernel energy rows")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], sys.argv[3] if len(sys.argv) > 3 else None)
