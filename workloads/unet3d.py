"""3D U-Net for KiTS19 kidney-tumour segmentation (MLPerf image segmentation), NDHWC.

Published architecture: Çiçek et al., "3D U-Net", MICCAI 2016, in the nnU-Net-style
configuration of the MLPerf reference (mlcommons/training, image_segmentation/pytorch/model/
unet3d.py): filters [32, 64, 128, 256, 320]; an input block of two 3³ convs to 32 channels;
four downsampling blocks (3³ conv stride 2, then 3³ conv) to 64/128/256/320; a 320-channel
bottleneck block at stride 2; five upsampling blocks (2³ transposed conv stride 2, concat with
the skip, two 3³ convs) back to 32 channels; a 1³ conv to 3 classes. Every conv is followed by
instance norm and ReLU. Inputs are 128³ patches of one channel (the sliding-window size of
MLPerf inference).

Convolutions are `conv3d` ops (an implicit GEMM with M = N·Z·P·Q, N = K, K = C·T·R·S). A
transposed conv with kernel = stride = 2 is exactly a GEMM [N·D·H·W, C] x [C, 8·K] followed
by a reshuffle of its output into the 2x larger volume (modelled as a view). Instance norm is a
`layernorm` op over each channel's voxels.
"""
from __future__ import annotations

import math

from archsim.graph import Graph, GraphBuilder, TensorSpec, register_workload

from workloads._common import check_positive

FILTERS = (32, 64, 128, 256, 320)


def _instnorm(b: GraphBuilder, x: TensorSpec, name: str) -> TensorSpec:
    N, C = x.shape[0], x.shape[-1]
    with b.scope(name):
        params = (b.param("weight", (C,)), b.param("bias", (C,)))
    return b._emit("layernorm", (x, *params), x.shape, x.dtype, name,
                   rows=N * C, cols=math.prod(x.shape[1:-1]), rms=False, instance=True)


def _conv_block(b: GraphBuilder, x: TensorSpec, out: int, stride: int, name: str) -> TensorSpec:
    with b.scope(name):
        h = b.conv3d(x, out, 3, stride=stride, name="conv")
        return b.relu(_instnorm(b, h, "norm"), name="relu")


@register_workload("unet3d", "3D U-Net (MLPerf KiTS19) on 128³ one-channel patches, NDHWC")
def unet3d(batch: int = 1, size: int = 128, dtype: str = "bf16", classes: int = 3) -> Graph:
    check_positive(batch=batch, size=size, classes=classes)
    b = GraphBuilder("unet3d", dtype, {"family": "cnn", "batch": batch, "size": size})
    x = b.input("image", (batch, size, size, size, 1))
    with b.scope("input_block"):
        x = _conv_block(b, x, FILTERS[0], 1, "conv1")
        x = _conv_block(b, x, FILTERS[0], 1, "conv2")
    skips = [x]
    for i, out in enumerate(FILTERS[1:] + (FILTERS[-1],)):
        with b.scope("bottleneck" if i == len(FILTERS) - 1 else f"down{i}"):
            x = _conv_block(b, x, out, 2, "conv1")
            x = _conv_block(b, x, out, 1, "conv2")
        skips.append(x)
    skips.pop()  # the bottleneck output is x itself
    for i, out in enumerate(reversed(FILTERS)):
        with b.scope(f"up{i}"):
            N, D, H, W, C = x.shape
            rows = b.view(x, (N * D * H * W, C), name="flatten")
            up = b.linear(rows, 8 * out, name="transpose_conv")
            up = b.view(up, (N, 2 * D, 2 * H, 2 * W, out), name="unshuffle")
            x = b.concat([up, skips.pop()], axis=-1, name="concat")
            x = _conv_block(b, x, out, 1, "conv1")
            x = _conv_block(b, x, out, 1, "conv2")
    b.conv3d(x, classes, 1, bias=True, name="output")
    return b.build()
