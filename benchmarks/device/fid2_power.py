"""Board energy of the kernel classes issue 15 names (fid2_cases.cal_energy), NVML, on the H200.

    python3 fid2_power.py OUT.json

Per case: the call (built by fid2_kernels.build) is captured K times back to back in one CUDA graph,
K chosen so that one replay lasts >= 2 ms (short kernels are not launch-bound then); power.measure
replays that graph for ~2.5 s (all enqueued, one synchronize) and reads the NVML total-energy
counter before and after, sampling clocks and power every 20 ms. Where capture fails the call is
looped eagerly instead (`loop` says which). Per call: joules_per_call, us_per_call.
"""
import statistics
import sys
import traceback

import pynvml
import torch

import power
from common import device_info, event_times_us, write_json
from fid2_cases import cal_energy
from fid2_kernels import build

SECONDS = 2.5


def main(out_path):
    pynvml.nvmlInit()
    h = pynvml.nvmlDeviceGetHandleByIndex(0)
    info = device_info()
    try:
        info["power_limit_w"] = pynvml.nvmlDeviceGetEnforcedPowerLimit(h) / 1e3
        info["max_sm_clock_mhz"] = pynvml.nvmlDeviceGetMaxClockInfo(h, pynvml.NVML_CLOCK_SM)
    except pynvml.NVMLError as e:
        info["nvml_error"] = str(e)
    torch.cuda.init()
    res = {"device": info, "energy": [dict(power.measure(h, None, 2.0), case="idle_before", op="energy")]}
    for c in cal_energy():
        r = {"op": "energy"}
        r.update({("kernel_op" if k == "op" else k): v for k, v in c.items()})
        fn = g = None
        try:
            fn, ex = build(c)
            r.update({k: v for k, v in ex.items() if k in ("flops", "min_bytes", "note", "n_params")})
            for _ in range(3):
                fn()
            torch.cuda.synchronize()
            t_call = statistics.median(event_times_us(fn, 20))
            K = max(1, min(2000, int(2000.0 / max(t_call, 0.5)) + 1))
            try:
                if c["op"] == "attention_backward":  # autograd: a failed capture can spoil the stream
                    raise RuntimeError("not captured (autograd)")
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
                loop, calls_per_iter, body = f"CUDA graph of {K} calls, replayed", K, g.replay
            except Exception as exc:  # noqa: BLE001
                torch.cuda.synchronize()
                g = None
                loop, calls_per_iter, body = f"eager calls (graph capture failed: {repr(exc)[:120]})", 1, fn
            r["eager_event_us"] = t_call
            r.update(power.measure(h, body, SECONDS))
            r["loop"] = loop
            r["calls_per_iter"] = calls_per_iter
            r["us_per_call"] = r["us_per_iter"] / calls_per_iter
            r["joules_per_call"] = r["joules"] / (r["iters"] * calls_per_iter)
            print(f"{c['id']} {c['op']:20s} {r['us_per_call']:9.2f} us/call {r['joules_per_call'] * 1e3:9.4f} mJ/call "
                  f"{r['avg_w']:6.1f} W sm {r['sm_clock_mhz']:.0f} MHz ({loop[:40]})", flush=True)
        except Exception as exc:  # noqa: BLE001
            traceback.print_exc()
            r["error"] = repr(exc)[:500]
        finally:
            fn = g = None
            torch.cuda.synchronize()
            torch.cuda.empty_cache()
        res["energy"].append(r)
        write_json(out_path, res)
    res["energy"].append(dict(power.measure(h, None, 2.0), case="idle_after", op="energy"))
    write_json(out_path, res)
    pynvml.nvmlShutdown()


if __name__ == "__main__":
    main(sys.argv[1])
