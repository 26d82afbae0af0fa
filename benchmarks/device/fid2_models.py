"""Issue 15 whole-model cases on the H200: the models of models.py at new sizes, with board energy.

    python3 fid2_models.py time OUT.json               # models.py's method: eager events, graph replay, CUPTI kernels
    python3 fid2_models.py energy OUT.json             # NVML energy of ~2.5 s of CUDA-graph replays per model
    ncu ... python3 fid2_models.py profile ORDER.json NAMES   # one profiled eager step per named case
    python3 fid2_models.py dry                         # no GPU: list the cases

The models are built by models.build (its docstring says exactly what each is); only the case list
(fid2_cases.heldout_models + cal_models) is new. Energy: per model, the step is captured in a CUDA
graph as models.py does (warm-up on a side stream), then power.measure replays it back to back for
~2.5 s (all enqueued, one synchronize) and reads nvmlDeviceGetTotalEnergyConsumption before and after;
idle board power with a context open is measured before the first and after the last model.
"""
import sys
import traceback

from fid2_cases import all_model_cases

SECONDS = 2.5


def build_resnet50_training(c):
    """ResNet-50 training step, as models.py builds BERT's: fp32 master weights, autocast bf16,
    channels_last, loss = mean(logits.float()**2), backward, SGD(momentum 0.9, foreach), grads to None."""
    import torch
    import torchvision
    torch.manual_seed(0)
    torch.backends.cudnn.benchmark = False
    m = torchvision.models.resnet50(weights=None).to("cuda").to(memory_format=torch.channels_last).train()
    x = torch.randn(c["batch"], 3, 224, 224, device="cuda").to(memory_format=torch.channels_last)
    opt = torch.optim.SGD(m.parameters(), lr=0.1, momentum=0.9)

    def step():
        opt.zero_grad(set_to_none=True)
        with torch.autocast("cuda", dtype=torch.bfloat16, cache_enabled=False):
            out = m(x)
        loss = out.float().pow(2).mean()
        loss.backward()
        opt.step()
        return loss
    info = {"dtype": "bf16", "flops": 3 * 2 * 4.089e9 * c["batch"],
            "includes": "torchvision resnet50 incl. stem, avgpool and fc(2048->1000); batch norm in training mode",
            "training": ("fp32 master weights, channels_last, autocast bf16 (cache_enabled=False), loss=mean(logits.float()**2), "
                         "backward, SGD(lr 0.1, momentum 0.9; PyTorch's default foreach implementation), zero_grad(set_to_none=True)")}
    return step, info


def _patch_cases(which=None):
    import models
    cs = [c for c in all_model_cases() if which in (None, "all", c["set"])]
    for c in cs:  # models.run_time prints case as an int; the order file of a profile lists these ints
        c["case"] = int(c["id"][4:]) + (100 if c["set"] == "cal" else 0)
    models.cases = lambda: cs  # models.run_time / run_profile iterate models.cases()
    base = models.build
    if not getattr(base, "_fid2", False):  # models.build knows ResNet-50 inference only
        def build(c):
            if c["model"] == "resnet50" and c["mode"] == "training":
                return build_resnet50_training(c)
            return base(c)
        build._fid2 = True
        models.build = build
    return models, cs


def run_energy(out_path, which=None):
    import pynvml
    import torch

    import power
    from common import device_info, graph_of, write_json
    models, cs = _patch_cases(which)
    pynvml.nvmlInit()
    h = pynvml.nvmlDeviceGetHandleByIndex(0)
    res = {"device": device_info(), "energy": []}
    torch.cuda.init()
    res["energy"].append(dict(power.measure(h, None, 2.0), case="idle_before", op="energy"))
    for c in cs:
        r = {"op": "energy", "id": c["id"], "set": c["set"], "name": c["name"], "workload": c["workload"],
             "mode": c["mode"]}
        step = g = None
        try:
            step, info = models.build(c)
            for _ in range(3):
                step()
            torch.cuda.synchronize()
            g = graph_of(step)
            r.update(power.measure(h, g.replay, SECONDS))
            r["joules_per_step"] = r["joules"] / r["iters"]
            r["loop"] = "CUDA-graph replay of one step, back to back"
            print(f"{c['id']} {c['workload']:60s} {c['mode']:9s} {r['us_per_iter']:9.1f} us/step "
                  f"{r['joules_per_step'] * 1e3:9.3f} mJ/step {r['avg_w']:6.1f} W  sm {r['sm_clock_mhz']:.0f} MHz",
                  flush=True)
        except Exception as exc:  # noqa: BLE001
            traceback.print_exc()
            r["error"] = repr(exc)[:500]
        finally:
            step = g = None
            torch.cuda.synchronize()
            torch.cuda.empty_cache()
        res["energy"].append(r)
        write_json(out_path, res)
    res["energy"].append(dict(power.measure(h, None, 2.0), case="idle_after", op="energy"))
    write_json(out_path, res)
    pynvml.nvmlShutdown()


if __name__ == "__main__":
    cmd = sys.argv[1]
    if cmd == "dry":
        for c in all_model_cases():
            print(c["id"], c["set"], c["name"], c["workload"], c["mode"])
    elif cmd == "time":
        m, _ = _patch_cases(sys.argv[3] if len(sys.argv) > 3 else None)
        m.run_time(sys.argv[2])
    elif cmd == "energy":
        run_energy(sys.argv[2], sys.argv[3] if len(sys.argv) > 3 else None)
    elif cmd == "profile":
        m, _ = _patch_cases()
        m.run_profile(sys.argv[2], sys.argv[3].split(","))
    else:
        raise SystemExit(__doc__)
