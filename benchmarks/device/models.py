"""Whole-model benchmarks on the H200 (issue 4 item 5). Plain PyTorch, random weights, no downloads.

    python3 models.py time OUT.json            # eager CUDA events, CUDA-graph replay, torch.profiler kernels
    ncu ... python3 models.py profile ORDER.json NAMES   # one profiled iteration per named case

Models (exactly what is built):
  bert-base: word (30522x768) + position (512x768) + token-type (2x768) embeddings, embedding
    LayerNorm, then `layers` post-LN encoder layers: fused QKV Linear(768, 2304, bias), SDPA
    (no mask, non-causal, 12 heads x 64), out Linear(768, 768), residual add, LayerNorm, Linear(768, 3072),
    GELU (erf), Linear(3072, 768), residual add, LayerNorm. No pooler, no MLM/classifier head.
    Dropout not present. Input: random token ids (batch, seq), token types all 0.
    Inference: bf16 weights, eval, torch.no_grad.
    Training: fp32 master weights, torch.autocast(bf16) forward, loss = mean(hidden.float()**2)
    (no head), backward, torch.optim.Adam(fused=True, capturable=True), grads set to None each step.
  resnet50: torchvision.models.resnet50(weights=None) (includes avgpool + fc 2048->1000), bf16,
    channels_last, eval, input (batch, 3, 224, 224) random, cudnn.benchmark=False.
  llama3-8b layer: ONE decoder layer, bf16: RMSNorm (F.rms_norm, eps 1e-5) -> q Linear(4096,4096),
    k Linear(4096,1024), v Linear(4096,1024) (no bias, separate) -> RoPE (theta 500000, rotate_half
    form, cos/sin precomputed) on q,k -> attention via SDPA with enable_gqa=True (32 q heads, 8 kv heads,
    head dim 128) -> o Linear(4096,4096) -> residual add -> RMSNorm -> gate Linear(4096,14336),
    up Linear(4096,14336), silu(gate)*up, down Linear(14336,4096) -> residual add.
    No embeddings, no final norm, no LM head.
    decode: batch B, one new token; KV cache (B, 8, 2049, 128) bf16 holding 2048 cached positions;
      the new k/v are written at position 2048 (index_copy_), and the token attends to all 2049
      positions (2048 cached + itself), no mask.
    prefill: batch 1, seq S, causal SDPA over the S tokens, no KV-cache write.
"""
import json
import math
import os
import statistics
import sys
import tempfile
import traceback

import torch
import torch.nn as nn
import torch.nn.functional as F

from common import device_info, event_times_us, marker, write_json, clocks_snapshot

torch.backends.cuda.matmul.allow_tf32 = False
torch.backends.cudnn.allow_tf32 = False
DEV = "cuda"


