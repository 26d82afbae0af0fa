"""GraphCast: medium-range weather forecasting with a GNN on an icosahedral multi-mesh.

Published architecture: Lam et al., "Learning skillful medium-range global weather forecasting",
Science 2023 (arXiv 2212.12794), §3 and supplement §4: encoder-processor-decoder; latent size
512 everywhere; every MLP has one hidden layer of 512 with swish and a LayerNorm output (the
final output MLP has none); grid node inputs 474 (two input steps of 227 variables plus
forcings and static features), outputs 227; mesh node inputs 3 and edge inputs 4 (length and
relative position). The encoder embeds grid and mesh nodes and the grid->mesh edges and runs one
interaction network grid->mesh; the processor runs 16 interaction networks on the multi-mesh
(edge update MLP(e, v_s, v_r), node update MLP(v, Σ e), residuals); the decoder runs one
interaction network mesh->grid and an output MLP.

Full size (0.25° grid, multi-mesh M6): 1,038,240 grid nodes, 40,962 mesh nodes, 327,660
multi-mesh edges, 1,618,746 grid->mesh and 3,114,720 mesh->grid edges. The defaults are a
small instance with the same construction: a 1° grid (181 x 360 = 65,160 nodes), multi-mesh M5
(10,242 nodes, 81,900 directed edges), grid->mesh edges 1.56 per grid node and mesh->grid 3 per
grid node, the ratios of the full model.
"""
from __future__ import annotations

from archsim.graph import Graph, GraphBuilder, TensorSpec, register_workload

from workloads._common import check_layers, check_positive
from workloads.meshgraphnets import interaction

LATENT, GRID_IN, GRID_OUT = 512, 474, 227


def gc_mlp(b: GraphBuilder, x: TensorSpec, out: int = LATENT, norm: bool = True,
           name: str = "mlp") -> TensorSpec:
    return b.mlp(x, (LATENT, out), act="silu", name=name, norm=norm)


def _bipartite(b: GraphBuilder, src_x: TensorSpec, dst_x: TensorSpec, edges_x: TensorSpec,
               src: TensorSpec, dst: TensorSpec) -> TensorSpec:
    """Interaction network from one node set to another: edge update, receiver update."""
    vs = b.gather(src_x, src, name="gather_src")
    vr = b.gather(dst_x, dst, name="gather_dst")
    e = gc_mlp(b, b.concat([edges_x, vs, vr], axis=1, name="edge_concat"), name="edge_mlp")
    zeros = TensorSpec(b._name("agg_zeros"), dst_x.shape[:1] + e.shape[1:], e.dtype, "input")
    agg = b.scatter_add(zeros, e, dst, name="aggregate")
    v = gc_mlp(b, b.concat([dst_x, agg], axis=1, name="node_concat"), name="node_mlp")
    return b.add(v, dst_x, name="node_residual")


@register_workload("graphcast", "GraphCast (Lam et al. 2023): grid->mesh encoder, 16 "
                                "processor layers (latent 512) on a multi-mesh, mesh->grid")
def graphcast(grid_nodes: int = 65160, mesh_nodes: int = 10242, mesh_edges: int = 81900,
              g2m_edges: int = 101650, m2g_edges: int = 195480, batch: int = 1,
              dtype: str = "bf16", layers: int = 16) -> Graph:
    check_positive(grid_nodes=grid_nodes, mesh_nodes=mesh_nodes, mesh_edges=mesh_edges,
                   g2m_edges=g2m_edges, m2g_edges=m2g_edges, batch=batch)
    check_layers(layers, 16)
    G, M = grid_nodes * batch, mesh_nodes * batch
    b = GraphBuilder("graphcast", dtype, {"family": "gnn", "grid_nodes": G, "mesh_nodes": M,
                                          "layers": layers})
    with b.scope("encoder"):
        grid = gc_mlp(b, b.input("grid_features", (G, GRID_IN)), name="embed_grid")
        mesh = gc_mlp(b, b.input("mesh_features", (M, 3)), name="embed_mesh")
        e = gc_mlp(b, b.input("g2m_features", (g2m_edges * batch, 4)), name="embed_edges")
        mesh = _bipartite(b, grid, mesh, e, b.index("g2m_senders", (g2m_edges * batch,)),
                          b.index("g2m_receivers", (g2m_edges * batch,)))
        grid = b.add(gc_mlp(b, grid, name="grid_mlp"), grid, name="grid_residual")
    with b.scope("processor"):
        me = gc_mlp(b, b.input("mesh_edge_features", (mesh_edges * batch, 4)),
                    name="embed_edges")
        src = b.index("senders", (mesh_edges * batch,))
        dst = b.index("receivers", (mesh_edges * batch,))
        for i in range(layers):
            with b.scope(f"layer{i}"):
                mesh, me = interaction(b, mesh, me, src, dst, gc_mlp)
    with b.scope("decoder"):
        e = gc_mlp(b, b.input("m2g_features", (m2g_edges * batch, 4)), name="embed_edges")
        grid = _bipartite(b, mesh, grid, e, b.index("m2g_senders", (m2g_edges * batch,)),
                          b.index("m2g_receivers", (m2g_edges * batch,)))
        gc_mlp(b, grid, out=GRID_OUT, norm=False, name="output")
    return b.build()
