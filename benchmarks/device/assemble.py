"""Build benchmarks/data/h200-*.json from the raw files a device run leaves under $OUT.

    python3 assemble.py RUN1_DIR RUN2_DIR [RUN3_DIR]     (no torch needed; see README.md)

RUN1: kernels_time.json, ncu_kernels.csv, ncu_kernels_order.json, models_time.json, log.txt (queue lines)
RUN2: power.json, ncu_models.csv, ncu_models_order.json, ncu_kernels_warm.csv, kernels_time_rep.json,
      models_time_rep.json
RUN3 (optional): idle_nocontext.json, queue lines in log.txt, copy_profile.json
"""
import json
import os
import sys

import merge_ncu as m

HERE = os.path.dirname(os.path.abspath(__file__))
DATA = os.path.join(HERE, "..", "data")


def load(p):
    with open(p) as f:
        return json.load(f)


def dump(name, obj):
    with open(os.path.join(DATA, name), "w") as f:
        json.dump(obj, f, indent=1)
        f.write("\n")


def kernels(r1, r2, r3):
    t = load(f"{r1}/kernels_time.json")
    order = load(f"{r1}/ncu_kernels_order.json")
    m.merge(t, m.read_ncu(f"{r1}/ncu_kernels.csv"), order)
    # second ncu pass with --cache-control none and only 3 metrics (one replay pass, so ncu's save/restore
    # between passes cannot disturb L2): what the kernel moves with L2 as the 3 warm-up calls left it.
    # (Run 2's multi-pass no-flush attempt, ncu_kernels_warm.csv, is not used: it showed full DRAM reads.)
    warm = m.segments(m.read_ncu(f"{r3}/ncu_kernels_warm1.csv"))
    warm_by = {cid: warm[i] for i, cid in enumerate(load(f"{r3}/ncu_kernels_order.json")) if i < len(warm)}
    copy_prof = load(f"{r3}/copy_profile.json")
    rep = {c["case"]: c for c in load(f"{r2}/kernels_time_rep.json")["cases"]}
    for c in t["cases"]:
        c.setdefault("kernels", [])
        c.setdefault("kernel_ns_sum", 0)
        c.setdefault("dram_bytes_sum", 0)
        w = warm_by.get(c["case"], [])
        c["kernel_ns_sum_no_flush"] = sum(k["ns"] or 0 for k in w)
        c["dram_bytes_sum_no_flush"] = sum((k["dram_read"] or 0) + (k["dram_write"] or 0) for k in w)
        c["kernels_no_flush"] = [{"name": k["name"], "ns": k["ns"], "dram_read": k["dram_read"],
                                  "dram_write": k["dram_write"]} for k in w]
        r = rep.get(c["case"], {})
        c["median_us_rep"] = r.get("median_us")
        c["graph_us_rep"] = r.get("graph_us")
        if c["op"] == "copy":
            c["is_kernel"] = bool(c["kernels"])
            c["cupti_activities"] = [{"graph": p["graph"], "gpu_activities": p["gpu_activities"],
                                                          "runtime_calls": p["runtime_calls"]}
                                     for p in copy_prof if p["n"] == c["n"]]
            c["note"] += ("; Nsight Compute saw no kernel for it (a cudaMemcpyAsync D2D, not a user kernel), "
                          "so kernel_ns_sum and dram_bytes_sum are 0" if not c["kernels"] else "")
    out = {
        "about": (
            "Held-out kernel microbenchmarks on one NVIDIA H200 SXM (132 SMs, 60 MiB L2, HBM3e 141 GB) with "
            "PyTorch 2.11.0+cu130, CUDA 13.0, cuDNN 9.19, driver 580.159.04, bf16 unless noted, TF32 off; "
            "measured 2026-11-30 by benchmarks/device/kernels.py (see benchmarks/device/README.md). Same schema "
            "as shared/reference/h200-calibration.json: per case the kernels that ran (name, grid, block) with "
            "each kernel's device duration (ns), DRAM bytes read/written, L2 hit rate, SM throughput % and SM "
            "clock from Nsight Compute 2025.3.1 (--clock-control none, so boost clocks; default "
            "--cache-control all, i.e. caches flushed before each profiled kernel, as the calibration file's "
            "DRAM bytes imply); median_us = CUDA-event time per call (launch gaps included, after 3 warm-up "
            "calls, same inputs every call, so inputs that fit in L2 stay resident); graph_us = the same call "
            "replayed from a one-call CUDA graph. Extra fields: kernel_ns_sum_no_flush, dram_bytes_sum_no_flush, "
            "kernels_no_flush = a second Nsight Compute pass with --cache-control none and only the duration "
            "and DRAM metrics (a single replay pass), so L2 holds what the 3 warm-up calls left: inputs that fit "
            "in L2 then read ~0 DRAM bytes, and DRAM writes include dirty lines that earlier calls left in L2 "
            "(flushed mode under-counts writes that stay in L2 at kernel end); median_us_rep / graph_us_rep = the "
            "timing repeated in a second run on a fresh machine (run-to-run spread). copy is dst.copy_(src) "
            "which PyTorch issues as cudaMemcpyAsync D2D; Nsight Compute shows no kernel for it (is_kernel false) "
            "and CUPTI reports it as a 'Memcpy DtoD' activity (cupti_activities; in a CUDA graph it becomes a "
            "memcpy node, slower at 1 GiB). Run 1 was the first call on a fresh machine; run 2/3 later ones."
        ),
        "device": dict(t["device"], clocks_before=t["clocks_before"], clocks_after=t.get("clocks_after")),
        "cases": t["cases"],
    }
    dump("h200-kernels.json", out)
    return out


