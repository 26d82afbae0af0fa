"""Shared helpers for the H200 device benchmarks (run on the device machine; needs torch)."""
import json
import os
import statistics
import subprocess
import time

import torch

DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16, "fp32": torch.float32}
ESIZE = {"bf16": 2, "fp16": 2, "fp32": 4}
WARMUP = 3  # calls before measuring, as in the calibration file


def device_info():
    p = torch.cuda.get_device_properties(0)
    return {
        "name": p.name,
        "sms": p.multi_processor_count,
        "l2_bytes": getattr(p, "L2_cache_size", None),
        "mem_bytes": p.total_memory,
        "torch": torch.__version__,
        "cuda": torch.version.cuda,
        "cudnn": torch.backends.cudnn.version(),
        "driver": smi_query("driver_version"),
    }


def smi_query(field):
    try:
        out = subprocess.run(["nvidia-smi", f"--query-gpu={field}", "--format=csv,noheader,nounits"],
                             capture_output=True, text=True, timeout=20).stdout.strip()
        return out.splitlines()[0].strip() if out else None
    except Exception as e:  # noqa: BLE001
        return f"error: {e}"


def clocks_snapshot():
    return {f: smi_query(f) for f in ("clocks.sm", "clocks.mem", "clocks.max.sm", "clocks.max.mem",
                                       "power.draw", "power.limit", "temperature.gpu", "pstate")}


def event_times_us(fn, reps):
    """Per-call CUDA-event times (us) of `reps` back-to-back calls."""
    starts = [torch.cuda.Event(enable_timing=True) for _ in range(reps)]
    ends = [torch.cuda.Event(enable_timing=True) for _ in range(reps)]
    for i in range(reps):
        starts[i].record()
        fn()
        ends[i].record()
    torch.cuda.synchronize()
    return [s.elapsed_time(e) * 1e3 for s, e in zip(starts, ends)]


def graph_of(fn, warm=WARMUP):
    """Capture fn() into a CUDA graph (after warm-up on a side stream)."""
    s = torch.cuda.Stream()
    s.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(s):
        for _ in range(warm):
            fn()
    torch.cuda.current_stream().wait_stream(s)
    torch.cuda.synchronize()
    g = torch.cuda.CUDAGraph()
    with torch.cuda.graph(g):
        fn()
    torch.cuda.synchronize()
    return g


def time_call(fn, target_us_total=50e3, min_reps=10, max_reps=200, graph=True):
    """Warm up (3 calls), pick reps so the timed loop takes ~50 ms, return timing dict."""
    for _ in range(WARMUP):
        fn()
    torch.cuda.synchronize()
    t0 = time.perf_counter()
    fn()
    torch.cuda.synchronize()
    est_us = max((time.perf_counter() - t0) * 1e6, 1.0)
    reps = int(max(min_reps, min(max_reps, target_us_total / est_us)))
    ts = event_times_us(fn, reps)
    res = {"median_us": statistics.median(ts), "min_us": min(ts), "reps": reps}
    if graph:
        try:
            g = graph_of(fn)
            gts = event_times_us(g.replay, max(reps, 20))
            res["graph_us"] = statistics.median(gts)
            res["graph_reps"] = len(gts)
            del g
        except Exception as e:  # noqa: BLE001
            res["graph_us"] = None
            res["graph_error"] = repr(e)[:300]
    return res


def marker():
    """A tiny, recognisable kernel ('spin_kernel') that separates cases in an ncu log."""
    torch.cuda._sleep(10)


def write_json(path, obj):
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        json.dump(obj, f, indent=1)
    os.replace(tmp, path)
