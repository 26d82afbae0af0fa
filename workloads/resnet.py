"""ResNet-50 v1.5 (MLPerf image classification), NHWC.

Published architecture: He et al., "Deep Residual Learning for Image Recognition", CVPR 2016,
Table 1 (50-layer: conv1 7x7/2 64, 3x3/2 max pool, bottleneck stages [3, 4, 6, 3] with widths
64/128/256/512 expanded 4x, global average pool, 1000-way FC). v1.5 (the MLPerf and torchvision
model) puts the stride-2 of each downsampling block on the 3x3 conv instead of the first 1x1:
≈ 4.1 GMAC per 224² image (v1: 3.8). Inference folds batch norm into the conv (a bias); ReLU
and the residual add are separate elementwise ops, as eager frameworks run them.

`stage_blocks` runs fewer blocks per stage (e.g. (1, 1, 1, 1)) when one block of each shape is
enough.
"""
from __future__ import annotations

from archsim.graph import Graph, GraphBuilder, TensorSpec, register_workload

from workloads._common import check_positive


def bottleneck(b: GraphBuilder, x: TensorSpec, planes: int, stride: int,
               downsample: bool) -> TensorSpec:
    h = b.relu(b.conv2d(x, planes, 1, bias=True, name="conv1"), name="relu1")
    h = b.relu(b.conv2d(h, planes, 3, stride=stride, bias=True, name="conv2"), name="relu2")
    h = b.conv2d(h, planes * 4, 1, bias=True, name="conv3")
    sc = b.conv2d(x, planes * 4, 1, stride=stride, bias=True, name="downsample") \
        if downsample else x
    return b.relu(b.add(h, sc, name="residual"), name="relu3")


def basic_block(b: GraphBuilder, x: TensorSpec, planes: int, stride: int,
                downsample: bool) -> TensorSpec:
    """The two-3x3 block of ResNet-18/34."""
    h = b.relu(b.conv2d(x, planes, 3, stride=stride, bias=True, name="conv1"), name="relu1")
    h = b.conv2d(h, planes, 3, bias=True, name="conv2")
    sc = b.conv2d(x, planes, 1, stride=stride, bias=True, name="downsample") \
        if downsample else x
    return b.relu(b.add(h, sc, name="residual"), name="relu2")


def stem(b: GraphBuilder, x: TensorSpec) -> TensorSpec:
    x = b.relu(b.conv2d(x, 64, 7, stride=2, bias=True, name="conv1"), name="relu")
    return b.pool(x, 3, 2, pad=1, name="maxpool")


@register_workload("resnet50", "ResNet-50 v1.5 image classifier (bottlenecks 3-4-6-3), NHWC")
def resnet50(batch: int = 32, image: int = 224, dtype: str = "bf16", classes: int = 1000,
             stage_blocks: tuple = (3, 4, 6, 3)) -> Graph:
    check_positive(batch=batch, image=image, classes=classes)
    b = GraphBuilder("resnet50", dtype, {"family": "cnn", "batch": batch, "image": image})
    x = stem(b, b.input("image", (batch, image, image, 3)))
    inplanes = 64
    for s, (planes, blocks) in enumerate(zip((64, 128, 256, 512), stage_blocks)):
        for i in range(blocks):
            with b.scope(f"layer{s + 1}.{i}"):
                stride = 2 if (i == 0 and s > 0) else 1
                x = bottleneck(b, x, planes, stride, downsample=(i == 0))
        inplanes = planes * 4
    N, H, W, C = x.shape
    x = b.pool(x, H, 1, fn="avg", name="avgpool")
    x = b.view(x, (batch, C), name="flatten")
    b.linear(x, classes, name="fc")
    return b.build()