def models(r1, r2):
    t = load(f"{r1}/models_time.json")
    segs = m.segments(m.read_ncu(f"{r2}/ncu_models.csv"))
    order = load(f"{r2}/ncu_models_order.json")
    by = {cid: segs[i] for i, cid in enumerate(order) if i < len(segs)}
    rep = {c["case"]: c for c in load(f"{r2}/models_time_rep.json")["cases"]}
    for c in t["cases"]:
        for k in c.get("kernels", []):  # CUPTI demangles anonymous namespaces differently from ncu
            k["name"] = k["name"].replace("(anonymous namespace)", "<unnamed>")
        ks = by.get(c["case"])
        if ks is not None:
            c["dram_bytes_sum"] = sum((k["dram_read"] or 0) + (k["dram_write"] or 0) for k in ks)
            c["ncu_kernel_ns_sum"] = sum(k["ns"] or 0 for k in ks)
            c["ncu_kernel_count"] = len(ks)
            c["ncu_kernels"] = [{"name": k["name"], "grid": k["grid"], "block": k["block"], "ns": k["ns"],
                                 "dram_read": k["dram_read"], "dram_write": k["dram_write"]} for k in ks]
        r = rep.get(c["case"], {})
        c["median_us_rep"] = r.get("median_us")
        c["graph_us_rep"] = r.get("graph_us")
        c["kernel_ns_sum_rep"] = r.get("kernel_ns_sum")
    out = {
        "about": (
            "Whole models on one NVIDIA H200 SXM, PyTorch 2.11.0+cu130 eager (no torch.compile), random weights, "
            "bf16, built exactly as benchmarks/device/models.py says (its docstring and each case's 'includes'); "
            "measured 2026-11-30. Per case: workload = the archsim spec string; mode inference|training; "
            "median_us = CUDA-event time of one eager forward (or training step) after 5 warm-ups, median of 30 "
            "(eager times are CPU-launch-bound for small batches and vary run to run: compare median_us_rep); "
            "graph_us = the same step captured in a CUDA graph and replayed, median of 30; kernels = every GPU "
            "activity of one eager iteration from torch.profiler/CUPTI (name, grid, block, ns, ts = ns from the "
            "first kernel start; memcpy/memset have 'kind'; Nsight Compute's list is the same kernels without the "
            "memsets); kernel_ns_sum = sum over kernels only "
            "(memcpy_memset_ns_sum separate); dram_bytes_sum / ncu_kernels = Nsight Compute 2025.3.1 "
            "(--clock-control none, default cache flush before each kernel, so DRAM bytes are an upper bound "
            "on what a warm back-to-back run moves) over one eager iteration after 3 warm-ups, from a second "
            "run; *_rep = timing repeated in that second run. flops = matmul/attention FLOPs only (2 per MAC; "
            "training = 3x forward)."
        ),
        "device": dict(t["device"], clocks_before=t["clocks_before"], clocks_after=t.get("clocks_after")),
        "cases": t["cases"],
    }
    dump("h200-models.json", out)
    return out


