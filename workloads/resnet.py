"""ResNet-50 v1.5 (MLPerf image classification), NHWC.

Published architecture: He et al., "Deep Residual Learning for Image Recognition", CVPR 2016,
Table 1 (50-layer: conv1 7x7/2 64, 3x3/2 max pool, bottleneck stages [3, 4, 6, 3] with widths
64/128/256/512 expanded 4x, global average pool, 1000-way FC). v1.5 (the MLPerf and torchvision
model) puts the stride-2 of each downsampling block on the 3x3 conv instead of the first 1x1:
≈ 4.1 GMAC per 224² image (v1: 3.8). ReLU and the residual add are separate elementwise ops, as
eager frameworks run them. Batch norm, `bn=`:
- 'eager' (default): as eager PyTorch runs a BatchNorm2d in inference on channels-last bf16 —
  three kernels: a cast of the per-channel statistics, a per-channel scale/shift computation,
  and the transform of the activation (one read, one write);
- 'folded': folded into the convolution as a bias, as inference compilers (TensorRT, torch.compile
  with freezing) do.

`stage_blocks` runs fewer blocks per stage (e.g. (1, 1, 1, 1)) when one block of each shape is
enough.
"""
from __future__ import annotations

from archsim.graph import Graph, GraphBuilder, TensorSpec, register_workload

from workloads._common import check_positive


BN_MODES = ("eager", "folded")


def conv_bn(b: GraphBuilder, x: TensorSpec, out_channels: int, kernel: int, stride: int = 1,
            name: str = "conv", bn: str = "eager") -> TensorSpec:
    """A convolution followed by inference batch norm (see the module doc for `bn`)."""
    if bn not in BN_MODES:
        raise ValueError(f"bn must be one of {BN_MODES}, found {bn!r}")
    if bn == "folded":
        return b.conv2d(x, out_channels, kernel, stride=stride, bias=True, name=name)
    y = b.conv2d(x, out_channels, kernel, stride=stride, bias=False, name=name)
    return batch_norm(b, y, f"{name}.bn")


def batch_norm(b: GraphBuilder, y: TensorSpec, name: str = "bn") -> TensorSpec:
    """Eager BatchNorm2d of a channels-last activation (the module doc's 'eager' kernels). A
    training graph (archsim.graph.training) runs it in training mode: the batch's statistics
    first, and its own backward."""
    C = y.shape[-1]
    with b.scope(name):
        stats = b.param("running_stats", (4, C), "fp32")  # mean, var, weight, bias
    stats = b.copy(stats, dtype=y.dtype, name=f"{name}.cast")
    coeffs = b.elementwise("bn_prep", b.view(stats, (4, C)), name=f"{name}.prep")
    scale = b.view(coeffs, (C,), name=f"{name}.scale")
    shift = b.view(coeffs, (C,), name=f"{name}.shift")
    return b.elementwise("batchnorm", y, scale, shift, name=name)


def bottleneck(b: GraphBuilder, x: TensorSpec, planes: int, stride: int,
               downsample: bool, bn: str = "eager") -> TensorSpec:
    h = b.relu(conv_bn(b, x, planes, 1, name="conv1", bn=bn), name="relu1")
    h = b.relu(conv_bn(b, h, planes, 3, stride=stride, name="conv2", bn=bn), name="relu2")
    h = conv_bn(b, h, planes * 4, 1, name="conv3", bn=bn)
    sc = conv_bn(b, x, planes * 4, 1, stride=stride, name="downsample", bn=bn) \
        if downsample else x
    return b.relu(b.add(h, sc, name="residual"), name="relu3")


def basic_block(b: GraphBuilder, x: TensorSpec, planes: int, stride: int,
                downsample: bool, bn: str = "eager") -> TensorSpec:
    """The two-3x3 block of ResNet-18/34."""
    h = b.relu(conv_bn(b, x, planes, 3, stride=stride, name="conv1", bn=bn), name="relu1")
    h = conv_bn(b, h, planes, 3, name="conv2", bn=bn)
    sc = conv_bn(b, x, planes, 1, stride=stride, name="downsample", bn=bn) \
        if downsample else x
    return b.relu(b.add(h, sc, name="residual"), name="relu2")


def stem(b: GraphBuilder, x: TensorSpec, bn: str = "eager") -> TensorSpec:
    x = b.relu(conv_bn(b, x, 64, 7, stride=2, name="conv1", bn=bn), name="relu")
    return b.pool(x, 3, 2, pad=1, name="maxpool")


@register_workload("resnet50", "ResNet-50 v1.5 image classifier (bottlenecks 3-4-6-3), NHWC")
def resnet50(batch: int = 32, image: int = 224, dtype: str = "bf16", classes: int = 1000,
             stage_blocks: tuple = (3, 4, 6, 3), bn: str = "eager") -> Graph:
    check_positive(batch=batch, image=image, classes=classes)
    b = GraphBuilder("resnet50", dtype, {"family": "cnn", "batch": batch, "image": image})
    x = stem(b, b.input("image", (batch, image, image, 3)), bn)
    inplanes = 64
    for s, (planes, blocks) in enumerate(zip((64, 128, 256, 512), stage_blocks)):
        for i in range(blocks):
            with b.scope(f"layer{s + 1}.{i}"):
                stride = 2 if (i == 0 and s > 0) else 1
                x = bottleneck(b, x, planes, stride, downsample=(i == 0), bn=bn)
        inplanes = planes * 4
    N, H, W, C = x.shape
    x = b.pool(x, H, 1, fn="avg", name="avgpool")
    x = b.view(x, (batch, C), name="flatten")
    b.linear(x, classes, name="fc")
    return b.build()
