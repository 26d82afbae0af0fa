"""MeshGraphNets: learned mesh-based simulation (encode-process-decode GNN).

Published architecture: Pfaff et al., "Learning Mesh-Based Simulation with Graph Networks",
ICLR 2021 (arXiv 2010.03409), §3 and appendix A.1: node and edge encoders, 15 message-passing
steps, a node decoder; every MLP has two hidden layers of 128 with ReLU and a 128 output
followed by LayerNorm (the decoder has no LayerNorm); edge update e' = MLP(e, v_s, v_r),
node update v' = MLP(v, Σ e'), both with residual connections. Defaults follow the
CylinderFlow task: node inputs = velocity (2) + one-hot node type (9), edge inputs = relative
position (2) + its norm (1), output = acceleration (2).

`nodes` and `edges` (directed, about 6 per node on a triangle mesh) set the mesh size; edge
endpoints are gathers, the aggregation a scatter-add. Per step, 15 ops: two gathers, a concat,
the edge MLP (3 GEMMs + LayerNorm), a residual add, the scatter-add, a concat, the node MLP,
a residual add (Kitsune counts 51 ops for its inference graph, papers.md §1).
"""
from __future__ import annotations

from archsim.graph import Graph, GraphBuilder, TensorSpec, register_workload

from workloads._common import check_layers, check_positive

LATENT = 128


def mgn_mlp(b: GraphBuilder, x: TensorSpec, out: int = LATENT, norm: bool = True,
            name: str = "mlp") -> TensorSpec:
    return b.mlp(x, (LATENT, LATENT, out), act="relu", name=name, norm=norm)


def interaction(b: GraphBuilder, nodes_x: TensorSpec, edges_x: TensorSpec, src: TensorSpec,
                dst: TensorSpec, mlp) -> tuple[TensorSpec, TensorSpec]:
    """One message-passing step on a graph: edge update then node update, residuals."""
    vs = b.gather(nodes_x, src, name="gather_src")
    vr = b.gather(nodes_x, dst, name="gather_dst")
    e = mlp(b, b.concat([edges_x, vs, vr], axis=1, name="edge_concat"), name="edge_mlp")
    edges_x = b.add(e, edges_x, name="edge_residual")
    zeros = TensorSpec(b._name("agg_zeros"), nodes_x.shape[:1] + e.shape[1:], e.dtype, "input")
    agg = b.scatter_add(zeros, e, dst, name="aggregate")
    v = mlp(b, b.concat([nodes_x, agg], axis=1, name="node_concat"), name="node_mlp")
    return b.add(v, nodes_x, name="node_residual"), edges_x


@register_workload("meshgraphnets", "MeshGraphNets (Pfaff et al. 2021): encoder, 15 message-"
                                    "passing steps (latent 128), decoder")
def meshgraphnets(nodes: int = 10000, edges: int = 60000, batch: int = 1, dtype: str = "bf16",
                  layers: int = 15, node_features: int = 11, edge_features: int = 3,
                  outputs: int = 2) -> Graph:
    check_positive(nodes=nodes, edges=edges, batch=batch)
    check_layers(layers, 15)
    n, m = nodes * batch, edges * batch    # a batch of meshes is one disjoint graph
    b = GraphBuilder("meshgraphnets", dtype, {"family": "gnn", "nodes": n, "edges": m,
                                              "layers": layers})
    src, dst = b.index("senders", (m,)), b.index("receivers", (m,))
    v = mgn_mlp(b, b.input("node_features", (n, node_features)), name="encode_nodes")
    e = mgn_mlp(b, b.input("edge_features", (m, edge_features)), name="encode_edges")
    for i in range(layers):
        with b.scope(f"step{i}"):
            v, e = interaction(b, v, e, src, dst, mgn_mlp)
    mgn_mlp(b, v, out=outputs, norm=False, name="decode")
    return b.build()
