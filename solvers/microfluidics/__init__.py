"""Flow sculpting: a physics-shaped surrogate forward model of pillar-induced cross-section
deformation (NOT Navier–Stokes results), and numpy inverse design (CNN + stacked autoencoder).

Never imports archsim. See README.md.
"""
from .cnn import (FLOW_CNN_ARCH, Adam, FlowCNN, StackedAutoencoder, cnn_inference,
                  cnn_train_step, softmax_xent)
from .flow import (Grid, Pillar, PillarLibrary, apply_map, compose, continuous_pullback,
                   inertia_strength, inlet_stream, pillar_map, pixel_match_rate, stream_iou)
from .inverse import (design, greedy_search, make_dataset, rebuild, run_inverse_design,
                      train_cnn, train_sae)

__all__ = [
    "FLOW_CNN_ARCH", "Adam", "FlowCNN", "StackedAutoencoder", "cnn_inference",
    "cnn_train_step", "softmax_xent", "Grid", "Pillar", "PillarLibrary", "apply_map",
    "compose", "continuous_pullback", "inertia_strength", "inlet_stream", "pillar_map",
    "pixel_match_rate", "stream_iou", "design", "greedy_search", "make_dataset", "rebuild",
    "run_inverse_design", "train_cnn", "train_sae",
]
