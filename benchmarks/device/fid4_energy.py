"""Issue 15, fourth stage (energy): what the energy model needs and had not measured, on the H200.

    python3 fid4_energy.py OUT.json [PARTS]      # PARTS: comma list of limiter,models,kernels (default all)

Run from benchmarks/device (imports common, power, models, fid2_kernels, fid2_models). Clocks and
power limit are left alone. Three parts, each written to OUT.json as it finishes:

limiter  The board power limiter's response. NVML sampled by a thread every ~1 ms (SM clock,
         power.draw = nvmlDeviceGetPowerUsage, instant power = field NVML_FI_DEV_POWER_INSTANT when
         the driver has it, clock-event reasons), host perf_counter time stamps. GPU side: a CUDA
         event after every GEMM, so each GEMM's duration (time ~ 1/clock for this compute-bound
         shape) gives the SM clock the limiter allowed, on the GPU's own time line.
         - step: 1.5 s idle (context open), then ~0.6 s of back-to-back bf16 GEMMs 4096x4096x2048;
         - burst_<off>_<L>: GEMMs for ~L ms, then ~L ms of an off kernel (`sleep`: torch.cuda._sleep,
           one spinning warp, near idle power; `add`: a 2^25 bf16 add, DRAM-bound), repeated for
           ~0.3 s after a 1.5 s rest; each GEMM's duration and its place in its burst.
models   CALIBRATION whole models at sizes not in h200-heldout-2.json (checked by workload name):
         each step captured in a CUDA graph (models.build / fid2_models.build_resnet50_training)
         and replayed back to back for ~2 s; NVML total-energy counter before/after
         (power.measure): joules_per_step, us_per_iter, avg_w, sm clock.
kernels  Per-kernel-class board power for the non-GEMM classes of BERT/ResNet inference and for
         short kernels (fid2_power's method: a CUDA graph of K calls, K so one replay >= 2 ms,
         replayed ~2 s). Shapes not in the held-out kernel list (checked by fid2_cases.shape_key).
"""
import json
import statistics
import sys
import threading
import time
import traceback

import pynvml
import torch

import power
from common import device_info, event_times_us, graph_of, write_json
from fid2_cases import heldout_kernels, heldout_models, shape_key

torch.backends.cuda.matmul.allow_tf32 = False
torch.backends.cudnn.allow_tf32 = False
SECONDS = 2.0
FI_POWER_INSTANT = getattr(pynvml, "NVML_FI_DEV_POWER_INSTANT", 186)


# ---------------------------------------------------------------------------------------- limiter
class FastSampler(threading.Thread):
    def __init__(self, h, period=0.001):
        super().__init__(daemon=True)
        self.h, self.period, self.stop, self.rows = h, period, False, []
        self.instant_ok = True

    def run(self):
        h = self.h
        while not self.stop:
            t = time.perf_counter()
            try:
                sm = pynvml.nvmlDeviceGetClockInfo(h, pynvml.NVML_CLOCK_SM)
                pw = pynvml.nvmlDeviceGetPowerUsage(h)
            except pynvml.NVMLError:
                sm = pw = None
            pi = None
            if self.instant_ok:
                try:
                    v = pynvml.nvmlDeviceGetFieldValues(h, [FI_POWER_INSTANT])[0]
                    if v.nvmlReturn == 0:
                        pi = v.value.uiVal
                    else:
                        self.instant_ok = False
                except Exception:  # noqa: BLE001
                    self.instant_ok = False
            try:
                rs = pynvml.nvmlDeviceGetCurrentClocksEventReasons(h)
            except Exception:  # noqa: BLE001
                try:
                    rs = pynvml.nvmlDeviceGetCurrentClocksThrottleReasons(h)
                except Exception:  # noqa: BLE001
                    rs = None
            self.rows.append((t, sm, pw, pi, rs))
            dt = self.period - (time.perf_counter() - t)
            if dt > 0:
                time.sleep(dt)


