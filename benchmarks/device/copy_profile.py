"""What dst.copy_(src) (contiguous fp32, device to device) runs as, seen by torch.profiler/CUPTI.

    python3 copy_profile.py OUT.json
"""
import json
import os
import sys
import tempfile

import torch
from torch.profiler import ProfilerActivity, profile

res = []
for n in (2 ** 24, 2 ** 28):
    s = torch.randn(n, device="cuda")
    d = torch.empty_like(s)
    for _ in range(3):
        d.copy_(s)
    torch.cuda.synchronize()
    for graph in (False, True):
        if graph:
            g = torch.cuda.CUDAGraph()
            with torch.cuda.graph(g):
                d.copy_(s)
            fn = g.replay
        else:
            fn = lambda: d.copy_(s)  # noqa: E731
        fn()
        torch.cuda.synchronize()
        with profile(activities=[ProfilerActivity.CUDA, ProfilerActivity.CPU]) as prof:
            fn()
            torch.cuda.synchronize()
        fd, path = tempfile.mkstemp(suffix=".json")
        os.close(fd)
        prof.export_chrome_trace(path)
        ev = json.load(open(path))["traceEvents"]
        os.unlink(path)
        gpu = [dict(name=e["name"], cat=e["cat"], ns=round(e["dur"] * 1e3), args={k: v for k, v in e.get("args", {}).items()
                                                                                  if k in ("bytes", "memory bandwidth (GB/s)", "grid", "block")})
               for e in ev if e.get("ph") == "X" and e.get("cat") in ("kernel", "gpu_memcpy", "gpu_memset")]
        api = sorted({e["name"] for e in ev if e.get("cat") == "cuda_runtime" or e.get("cat") == "cuda_driver"})
        r = dict(n=n, dtype="fp32", graph=graph, gpu_activities=gpu, runtime_calls=api)
        print(json.dumps(r), flush=True)
        res.append(r)
json.dump(res, open(sys.argv[1], "w"), indent=1)
