"""Power and energy at several arithmetic intensities (issue 4 item 5), NVML total-energy counter.

    python3 power.py OUT.json

Per case: 3 warm-up calls, a short timing to size the loop, then ~3 s of back-to-back calls
(all enqueued, one synchronize at the end); energy = difference of
nvmlDeviceGetTotalEnergyConsumption (mJ, whole board) over that span; SM clock and power
sampled every 20 ms by a thread during the span.
"""
import json
import statistics
import sys
import threading
import time

import pynvml
import torch

from common import device_info, write_json

torch.backends.cuda.matmul.allow_tf32 = False
DEV = "cuda"
SECONDS = 3.0


class Sampler(threading.Thread):
    def __init__(self, h):
        super().__init__(daemon=True)
        self.h, self.stop, self.sm, self.mem, self.pw, self.temp = h, False, [], [], [], []

    def run(self):
        while not self.stop:
            try:
                self.sm.append(pynvml.nvmlDeviceGetClockInfo(self.h, pynvml.NVML_CLOCK_SM))
                self.mem.append(pynvml.nvmlDeviceGetClockInfo(self.h, pynvml.NVML_CLOCK_MEM))
                self.pw.append(pynvml.nvmlDeviceGetPowerUsage(self.h))
                self.temp.append(pynvml.nvmlDeviceGetTemperature(self.h, pynvml.NVML_TEMPERATURE_GPU))
            except pynvml.NVMLError:
                pass
            time.sleep(0.02)


def measure(h, fn, seconds=SECONDS):
    if fn is not None:
        for _ in range(3):
            fn()
        torch.cuda.synchronize()
        t0 = time.perf_counter()
        for _ in range(5):
            fn()
        torch.cuda.synchronize()
        per = (time.perf_counter() - t0) / 5
        iters = max(1, int(seconds / per))
    else:
        iters = 0
    smp = Sampler(h)
    smp.start()
    time.sleep(0.05)
    torch.cuda.synchronize()
    e0 = pynvml.nvmlDeviceGetTotalEnergyConsumption(h)
    t0 = time.perf_counter()
    if fn is None:
        time.sleep(seconds)
    else:
        for _ in range(iters):
            fn()
        torch.cuda.synchronize()
    t1 = time.perf_counter()
    e1 = pynvml.nvmlDeviceGetTotalEnergyConsumption(h)
    smp.stop = True
    smp.join()
    j = (e1 - e0) / 1e3
    r = dict(iters=iters, seconds=t1 - t0, joules=j, avg_w=j / (t1 - t0),
             sm_clock_mhz=statistics.mean(smp.sm) if smp.sm else None,
             sm_clock_min_mhz=min(smp.sm) if smp.sm else None,
             sm_clock_max_mhz=max(smp.sm) if smp.sm else None,
             mem_clock_mhz=statistics.mean(smp.mem) if smp.mem else None,
             sampled_power_w=statistics.mean(smp.pw) / 1e3 if smp.pw else None,
             max_power_w=max(smp.pw) / 1e3 if smp.pw else None,
             temp_c_end=smp.temp[-1] if smp.temp else None, samples=len(smp.sm))
    if iters:
        r["us_per_iter"] = (t1 - t0) / iters * 1e6
    return r


def cases():
    bf, f32 = torch.bfloat16, torch.float32
    L = [dict(case="idle")]
    for M, N, K in [(8192, 8192, 8192), (4096, 4096, 4096), (2048, 2048, 2048), (8192, 8192, 1024)]:
        L.append(dict(case=f"gemm_bf16_{M}x{N}x{K}", op="gemm", M=M, N=N, K=K, dtype="bf16",
                      work_per_iter=2 * M * N * K, unit="flop"))
    L.append(dict(case="gemm_fp32_4096", op="gemm", M=4096, N=4096, K=4096, dtype="fp32",
                  work_per_iter=2 * 4096 ** 3, unit="flop"))
    L.append(dict(case="copy_1GiB_fp32", op="copy", n=2 ** 28, dtype="fp32", work_per_iter=2 ** 31, unit="byte_dram"))
    L.append(dict(case="add_2^28_bf16", op="add", n=2 ** 28, dtype="bf16", work_per_iter=3 * 2 ** 29, unit="byte_dram"))
    L.append(dict(case="softmax_4096x32000_bf16", op="softmax", rows=4096, cols=32000, dtype="bf16",
                  work_per_iter=2 * 4096 * 32000 * 2, unit="byte_dram"))
    L.append(dict(case="idle_after"))
    return L


