"""DLRM (MLPerf recommendation, Criteo Terabyte click logs).

Published architecture: Naumov et al., "Deep Learning Recommendation Model for Personalization
and Recommendation Systems", arXiv 1906.00091; MLPerf configuration (mlcommons/training
recommendation/dlrm, and papers.md §2): 13 dense features through a bottom MLP 13-512-256-128
(ReLU); 26 categorical features, each one row of a 128-wide embedding table (one-hot lookups),
table sizes of Criteo Terabyte capped at 40 M rows (--max-ind-range=40000000); dot interaction
of the 27 vectors (26 embeddings + the bottom-MLP output): the 27 x 27 Gram matrix's 351
strictly-lower entries, concatenated with the dense vector -> 479 features; top MLP
479-1024-1024-512-256-1 (ReLU, sigmoid at the end).

Embeddings are gathers. fused_tables=True runs the 26 lookups as one gather over the stacked
tables (how FBGEMM's table-batched embedding runs them); False gives one gather per table.
"""
from __future__ import annotations

from archsim.graph import Graph, GraphBuilder, register_workload

from workloads._common import check_positive

# Criteo Terabyte, rows per categorical feature with max-ind-range 40 M (MLPerf DLRM reference)
CRITEO_TB_ROWS = (39884406, 39043, 17289, 7420, 20263, 3, 7120, 1543, 63, 38532951, 2953546,
                  403346, 10, 2208, 11938, 155, 4, 976, 14, 39979771, 25641295, 39664984, 585935,
                  12972, 108, 36)
BOTTOM, TOP, DIM = (512, 256, 128), (1024, 1024, 512, 256, 1), 128


@register_workload("dlrm", "DLRM (MLPerf, Criteo TB): bottom MLP 13-512-256-128, 26 embedding "
                           "gathers, dot interaction, top MLP 479-...-1")
def dlrm(batch: int = 2048, dtype: str = "bf16", fused_tables: bool = True,
         table_dtype: str = "fp32") -> Graph:
    check_positive(batch=batch)
    # training updates the tables row-wise (sparse), as the MLPerf reference does
    b = GraphBuilder("dlrm", dtype, {"family": "recsys", "batch": batch,
                                     "sparse_embeddings": True})
    tables = len(CRITEO_TB_ROWS)
    dense = b.input("dense", (batch, 13))
    x = b.mlp(dense, BOTTOM, act="relu", last_act=True, name="bottom")
    with b.scope("embed"):
        if fused_tables:
            table = b.param("tables", (sum(CRITEO_TB_ROWS), DIM), table_dtype)
            emb = b.gather(table, b.index("ids", (batch, tables)), name="lookup")
        else:
            embs = []
            for t, rows in enumerate(CRITEO_TB_ROWS):
                e = b.gather(b.param(f"table{t}", (rows, DIM), table_dtype),
                             b.index(f"ids{t}", (batch,)), name=f"lookup{t}")
                embs.append(b.view(e, (batch, 1, DIM), name=f"as_row{t}"))
            emb = b.concat(embs, axis=1, name="stack")
        if table_dtype != dtype:
            emb = b.copy(emb, dtype=dtype, name="cast")
    with b.scope("interaction"):
        feats = b.concat([b.view(x, (batch, 1, DIM), name="dense_row"), emb], axis=1,
                         name="stack")                                     # [B, 27, 128]
        n = tables + 1
        # feats @ feats^T: the GEMM reads the second operand transposed, no copy
        gram = b.matmul(feats, b.view(feats, (batch, DIM, n), name="T"), name="dot")  # [B,27,27]
        pairs = b.gather(b.view(gram, (batch * n * n, 1), name="flat"),
                         b.index("tril_ids", (batch * n * (n - 1) // 2,)), name="tril")
        z = b.concat([x, b.view(pairs, (batch, n * (n - 1) // 2), name="pairs")], axis=1,
                     name="concat")                                        # [B, 479]
    y = b.mlp(z, TOP[:-1], act="relu", last_act=True, name="top")
    b.linear(y, TOP[-1], name="top.out", epilogue="sigmoid")
    return b.build()