def _gemm():
    a = torch.randn(4096, 2048, device="cuda", dtype=torch.bfloat16)
    b = torch.randn(2048, 4096, device="cuda", dtype=torch.bfloat16)
    o = torch.empty(4096, 4096, device="cuda", dtype=torch.bfloat16)
    return lambda: torch.mm(a, b, out=o)


def _run_timeline(h, plan, rest_s=1.5):
    """plan: list of (kind, fn); a CUDA event after each call. Returns per call (kind, start_us,
    dur_us) on the GPU time line (0 = first call's start) and the sampler rows (host time,
    0 = the host enqueue of the first call)."""
    torch.cuda.synchronize()
    time.sleep(rest_s)
    smp = FastSampler(h)
    smp.start()
    time.sleep(0.05)
    ev = [torch.cuda.Event(enable_timing=True) for _ in range(len(plan) + 1)]
    torch.cuda.synchronize()
    t0 = time.perf_counter()
    ev[0].record()
    for i, (_, fn) in enumerate(plan):
        fn()
        ev[i + 1].record()
    t_enq = time.perf_counter() - t0
    torch.cuda.synchronize()
    t_end = time.perf_counter() - t0
    time.sleep(0.1)
    smp.stop = True
    smp.join()
    calls = []
    for i, (kind, _) in enumerate(plan):
        calls.append((kind, ev[0].elapsed_time(ev[i]) * 1e3, ev[i].elapsed_time(ev[i + 1]) * 1e3))
    rows = [(round((t - t0) * 1e3, 3), sm, pw, pi, rs) for t, sm, pw, pi, rs in smp.rows]
    return {"calls": calls, "nvml": rows, "host_enqueue_ms": t_enq * 1e3, "host_end_ms": t_end * 1e3,
            "instant_power_field": smp.instant_ok}


def limiter(h):
    out = {}
    g = _gemm()
    x = torch.randn(2 ** 25, device="cuda", dtype=torch.bfloat16)
    y = torch.randn_like(x)
    z = torch.empty_like(x)
    add = lambda: torch.add(x, y, out=z)  # noqa: E731
    for _ in range(20):
        g()
        add()
    torch.cuda.synchronize()
    t_g = statistics.median(event_times_us(g, 50))
    t_a = statistics.median(event_times_us(add, 50))
    cyc = 1980e6 * 1e-6   # _sleep cycles per us at the max clock (measured below with events)
    t_s = statistics.median(event_times_us(lambda: torch.cuda._sleep(int(100 * cyc)), 20))
    out["unit_us"] = {"gemm_4096x4096x2048": t_g, "add_2^25_bf16": t_a, "sleep_100us_nominal": t_s}
    print(f"limiter: gemm {t_g:.1f} us, add {t_a:.1f} us, sleep(100us) {t_s:.1f} us", flush=True)
    # step: idle -> GEMM stream
    n = int(600e3 / t_g)
    out["step"] = _run_timeline(h, [("gemm", g)] * n)
    cs = out["step"]["calls"]
    print("step: first 5 gemm us", [round(c[2], 1) for c in cs[:5]], "last 5", [round(c[2], 1) for c in cs[-5:]],
          flush=True)
    for off in ("sleep", "add"):
        for L in ((0.2, 0.5, 1.0, 2.0, 5.0, 20.0) if off == "sleep" else (0.5, 2.0, 5.0)):
            n_on = max(1, round(L * 1e3 / t_g))
            if off == "sleep":
                offs = [("off", lambda L=L: torch.cuda._sleep(int(L * 1e3 * cyc)))]
            else:
                offs = [("off", add)] * max(1, round(L * 1e3 / t_a))
            cycle = [("gemm", g)] * n_on + offs
            reps = max(3, int(300.0 / (2 * L)))
            key = f"burst_{off}_{L:g}ms"
            try:
                out[key] = _run_timeline(h, cycle * reps)
                out[key].update(L_ms=L, n_on=n_on, reps=reps)
                gs = [c[2] for c in out[key]["calls"] if c[0] == "gemm"]
                print(f"{key}: gemm median {statistics.median(gs):.1f} us (steady-loop {cs[-1][2]:.1f})", flush=True)
            except Exception as exc:  # noqa: BLE001
                traceback.print_exc()
                out[key] = {"error": repr(exc)[:300]}
    return out