def build(c):
    dt = {"bf16": torch.bfloat16, "fp32": torch.float32}.get(c.get("dtype"))
    op = c.get("op")
    if op is None:
        return None
    if op == "gemm":
        a = torch.randn(c["M"], c["K"], device=DEV, dtype=dt)
        b = torch.randn(c["K"], c["N"], device=DEV, dtype=dt)
        out = torch.empty(c["M"], c["N"], device=DEV, dtype=dt)
        return lambda: torch.mm(a, b, out=out)
    if op == "copy":
        s = torch.randn(c["n"], device=DEV, dtype=dt)
        d = torch.empty_like(s)
        return lambda: d.copy_(s)
    if op == "add":
        x = torch.randn(c["n"], device=DEV, dtype=dt)
        y = torch.randn(c["n"], device=DEV, dtype=dt)
        o = torch.empty_like(x)
        return lambda: torch.add(x, y, out=o)
    if op == "softmax":
        x = torch.randn(c["rows"], c["cols"], device=DEV, dtype=dt)
        return lambda: torch.softmax(x, -1)
    raise ValueError(op)


def main(out_path):
    pynvml.nvmlInit()
    h = pynvml.nvmlDeviceGetHandleByIndex(0)
    info = device_info()
    try:
        info["power_limit_w"] = pynvml.nvmlDeviceGetEnforcedPowerLimit(h) / 1e3
        info["max_sm_clock_mhz"] = pynvml.nvmlDeviceGetMaxClockInfo(h, pynvml.NVML_CLOCK_SM)
        info["max_mem_clock_mhz"] = pynvml.nvmlDeviceGetMaxClockInfo(h, pynvml.NVML_CLOCK_MEM)
    except pynvml.NVMLError as e:
        info["nvml_error"] = str(e)
    res = {"device": info, "energy": []}
    for c in cases():
        fn = None
        try:
            fn = build(c)
            r = {"op": "energy"}
            for k, v in c.items():
                r["kernel_op" if k == "op" else k] = v
            if "kernel_op" in c or "op" in c:
                args = ", ".join(f"{k}={v!r}" for k, v in c.items() if k not in ("case", "op", "work_per_iter", "unit"))
                r["spec"] = f"{c['op']}({args})"
            r.update(measure(h, fn))
            if "work_per_iter" in r and r["iters"]:
                r["pj_per_unit"] = r["joules"] / (r["iters"] * r["work_per_iter"]) * 1e12
                if r["unit"] == "flop":
                    r["tflops"] = r["work_per_iter"] / (r["us_per_iter"] * 1e-6) / 1e12
                else:
                    r["gbps"] = r["work_per_iter"] / (r["us_per_iter"] * 1e-6) / 1e9
            res["energy"].append(r)
            print(json.dumps({k: (round(v, 3) if isinstance(v, float) else v) for k, v in r.items()}), flush=True)
        except Exception as e:  # noqa: BLE001
            res["energy"].append(dict(c, error=repr(e)[:300]))
            print("FAILED", c, e, flush=True)
        finally:
            fn = None
            torch.cuda.synchronize()
            torch.cuda.empty_cache()
        write_json(out_path, res)
    pynvml.nvmlShutdown()


def idle_nocontext(out_path, seconds=SECONDS):
    """Idle board power with no CUDA context in this process (torch.cuda is never touched)."""
    pynvml.nvmlInit()
    h = pynvml.nvmlDeviceGetHandleByIndex(0)
    smp = Sampler(h)
    smp.start()
    time.sleep(0.05)
    e0 = pynvml.nvmlDeviceGetTotalEnergyConsumption(h)
    t0 = time.perf_counter()
    time.sleep(seconds)
    t1 = time.perf_counter()
    e1 = pynvml.nvmlDeviceGetTotalEnergyConsumption(h)
    smp.stop = True
    smp.join()
    j = (e1 - e0) / 1e3
    r = dict(op="energy", case="idle_nocontext", iters=0, seconds=t1 - t0, joules=j, avg_w=j / (t1 - t0),
             sm_clock_mhz=statistics.mean(smp.sm), sm_clock_min_mhz=min(smp.sm), sm_clock_max_mhz=max(smp.sm),
             mem_clock_mhz=statistics.mean(smp.mem), sampled_power_w=statistics.mean(smp.pw) / 1e3,
             max_power_w=max(smp.pw) / 1e3, temp_c_end=smp.temp[-1], samples=len(smp.sm),
             note="no CUDA context open in the measuring process; first thing run on a fresh machine")
    print(json.dumps(r), flush=True)
    write_json(out_path, r)
    pynvml.nvmlShutdown()


if __name__ == "__main__":
    if sys.argv[1] == "idle-nocontext":
        idle_nocontext(sys.argv[2])
    else:
        main(sys.argv[1])
