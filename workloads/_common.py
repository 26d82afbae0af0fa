"""Building blocks shared by the workload families: transformer layers, attention with a KV
cache, argument checks. Private to workloads/ (the public surface is the registry)."""
from __future__ import annotations

from archsim.errors import WorkloadError
from archsim.graph import GraphBuilder, Op, TensorSpec
from archsim.graph.op import attention_pairs


def check_positive(**values: int) -> None:
    """A clear error for a non-positive size parameter."""
    for k, v in values.items():
        if not isinstance(v, int) or isinstance(v, bool) or v <= 0:
            raise WorkloadError(f"parameter {k} must be a positive integer, got {v!r}")


def check_layers(layers: int, total: int) -> int:
    check_positive(layers=layers)
    if layers > total:
        raise WorkloadError(f"layers={layers}: the model has {total}")
    return layers


def split_heads(b: GraphBuilder, x: TensorSpec, batch: int, heads: int, seq: int, head_dim: int,
                name: str) -> TensorSpec:
    """[B·S, H·D] -> [B, H, S, D] as a view: attention kernels take the strided layout
    directly (flash-attn reads [B, S, H, D]), so no transpose kernel runs."""
    return b.view(x, (batch, heads, seq, head_dim), name=name)


def attention_op(b: GraphBuilder, q: TensorSpec, k: TensorSpec, v: TensorSpec, causal: bool,
                 deps: tuple[TensorSpec, ...] = (), name: str = "attention") -> TensorSpec:
    """Flash attention like GraphBuilder.attention, but with extra inputs `deps` that order it
    after other ops (the KV-cache writes a decode step must see). Same attrs, same cost."""
    if not deps:
        return b.attention(q, k, v, causal=causal, name=name)
    B, H, S, D = q.shape
    _, Hkv, Skv, _ = k.shape
    opname = b._name(name)
    out = TensorSpec(opname + ":out", (B, H, S, D), q.dtype)
    b.graph.add_op(Op(opname, "attention", (q, k, v, *deps), (out,),
                      {"B": B, "H": H, "S": S, "Skv": Skv, "D": D, "Hkv": Hkv, "causal": causal,
                       "simt_flops": 5 * B * H * attention_pairs(S, Skv, causal)}))
    return out


def encoder_layer(b: GraphBuilder, x: TensorSpec, batch: int, seq: int, hidden: int, heads: int,
                  ffn: int, causal: bool = False, pre_norm: bool = False,
                  fuse_gelu: bool = False, ffn_block=None) -> TensorSpec:
    """One transformer layer on x[B·S, hidden] (BERT: post-norm; GPT-2: pre-norm), GELU FFN.

    Ops: (ln) fused QKV GEMM, q/k/v views, flash attention, view, output GEMM, residual add,
    ln, FFN-up GEMM, GELU, FFN-down GEMM, residual add (, ln). The GELU is its own kernel, as
    eager PyTorch runs Linear then GELU (Hugging Face's BertIntermediate, GPT-2's MLP);
    fuse_gelu=True folds it into the FFN-up GEMM's epilogue, as cuBLASLt does for
    nn.TransformerEncoderLayer's fast path and as compilers do.
    """
    d = hidden // heads
    h = b.layernorm(x, name="ln_attn") if pre_norm else x
    qkv = b.linear(h, 3 * hidden, name="qkv")
    q = split_heads(b, qkv, batch, heads, seq, d, "q")
    k = split_heads(b, qkv, batch, heads, seq, d, "k")
    v = split_heads(b, qkv, batch, heads, seq, d, "v")
    a = b.attention(q, k, v, causal=causal)
    a = b.view(a, (batch * seq, hidden), name="merge_heads")
    o = b.linear(a, hidden, name="attn_out")
    x = b.add(o, x, name="residual_attn")
    if not pre_norm:
        x = b.layernorm(x, name="ln_attn")
    h = b.layernorm(x, name="ln_ffn") if pre_norm else x
    if ffn_block is not None:  # a replacement FFN, e.g. LookupFFN: ffn_block(b, h) -> [B·S, hidden]
        h = ffn_block(b, h)
    elif fuse_gelu:
        h = b.linear(h, ffn, name="ffn_up", epilogue="gelu")
    else:
        h = b.gelu(b.linear(h, ffn, name="ffn_up"), name="gelu")
    if ffn_block is None:
        h = b.linear(h, hidden, name="ffn_down")
    x = b.add(h, x, name="residual_ffn")
    if not pre_norm:
        x = b.layernorm(x, name="ln_ffn")
    return x