# ------------------------------------------------------------------------------------------ models
def model_cases():
    L = []
    for B in (4, 16, 32, 128):
        L.append(dict(model="resnet50", batch=B, mode="inference", workload=f"resnet50(batch={B})"))
    for B, S in ((8, 128), (32, 128), (8, 512), (32, 512)):
        L.append(dict(model="bert", batch=B, seq=S, mode="inference",
                      workload=f"bert-base(batch={B}, seq={S}, layers=12)"))
    L.append(dict(model="llama", phase="decode", batch=16, context=2048, mode="inference",
                  workload="llama3-8b(phase='decode', batch=16, context=2048, layers=1)"))
    for S in (512, 2048):
        L.append(dict(model="llama", phase="prefill", batch=1, seq=S, mode="inference",
                      workload=f"llama3-8b(phase='prefill', batch=1, seq={S}, layers=1)"))
    L.append(dict(model="resnet50", batch=64, mode="training", workload="resnet50(batch=64)"))
    held = {(c["workload"], c["mode"]) for c in heldout_models()}
    for i, c in enumerate(L):
        c["id"] = f"F4-M{i:02d}"
        assert (c["workload"], c["mode"]) not in held, c
    return L


def run_models(h):
    import models
    from fid2_models import build_resnet50_training
    res = []
    for c in model_cases():
        r = dict(c, op="energy")
        step = g = None
        try:
            if c["model"] == "resnet50" and c["mode"] == "training":
                step, info = build_resnet50_training(c)
            else:
                step, info = models.build(c)
            r["info"] = {k: v for k, v in info.items() if isinstance(v, (int, float, str))}
            for _ in range(3):
                step()
            torch.cuda.synchronize()
            g = graph_of(step)
            r["graph_us"] = statistics.median(event_times_us(g.replay, 20))
            r.update(power.measure(h, g.replay, SECONDS))
            r["joules_per_step"] = r["joules"] / r["iters"]
            r["loop"] = "CUDA-graph replay of one step, back to back"
            print(f"{c['id']} {c['workload']:58s} {c['mode']:9s} {r['graph_us']:9.1f} us {r['us_per_iter']:9.1f} us/step "
                  f"{r['joules_per_step'] * 1e3:9.3f} mJ {r['avg_w']:6.1f} W sm {r['sm_clock_mhz']:.0f} MHz", flush=True)
        except Exception as exc:  # noqa: BLE001
            traceback.print_exc()
            r["error"] = repr(exc)[:300]
        finally:
            step = g = None
            torch.cuda.synchronize()
            torch.cuda.empty_cache()
        res.append(r)
    return res


# ----------------------------------------------------------------------------------------- kernels
def kernel_cases():
    L = [dict(op="gelu", n=8192 * 3072, dtype="bf16"),
         dict(op="layernorm", rows=8192, cols=768, dtype="bf16"),
         dict(op="softmax", rows=32 * 12 * 128, cols=128, dtype="bf16"),
         dict(op="batchnorm_eval", N=32, C=256, H=56, W=56, dtype="bf16"),
         dict(op="relu", n=2 ** 26, dtype="bf16"),
         dict(op="conv2d", N=32, C=256, K=64, H=56, W=56, R=1, stride=1, dtype="bf16"),
         dict(op="conv2d", N=32, C=64, K=64, H=56, W=56, R=3, stride=1, dtype="bf16"),
         dict(op="conv2d", N=4, C=128, K=128, H=28, W=28, R=3, stride=1, dtype="bf16"),
         dict(op="pool", N=32, C=64, H=112, W=112, window=3, stride=2, pad=1, dtype="bf16"),
         dict(op="attention", B=8, H=12, S=128, D=64, dtype="bf16"),
         dict(op="gemm", M=128, N=768, K=768, dtype="bf16", layout="NT"),
         dict(op="add", n=4096, dtype="bf16"),
         dict(op="add", n=2 ** 18, dtype="bf16")]
    held = {shape_key(c) for c in heldout_kernels()}
    for i, c in enumerate(L):
        c["id"] = f"F4-E{i:02d}"
        assert shape_key(c) not in held, c
    return L