def power(r2, r3=None):
    p = load(f"{r2}/power.json")
    extra = []
    if r3 and os.path.exists(f"{r3}/idle_nocontext.json"):
        extra = [load(f"{r3}/idle_nocontext.json")]
    out = {
        "about": (
            "Board power and energy on one NVIDIA H200 SXM (700 W limit), measured 2026-11-30 by "
            "benchmarks/device/power.py: NVML total-energy counter (nvmlDeviceGetTotalEnergyConsumption, whole "
            "board) over ~3 s of back-to-back calls of one kernel (all enqueued, one synchronize at the end, "
            "after 3 warm-ups and a 5-call sizing run); SM/memory clock, power and temperature sampled by NVML "
            "every 20 ms in a thread during the span (sm_clock_mhz = mean; min/max too). Fields as the "
            "calibration file's 'energy' entries; op='energy', the workload's own op is kernel_op with its "
            "spec fields, and spec is the workload string. pj_per_unit = joules / (iters * work_per_iter): "
            "flop for GEMMs, bytes of minimum DRAM traffic (read + write) for copy/add/softmax. Idle rows: "
            "'idle' = a process holding a CUDA context (PyTorch initialised) doing no work, before the GEMMs; "
            "'idle_after' = the same right after the softmax case; the clock stays at 1980 MHz while a context "
            "is open. 'idle_nocontext' (if present) = 3 s with no CUDA context at all. Cases ran in the listed "
            "order, back to back, so temperature carries over."
        ),
        "device": p["device"],
        "energy": p["energy"] + extra,
    }
    dump("h200-power.json", out)
    return out


def queue_lines(log):
    return [json.loads(l) for l in open(log) if l.startswith('{"op": "queue') or l.startswith('{"op": "copy_kernel_ref')]


def queues(r1, r3=None):
    lines = queue_lines(f"{r1}/log.txt")
    if r3 and os.path.exists(f"{r3}/log.txt"):
        lines += [dict(l, variant="1024thr") for l in queue_lines(f"{r3}/log.txt")
                  if l.get("threads_per_cta") == 1024 or l["op"] == "copy_kernel_ref"]
    out = {
        "about": (
            "Producer/consumer ring queue between CTAs through L2/global memory on one NVIDIA H200 SXM, measured "
            "2026-11-30 by benchmarks/device/queue.cu (nvcc 13.0 -O3 -arch=sm_90). P producer CTAs and P "
            "consumer CTAs (one CTA per SM, forced by 160 KB dynamic shared memory; cooperative launch), one "
            "2-slot ring per pair in global memory, head/tail counters in separate 128-B lines; producer: "
            "thread 0 spins with ld.acquire.gpu on tail, all threads write the slot with 16-B stores, "
            "__threadfence + __syncthreads, thread 0 st.release.gpu head; consumer: thread 0 spins on head, "
            "all threads read the slot with 16-B ld.global.cg (L2) and check every word (errors = mismatched "
            "words, 0 everywhere), then release tail. gbps = P * messages_per_pair * payload_bytes / mean "
            "kernel time (payload counted once; mean of 3 timed runs after 1 warm-up; gbps_best from the "
            "fastest). copy_kernel_ref = a plain grid-stride 16-B copy kernel over 1 GiB in the same program "
            "(read + write bytes) as the bandwidth ceiling. threads_per_cta 512 = run 1 (default build); 1024 = "
            "run 3 (./queue 1024, variant 1024thr: same code, wider CTAs). "
            "Pairs 1, 8, 32, 66. Compare Kitsune (A100): ~2 TB/s aggregate at "
            "128-256 KB, 12x lower at 1 KB."
        ),
        "device": {"name": "NVIDIA H200", "sms": 132, "l2_bytes": 62914560, "nvcc": "13.0.88",
                   "driver": "580.159.04"},
        "cases": lines,
    }
    dump("h200-queues.json", out)
    return out


if __name__ == "__main__":
    r1, r2 = sys.argv[1], sys.argv[2]
    r3 = sys.argv[3] if len(sys.argv) > 3 else None
    k = kernels(r1, r2, r3)
    mo = models(r1, r2)
    p = power(r2, r3)
    q = queues(r1, r3)
    print(len(k["cases"]), len(mo["cases"]), len(p["energy"]), len(q["cases"]))