# ----------------------------------------------------------------------------- BERT
class BertLayer(nn.Module):
    def __init__(self, h=768, heads=12, ffn=3072):
        super().__init__()
        self.heads = heads
        self.qkv = nn.Linear(h, 3 * h)
        self.out = nn.Linear(h, h)
        self.ln1 = nn.LayerNorm(h, eps=1e-12)
        self.fc1 = nn.Linear(h, ffn)
        self.fc2 = nn.Linear(ffn, h)
        self.ln2 = nn.LayerNorm(h, eps=1e-12)

    def forward(self, x):
        B, S, H = x.shape
        qkv = self.qkv(x).view(B, S, 3, self.heads, H // self.heads).permute(2, 0, 3, 1, 4)
        a = F.scaled_dot_product_attention(qkv[0], qkv[1], qkv[2])
        a = a.transpose(1, 2).reshape(B, S, H)
        x = self.ln1(x + self.out(a))
        return self.ln2(x + self.fc2(F.gelu(self.fc1(x))))


class Bert(nn.Module):
    def __init__(self, layers=12, h=768, vocab=30522, max_pos=512):
        super().__init__()
        self.word = nn.Embedding(vocab, h)
        self.pos = nn.Embedding(max_pos, h)
        self.typ = nn.Embedding(2, h)
        self.ln = nn.LayerNorm(h, eps=1e-12)
        self.layers = nn.ModuleList(BertLayer(h) for _ in range(layers))

    def forward(self, ids, pos_ids, type_ids):
        x = self.ln(self.word(ids) + self.pos(pos_ids) + self.typ(type_ids))
        for layer in self.layers:
            x = layer(x)
        return x


def bert_flops(B, S, L=12, h=768, ffn=3072):
    T = B * S
    per_layer = 2 * T * (h * 3 * h + h * h + 2 * h * ffn) + 4 * B * S * S * h
    return L * per_layer


# ----------------------------------------------------------------------------- Llama
class LlamaLayer(nn.Module):
    def __init__(self, h=4096, heads=32, kv=8, hd=128, ffn=14336):
        super().__init__()
        self.h, self.heads, self.kv, self.hd = h, heads, kv, hd
        self.q = nn.Linear(h, heads * hd, bias=False)
        self.k = nn.Linear(h, kv * hd, bias=False)
        self.v = nn.Linear(h, kv * hd, bias=False)
        self.o = nn.Linear(heads * hd, h, bias=False)
        self.gate = nn.Linear(h, ffn, bias=False)
        self.up = nn.Linear(h, ffn, bias=False)
        self.down = nn.Linear(ffn, h, bias=False)
        self.n1 = nn.Parameter(torch.ones(h))
        self.n2 = nn.Parameter(torch.ones(h))

    @staticmethod
    def rope(x, cos, sin):
        x1, x2 = x.chunk(2, dim=-1)
        return x * cos + torch.cat((-x2, x1), dim=-1) * sin

    def forward(self, x, cos, sin, kcache=None, vcache=None, pos=None):
        B, S, _ = x.shape
        y = F.rms_norm(x, (self.h,), self.n1, 1e-5)
        q = self.q(y).view(B, S, self.heads, self.hd).transpose(1, 2)
        k = self.k(y).view(B, S, self.kv, self.hd).transpose(1, 2)
        v = self.v(y).view(B, S, self.kv, self.hd).transpose(1, 2)
        q = self.rope(q, cos, sin)
        k = self.rope(k, cos, sin)
        if kcache is not None:  # decode
            kcache.index_copy_(2, pos, k)
            vcache.index_copy_(2, pos, v)
            a = F.scaled_dot_product_attention(q, kcache, vcache, enable_gqa=True)
        else:
            a = F.scaled_dot_product_attention(q, k, v, is_causal=True, enable_gqa=True)
        x = x + self.o(a.transpose(1, 2).reshape(B, S, self.heads * self.hd))
        y = F.rms_norm(x, (self.h,), self.n2, 1e-5)
        return x + self.down(F.silu(self.gate(y)) * self.up(y))


def rope_tables(positions, hd=128, theta=500000.0):
    inv = 1.0 / (theta ** (torch.arange(0, hd, 2, device=DEV, dtype=torch.float32) / hd))
    f = positions.float()[:, None] * inv[None, :]
    emb = torch.cat((f, f), dim=-1)
    return emb.cos().to(torch.bfloat16), emb.sin().to(torch.bfloat16)


def llama_flops(B, S, ctx, h=4096, heads=32, kv=8, hd=128, ffn=14336):
    T = B * S
    lin = 2 * T * (h * heads * hd + 2 * h * kv * hd + heads * hd * h + 3 * h * ffn)
    att = 4 * B * heads * S * ctx * hd
    return lin + att


# ----------------------------------------------------------------------------- cases
def cases():
    L = []
    for B in (1, 8, 32):
        for S in (128, 512):
            L.append(dict(model="bert", batch=B, seq=S, mode="inference",
                          workload=f"bert-base(batch={B}, seq={S}, layers=12)"))
    for B in (1, 32, 256):
        L.append(dict(model="resnet50", batch=B, mode="inference", workload=f"resnet50(batch={B})"))
    for B in (1, 16, 64):
        L.append(dict(model="llama", phase="decode", batch=B, context=2048, mode="inference",
                      workload=f"llama3-8b(phase='decode', batch={B}, context=2048, layers=1)"))
    for S in (512, 2048):
        L.append(dict(model="llama", phase="prefill", batch=1, seq=S, mode="inference",
                      workload=f"llama3-8b(phase='prefill', batch=1, seq={S}, layers=1)"))
    L.append(dict(model="bert", batch=8, seq=128, mode="training",
                  workload="bert-base(batch=8, seq=128, layers=12)"))
    for i, c in enumerate(L):
        c["case"] = i
        c["name"] = f"{c['model']}_{c['mode']}_{i}"
    return L


def build(c):
    """Return (step_fn, info dict). step_fn runs one forward (or one training step)."""
    torch.manual_seed(0)
    info = {"dtype": "bf16"}
    if c["model"] == "bert":
        B, S = c["batch"], c["seq"]
        ids = torch.randint(0, 30522, (B, S), device=DEV)
        pos = torch.arange(S, device=DEV).expand(B, S).contiguous()
        typ = torch.zeros(B, S, dtype=torch.long, device=DEV)
        info["flops"] = bert_flops(B, S)
        info["includes"] = "embeddings (word+position+type, LayerNorm) + 12 encoder layers; no pooler, no head"
        if c["mode"] == "inference":
            m = Bert().to(DEV, torch.bfloat16).eval()

            def step():
                with torch.no_grad():
                    return m(ids, pos, typ)
        else:
            m = Bert().to(DEV).train()
            opt = torch.optim.Adam(m.parameters(), lr=1e-4, fused=True, capturable=True)
            info["flops"] = 3 * info["flops"]
            info["training"] = ("fp32 master weights, autocast bf16 (cache_enabled=False, needed for graph capture), loss=mean(h.float()**2), "
                                "backward, Adam(fused=True, capturable=True), zero_grad(set_to_none=True)")

            def step():
                opt.zero_grad(set_to_none=True)
                with torch.autocast("cuda", dtype=torch.bfloat16, cache_enabled=False):
                    h = m(ids, pos, typ)
                loss = h.float().pow(2).mean()
                loss.backward()
                opt.step()
                return loss
        return step, info
    if c["model"] == "resnet50":
        import torchvision
        torch.backends.cudnn.benchmark = False
        m = torchvision.models.resnet50(weights=None).to(DEV, torch.bfloat16).to(memory_format=torch.channels_last).eval()
        x = torch.randn(c["batch"], 3, 224, 224, device=DEV, dtype=torch.bfloat16).to(memory_format=torch.channels_last)
        info["flops"] = 2 * 4.089e9 * c["batch"]  # ~4.09 GMAC per 224x224 image
        info["includes"] = "torchvision resnet50 incl. stem, avgpool and fc(2048->1000)"

        def step():
            with torch.no_grad():
                return m(x)
        return step, info
    if c["model"] == "llama":
        m = LlamaLayer().to(DEV, torch.bfloat16).eval()
        B = c["batch"]
        info["includes"] = "one decoder layer (attention + SwiGLU MLP, two RMSNorms); no embeddings, no final norm, no LM head"
        if c["phase"] == "decode":
            ctx = c["context"]
            kc = torch.randn(B, 8, ctx + 1, 128, device=DEV, dtype=torch.bfloat16)
            vc = torch.randn(B, 8, ctx + 1, 128, device=DEV, dtype=torch.bfloat16)
            pos = torch.tensor([ctx], device=DEV)
            cos, sin = rope_tables(pos)
            x = torch.randn(B, 1, 4096, device=DEV, dtype=torch.bfloat16)
            info["flops"] = llama_flops(B, 1, ctx + 1)
            info["kv_cache"] = f"(B, 8, {ctx + 1}, 128) bf16 x2; new k/v written at position {ctx}; attends {ctx + 1} keys"

            def step():
                with torch.no_grad():
                    return m(x, cos, sin, kc, vc, pos)
        else:
            S = c["seq"]
            cos, sin = rope_tables(torch.arange(S, device=DEV))
            x = torch.randn(B, S, 4096, device=DEV, dtype=torch.bfloat16)
            info["flops"] = llama_flops(B, S, S) // 1  # causal: half the attention flops are masked
            info["note"] = "flops count full (non-causal) attention; causal work is about half of the attention term"

            def step():
                with torch.no_grad():
                    return m(x, cos, sin)
        return step, info
    raise ValueError(c)


def profile_kernels(step):
    """One eager iteration under torch.profiler: list of GPU activities (kernels, memcpy, memset)."""
    from torch.profiler import ProfilerActivity, profile
    torch.cuda.synchronize()
    with profile(activities=[ProfilerActivity.CUDA, ProfilerActivity.CPU]) as prof:
        step()
        torch.cuda.synchronize()
    fd, path = tempfile.mkstemp(suffix=".json")
    os.close(fd)
    prof.export_chrome_trace(path)
    tr = json.load(open(path))
    os.unlink(path)
    ev = tr["traceEvents"] if isinstance(tr, dict) else tr
    ks = []
    for e in ev:
        if e.get("ph") != "X" or e.get("cat") not in ("kernel", "gpu_memcpy", "gpu_memset"):
            continue
        a = e.get("args", {})
        k = {"name": e["name"].replace("at::", "")[:128], "ns": round(float(e["dur"]) * 1e3), "ts": e["ts"]}
        if e["cat"] != "kernel":
            k["kind"] = e["cat"]
        if "grid" in a:
            k["grid"] = "(" + ", ".join(str(v) for v in a["grid"]) + ")"
            k["block"] = "(" + ", ".join(str(v) for v in a["block"]) + ")"
        ks.append(k)
    ks.sort(key=lambda k: k["ts"])
    t0 = ks[0]["ts"] if ks else 0
    for k in ks:
        k["ts"] = round((k["ts"] - t0) * 1e3)  # ns from first kernel start
    return ks


def run_time(out_path, only=None):
    res = {"device": device_info(), "clocks_before": clocks_snapshot(), "cases": []}
    for c in cases():
        if only and c["name"] not in only:
            continue
        r = dict(c)
        step = None
        try:
            step, info = build(c)
            r.update(info)
            for _ in range(5):
                step()
            torch.cuda.synchronize()
            ts = event_times_us(step, 30)
            r["median_us"] = statistics.median(ts)
            r["min_us"] = min(ts)
            r["reps"] = len(ts)
            try:
                s = torch.cuda.Stream()
                s.wait_stream(torch.cuda.current_stream())
                with torch.cuda.stream(s):
                    for _ in range(3):
                        step()
                torch.cuda.current_stream().wait_stream(s)
                torch.cuda.synchronize()
                g = torch.cuda.CUDAGraph()
                with torch.cuda.graph(g):
                    step()
                torch.cuda.synchronize()
                for _ in range(3):
                    g.replay()
                gts = event_times_us(g.replay, 30)
                r["graph_us"] = statistics.median(gts)
                r["graph_min_us"] = min(gts)
                r["graph_reps"] = len(gts)
                del g
            except Exception as e:  # noqa: BLE001
                traceback.print_exc()
                r["graph_us"] = None
                r["graph_error"] = repr(e)[:300]
            ks = profile_kernels(step)
            r["kernels"] = ks
            r["kernel_count"] = len(ks)
            r["kernel_ns_sum"] = sum(k["ns"] for k in ks if "kind" not in k)
            r["memcpy_memset_ns_sum"] = sum(k["ns"] for k in ks if "kind" in k)
            r["kernel_source"] = "torch.profiler (CUPTI) durations of one eager iteration"
            r["tflops_graph"] = r["flops"] / (r["graph_us"] * 1e-6) / 1e12 if r.get("graph_us") else None
            print(f"{c['case']:2d} {c['workload']:60s} {c['mode']:9s} eager {r['median_us']:9.1f} us"
                  f" graph {r.get('graph_us') or float('nan'):9.1f} us kernels {len(ks)} sum {r['kernel_ns_sum'] / 1e3:9.1f} us",
                  flush=True)
        except Exception as e:  # noqa: BLE001
            traceback.print_exc()
            r["error"] = repr(e)[:500]
        finally:
            step = None
            torch.cuda.synchronize()
            torch.cuda.empty_cache()
        res["cases"].append(r)
        write_json(out_path, res)
    res["clocks_after"] = clocks_snapshot()
    write_json(out_path, res)


def run_profile(order_path, names):
    done = []
    for c in cases():
        if c["name"] not in names:
            continue
        step = None
        try:
            step, _ = build(c)
            for _ in range(3):
                step()
            torch.cuda.synchronize()
            torch.cuda.profiler.start()
            marker()
            step()
            torch.cuda.synchronize()
            torch.cuda.profiler.stop()
            done.append(c["case"])
        except Exception:  # noqa: BLE001
            traceback.print_exc()
        finally:
            step = None
            torch.cuda.synchronize()
            torch.cuda.empty_cache()
        with open(order_path, "w") as f:
            json.dump(done, f)


if __name__ == "__main__":
    if sys.argv[1] == "time":
        run_time(sys.argv[2], sys.argv[3].split(",") if len(sys.argv) > 3 else None)
    elif sys.argv[1] == "list":
        for c in cases():
            print(c["name"], c["workload"], c["mode"])
    else:
        run_profile(sys.argv[2], sys.argv[3].split(","))
