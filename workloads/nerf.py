"""NeRF: neural radiance fields, one network evaluation over a batch of rays.

Published architecture: Mildenhall et al., "NeRF: Representing Scenes as Neural Radiance Fields
for View Synthesis", ECCV 2020 (arXiv 2003.08934), §5.1 and Fig. 7: positional encoding
γ(p) with L = 10 frequencies for the 3-D position (3 + 3·2·10 = 63 inputs) and L = 4 for the
viewing direction (3 + 3·2·4 = 27); eight 256-wide ReLU layers with the encoded position
concatenated again into the fifth layer's input (skip); a density output (1) and a 256-wide
feature vector (no activation) which, concatenated with the encoded direction, feeds one
128-wide ReLU layer and the RGB output (3, sigmoid). Volume rendering composites the samples of
each ray: α_i = 1 − exp(−σ_i δ_i), T_i = Π_{j<i}(1 − α_j), C = Σ_i T_i α_i c_i.

`rays` rays with `samples` points each (the paper: 64 coarse + 128 fine per ray; one network is
modelled: run it twice for the hierarchical scheme). Ops: 2 encodings, 8 + 4 GEMMs, 2 concats,
the compositing weights (elementwise) and the weighted sum over samples (reduction).
"""
from __future__ import annotations

from archsim.graph import Graph, GraphBuilder, register_workload

from workloads._common import check_layers, check_positive

WIDTH, SKIP_AT = 256, 4   # layer index (0-based) whose input gets the skip concat


@register_workload("nerf", "NeRF MLP (8 x 256 with skip, positional encoding L=10/4) and "
                           "volume rendering over samples per ray")
def nerf(rays: int = 4096, samples: int = 64, dtype: str = "bf16", layers: int = 8,
         pos_freqs: int = 10, dir_freqs: int = 4, mlp_only: bool = False) -> Graph:
    """mlp_only=True: the network module alone, as nerf-pytorch's `NeRF.forward` (the graph the
    Kitsune paper's 24-op count fits): the encoded points and directions are inputs, the
    density and colour heads have no activation (the renderer applies them) and the result is
    concat([rgb, sigma]); no positional encoding, no volume rendering."""
    check_positive(rays=rays, samples=samples)
    check_layers(layers, 8)
    n = rays * samples
    b = GraphBuilder("nerf", dtype, {"family": "mlp", "rays": rays, "samples": samples,
                                     "layers": layers})
    if mlp_only:
        gp = b.input("encoded_points", (n, 3 + 6 * pos_freqs))
        gd = b.input("encoded_dirs", (n, 3 + 6 * dir_freqs))
    else:
        pos = b.input("points", (n, 3))
        dirs = b.input("view_dirs", (n, 3))   # each ray's direction, repeated per sample
        gp = b._emit("elementwise", (pos,), (n, 3 + 6 * pos_freqs), dtype, "encode_points",
                     fn="posenc")
        gd = b._emit("elementwise", (dirs,), (n, 3 + 6 * dir_freqs), dtype, "encode_dirs",
                     fn="posenc")
    h = gp
    for i in range(layers):
        if i == SKIP_AT:
            h = b.concat([gp, h], axis=1, name="skip")
        h = b.linear(h, WIDTH, name=f"fc{i}", epilogue="relu")
    sigma = b.linear(h, 1, name="sigma", epilogue=None if mlp_only else "relu")
    feat = b.linear(h, WIDTH, name="feature")
    h = b.linear(b.concat([feat, gd], axis=1, name="dir_concat"), WIDTH // 2, name="fc_dir",
                 epilogue="relu")
    rgb = b.linear(h, 3, name="rgb", epilogue=None if mlp_only else "sigmoid")
    if mlp_only:
        b.concat([rgb, sigma], axis=1, name="outputs")
        return b.build()
    with b.scope("render"):
        deltas = b.input("deltas", (rays, samples, 1), "fp32")
        s = b.view(sigma, (rays, samples, 1), name="sigma_rays")
        c = b.view(rgb, (rays, samples, 3), name="rgb_rays")
        # alpha, exclusive cumulative transmittance and weight per sample, times colour
        w = b._emit("elementwise", (s, c, deltas), (rays, samples, 3), dtype, "weights",
                    fn="volume_render")
        b.reduce(w, axes=1, fn="sum", name="composite")
    return b.build()
