"""Llama-3-8B: prefill (with optional earlier context) and decode against a KV cache.

Published architecture (Meta, "The Llama 3 Herd of Models", arXiv 2407.21783, Table 3; and the
released config.json of Meta-Llama-3-8B): 32 layers, model dim 4096, 32 query heads, 8 KV heads
(grouped-query attention), head dim 128, SwiGLU FFN 14,336, RMSNorm (pre-norm), RoPE
(theta 500,000), vocabulary 128,256, untied LM head.

Phases:
- prefill: `seq` new tokens per sequence, attending causally to themselves and to `context`
  earlier tokens whose K/V are already cached (context=0: a plain prompt);
- decode: one new token per sequence attending to a KV cache of `context` tokens (+ itself).
The new tokens' K and V are written into the cache (a copy op each), which the attention reads.

Op granularity per layer: rmsnorm; q, k, v GEMMs; rope on q and k as eager code runs it (neg,
cat, two muls, add each); K and V cache writes; flash attention; output GEMM; residual add;
rmsnorm; gate and up GEMMs; SwiGLU; down GEMM; residual add (plus zero-cost views). Kitsune
counts 27 per layer (papers.md §1). Causal attention with earlier context counts exactly the
S·context + S(S+1)/2 query-key pairs it scores.
"""
from __future__ import annotations

from archsim.errors import WorkloadError
from archsim.graph import Graph, GraphBuilder, TensorSpec, register_workload

from workloads._common import attention_op, check_layers, check_positive

LLAMA3_8B = dict(layers=32, hidden=4096, heads=32, kv_heads=8, head_dim=128, ffn=14336,
                 vocab=128256)


def _rope(b: GraphBuilder, x: TensorSpec, heads: int, D: int, name: str) -> TensorSpec:
    """Rotary embedding as the reference (Hugging Face) code runs it eagerly:
    x * cos + rotate_half(x) * sin, rotate_half(x) = cat(-x[..., D/2:], x[..., :D/2]) —
    five kernels (neg, cat, mul, mul, add) over the [tokens, heads, D] tensor."""
    T = x.shape[0]
    with b.scope(name):
        xh = b.view(x, (T, heads, D), name="heads")
        lo = b.view(xh, (T, heads, D // 2), name="lo")
        hi = b.view(xh, (T, heads, D // 2), name="hi")
        rot = b.concat([b.elementwise("neg", hi, name="neg"), lo], axis=-1, name="rotate_half")
        cos = b.input("cos", (T, 1, D))
        sin = b.input("sin", (T, 1, D))
        y = b.add(b.mul(xh, cos, name="mul_cos"), b.mul(rot, sin, name="mul_sin"), name="add")
        return b.view(y, x.shape, name="out")


def _decoder_layer(b: GraphBuilder, x: TensorSpec, batch: int, seq: int, context: int,
                   cfg: dict, decode: bool) -> TensorSpec:
    H, Hkv, D, hid = cfg["heads"], cfg["kv_heads"], cfg["head_dim"], cfg["hidden"]
    h = b.layernorm(x, name="attn_norm", rms=True)
    q = b.linear(h, H * D, name="q_proj", bias=False)
    k = b.linear(h, Hkv * D, name="k_proj", bias=False)
    v = b.linear(h, Hkv * D, name="v_proj", bias=False)
    q = _rope(b, q, H, D, name="rope_q")
    k = _rope(b, k, Hkv, D, name="rope_k")
    q = b.view(q, (batch, H, seq, D), name="q_heads")
    k = b.view(k, (batch, Hkv, seq, D), name="k_heads")
    v = b.view(v, (batch, Hkv, seq, D), name="v_heads")
    deps: tuple = ()
    if context or decode:
        # the new tokens' K/V land in the cache; attention reads the whole cache
        kw = b.copy(k, name="k_cache_write")
        vw = b.copy(v, name="v_cache_write")
        skv = context + seq
        k = TensorSpec(b._name("k_cache"), (batch, Hkv, skv, D), k.dtype, "input")
        v = TensorSpec(b._name("v_cache"), (batch, Hkv, skv, D), v.dtype, "input")
        deps = (kw, vw)
    # decode: the one new query sees every cached key (no mask)
    a = attention_op(b, q, k, v, causal=not decode, deps=deps)
    a = b.view(a, (batch * seq, H * D), name="merge_heads")
    o = b.linear(a, hid, name="o_proj", bias=False)
    x = b.add(o, x, name="residual_attn")
    h = b.layernorm(x, name="ffn_norm", rms=True)
    g = b.linear(h, cfg["ffn"], name="gate_proj", bias=False)
    u = b.linear(h, cfg["ffn"], name="up_proj", bias=False)
    f = b.elementwise("swiglu", g, u, name="swiglu")
    d = b.linear(f, hid, name="down_proj", bias=False)
    return b.add(d, x, name="residual_ffn")


@register_workload("llama3-8b", "Llama-3-8B decoder (32 x 4096, GQA 32/8 heads, SwiGLU 14336): "
                                "prefill or decode with a KV cache")
def llama3_8b(phase: str = "prefill", batch: int = 1, seq: int = 2048, context: int = 0,
              dtype: str = "bf16", layers: int = 32, include_head: bool = True,
              all_logits: bool = False, blocks_only: bool = False) -> Graph:
    """include_head: the LM head (logits of the last position of each sequence in prefill,
    as serving does; of every position with all_logits=True, as training does).
    blocks_only: the decoder layers alone, fed hidden states: no embedding lookup, final norm
    or LM head (a layer measured on its own)."""
    if phase not in ("prefill", "decode"):
        raise WorkloadError(f"llama3-8b: phase must be 'prefill' or 'decode', got {phase!r}")
    decode = phase == "decode"
    if decode:
        seq = 1
        check_positive(context=context)
    elif context < 0:
        raise WorkloadError(f"llama3-8b: context must be >= 0, got {context}")
    check_positive(batch=batch, seq=seq)
    cfg = LLAMA3_8B
    check_layers(layers, cfg["layers"])
    b = GraphBuilder("llama3-8b", dtype, {"family": "llm", "phase": phase, "batch": batch,
                                          "seq": seq, "context": context, "layers": layers})
    tokens = batch * seq
    if blocks_only:
        x = b.input("hidden_states", (tokens, cfg["hidden"]))
    else:
        x = b.gather(b.param("embed_tokens", (cfg["vocab"], cfg["hidden"])),
                     b.index("ids", (tokens,)), name="embed")
    for i in range(layers):
        with b.scope(f"layer{i}"):
            x = _decoder_layer(b, x, batch, seq, context, cfg, decode)
    if blocks_only:
        return b.build()
    x = b.layernorm(x, name="norm", rms=True)
    if include_head:
        if not decode and not all_logits:  # generation needs only the last logits
            x = b.view(x, (batch, cfg["hidden"]), name="last_token")
        b.linear(x, cfg["vocab"], name="lm_head", bias=False)
    return b.build()
