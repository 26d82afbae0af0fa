"""Transformer encoders and GPT-2: bert-base, bert-large, roberta-small, gpt2.

Published architectures:
- BERT (Devlin et al., NAACL 2019, arXiv 1810.04805, §3): BERT-base L=12, H=768, A=12 heads,
  FFN 4H=3072; BERT-large L=24, H=1024, A=16, FFN 4096; WordPiece vocab 30,522, 512 positions,
  2 token types; post-LayerNorm layers, GELU. BERT-large at seq 384 is MLPerf's SQuAD model.
- RoBERTa (Liu et al., arXiv 1907.11692) shape of BERT, BPE vocab 50,265, 514 positions; the
  "small" configuration of LookupFFN (Zeng et al., ICML 2023; papers.md §3): 4 layers, hidden
  512, 8 heads, dense FFN 2048.
- GPT-2 small (Radford et al. 2019, "Language Models are Unsupervised Multitask Learners",
  Table 2; 124 M parameters): 12 layers, d_model 768, 12 heads, FFN 3072, vocab 50,257,
  1,024 positions, pre-LayerNorm, causal attention, LM head tied to the token embedding.

Activations flow as [batch·seq, hidden] matrices; attention sees [B, H, S, D] views.
"""
from __future__ import annotations

from archsim.graph import Graph, GraphBuilder, register_workload

from workloads._common import check_layers, check_positive, encoder_layer


def _embed(b: GraphBuilder, tokens: int, hidden: int, vocab: int, positions: int,
           token_types: int) -> tuple:
    with b.scope("embed"):
        ids = b.index("ids", (tokens,))
        word = b.gather(b.param("word_embeddings", (vocab, hidden)), ids, name="word")
        pos = b.gather(b.param("position_embeddings", (positions, hidden)),
                       b.index("pos_ids", (tokens,)), name="position")
        x = b.add(word, pos, name="add_pos")
        if token_types:
            typ = b.gather(b.param("token_type_embeddings", (token_types, hidden)),
                           b.index("type_ids", (tokens,)), name="token_type")
            x = b.add(x, typ, name="add_type")
    return x


def _encoder(name: str, batch: int, seq: int, dtype: str, layers: int, total_layers: int,
             hidden: int, heads: int, ffn: int, vocab: int, positions: int, token_types: int,
             include_head: bool, head: str, fuse_gelu: bool = False, ffn_block=None) -> Graph:
    check_positive(batch=batch, seq=seq)
    check_layers(layers, total_layers)
    b = GraphBuilder(name, dtype, {"family": "transformer", "layers": layers, "hidden": hidden,
                                   "heads": heads, "ffn": ffn, "batch": batch, "seq": seq})
    x = _embed(b, batch * seq, hidden, vocab, positions, token_types)
    x = b.layernorm(x, name="embed.ln")
    for i in range(layers):
        with b.scope(f"layer{i}"):
            x = encoder_layer(b, x, batch, seq, hidden, heads, ffn, fuse_gelu=fuse_gelu,
                              ffn_block=ffn_block(i) if ffn_block else None)
    if include_head:
        with b.scope("head"):
            if head == "qa":  # SQuAD span head: start/end logits per token
                b.linear(x, 2, name="qa")
            else:  # masked-LM head: dense + GELU, LayerNorm, decoder to the vocabulary
                h = b.linear(x, hidden, name="transform", epilogue="gelu")
                h = b.layernorm(h, name="ln")
                b.linear(h, vocab, name="decoder")
    return b.build()


@register_workload("bert-base", "BERT-base encoder (12 x 768, 12 heads, FFN 3072), post-LN")
def bert_base(batch: int = 8, seq: int = 128, dtype: str = "bf16", layers: int = 12,
              include_head: bool = False, fuse_gelu: bool = False) -> Graph:
    return _encoder("bert-base", batch, seq, dtype, layers, 12, 768, 12, 3072, 30522, 512, 2,
                    include_head, "qa", fuse_gelu)


@register_workload("bert-large", "BERT-large encoder (24 x 1024, 16 heads, FFN 4096); MLPerf "
                                 "SQuAD model with include_head")
def bert_large(batch: int = 8, seq: int = 384, dtype: str = "bf16", layers: int = 24,
               include_head: bool = False, fuse_gelu: bool = False) -> Graph:
    return _encoder("bert-large", batch, seq, dtype, layers, 24, 1024, 16, 4096, 30522, 512, 2,
                    include_head, "qa", fuse_gelu)


@register_workload("roberta-small", "RoBERTa-small (4 x 512, 8 heads, FFN 2048): the LookupFFN "
                                    "baseline")
def roberta_small(batch: int = 8, seq: int = 512, dtype: str = "bf16", layers: int = 4,
                  include_head: bool = False, fuse_gelu: bool = False, ffn: str = "dense",
                  tables: int = 128, table_bits: int = 8, projection: str = "bh4",
                  order: str = "token", tile: int = 64) -> Graph:
    """ffn='lookup' replaces every layer's FFN by LookupFFN (workloads/lookupffn.py) with
    `tables` tables of 2^table_bits rows, a 'bh4' or 'dense' projection and the gather-add
    loop `order` ('token' or 'table' with tiles of `tile` tokens)."""
    block = None
    if ffn != "dense":
        from workloads.lookupffn import lookup_block_factory
        block = lookup_block_factory(ffn, tables, table_bits, projection, order, tile)
    return _encoder("roberta-small", batch, seq, dtype, layers, 4, 512, 8, 2048, 50265, 514, 0,
                    include_head, "mlm", fuse_gelu, block)


@register_workload("gpt2", "GPT-2 small (124M: 12 x 768, 12 heads, FFN 3072), causal, pre-LN, "
                           "tied LM head")
def gpt2(batch: int = 8, seq: int = 1024, dtype: str = "bf16", layers: int = 12,
         include_head: bool = True, fuse_gelu: bool = False) -> Graph:
    check_positive(batch=batch, seq=seq)
    check_layers(layers, 12)
    hidden, heads, ffn, vocab = 768, 12, 3072, 50257
    b = GraphBuilder("gpt2", dtype, {"family": "transformer", "layers": layers, "hidden": hidden,
                                     "heads": heads, "ffn": ffn, "batch": batch, "seq": seq})
    with b.scope("embed"):
        wte = b.param("wte", (vocab, hidden))
        x = b.gather(wte, b.index("ids", (batch * seq,)), name="token")
        pos = b.gather(b.param("wpe", (1024, hidden)), b.index("pos_ids", (batch * seq,)),
                       name="position")
        x = b.add(x, pos, name="add_pos")
    for i in range(layers):
        with b.scope(f"layer{i}"):
            x = encoder_layer(b, x, batch, seq, hidden, heads, ffn, causal=True, pre_norm=True,
                              fuse_gelu=fuse_gelu)
    x = b.layernorm(x, name="ln_f")
    if include_head:  # tied weights: the logits GEMM reads the token embedding, transposed
        b.matmul(x, b.view(wte, (hidden, vocab), name="wte_T"), name="lm_head")
    return b.build()