def run_kernels(h):
    from fid2_kernels import build
    res = []
    for c in kernel_cases():
        r = {"op": "energy"}
        r.update({("kernel_op" if k == "op" else k): v for k, v in c.items()})
        fn = g = None
        try:
            fn, ex = build(c)
            r.update({k: v for k, v in ex.items() if k in ("flops", "min_bytes", "note")})
            for _ in range(3):
                fn()
            torch.cuda.synchronize()
            t_call = statistics.median(event_times_us(fn, 20))
            K = max(1, min(2000, int(2000.0 / max(t_call, 0.5)) + 1))
            s = torch.cuda.Stream()
            s.wait_stream(torch.cuda.current_stream())
            with torch.cuda.stream(s):
                fn()
            torch.cuda.current_stream().wait_stream(s)
            torch.cuda.synchronize()
            g = torch.cuda.CUDAGraph()
            with torch.cuda.graph(g):
                for _ in range(K):
                    fn()
            torch.cuda.synchronize()
            r["eager_event_us"] = t_call
            r.update(power.measure(h, g.replay, SECONDS))
            r["loop"] = f"CUDA graph of {K} calls, replayed"
            r["calls_per_iter"] = K
            r["us_per_call"] = r["us_per_iter"] / K
            r["joules_per_call"] = r["joules"] / (r["iters"] * K)
            print(f"{c['id']} {c['op']:16s} {r['us_per_call']:9.2f} us/call {r['joules_per_call'] * 1e3:9.4f} mJ "
                  f"{r['avg_w']:6.1f} W sm {r['sm_clock_mhz']:.0f} MHz", flush=True)
        except Exception as exc:  # noqa: BLE001
            traceback.print_exc()
            r["error"] = repr(exc)[:300]
        finally:
            fn = g = None
            torch.cuda.synchronize()
            torch.cuda.empty_cache()
        res.append(r)
    return res


def main(out_path, parts):
    pynvml.nvmlInit()
    h = pynvml.nvmlDeviceGetHandleByIndex(0)
    info = device_info()
    try:
        info["power_limit_w"] = pynvml.nvmlDeviceGetEnforcedPowerLimit(h) / 1e3
        info["max_sm_clock_mhz"] = pynvml.nvmlDeviceGetMaxClockInfo(h, pynvml.NVML_CLOCK_SM)
    except pynvml.NVMLError as e:
        info["nvml_error"] = str(e)
    torch.cuda.init()
    res = {"device": info, "measured_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
           "script": "benchmarks/device/fid4_energy.py"}
    res["idle_before"] = power.measure(h, None, 1.5)
    write_json(out_path, res)
    for part, fn in (("limiter", limiter), ("models", run_models), ("kernels", run_kernels)):
        if part not in parts:
            continue
        t0 = time.perf_counter()
        try:
            res[part] = fn(h)
        except Exception as exc:  # noqa: BLE001
            traceback.print_exc()
            res[part] = {"error": repr(exc)[:500]}
        print(f"## {part} done in {time.perf_counter() - t0:.1f} s", flush=True)
        write_json(out_path, res)
    res["idle_after"] = power.measure(h, None, 1.5)
    write_json(out_path, res)
    pynvml.nvmlShutdown()


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2].split(",") if len(sys.argv) > 2 else ("limiter", "models", "kernels"))
