"""SSD-ResNet34 (MLPerf object detection, "SSD-large"), NHWC.

Published architecture: Liu et al., "SSD: Single Shot MultiBox Detector", ECCV 2016, with the
ResNet-34 backbone of the MLPerf reference (mlcommons/inference, vision/classification_and_
detection/python/models/ssd_r34.py; MLPerf training v0.6 single_stage_detector):
- backbone: ResNet-34 (He et al. 2016) conv1 .. layer3, layer3's first block at stride 1
  (256 channels at 1/8 resolution);
- five extra blocks (1x1 conv to 256/256/128/128/128, then 3x3 conv to 512/512/256/256/256) with
  strides [2, 2, 2, 2, 1] at 1200² and [2, 2, 2, 1, 1] at 300² (the last two unpadded);
- per feature map, a 3x3 location conv (4 · defaults) and a 3x3 class conv (81 · defaults),
  defaults per map [4, 6, 6, 6, 4, 4]; at 1200² these head convs run at stride 3, giving maps of
  50, 25, 13, 7, 3, 3 (15,130 boxes); at 300² (training) stride 1: 38, 19, 10, 5, 3, 1 (8,732).
Batch norm folded into convs (inference). Box decoding and NMS are post-processing (not modelled).
"""
from __future__ import annotations

from archsim.graph import Graph, GraphBuilder, register_workload

from workloads._common import check_positive
from workloads.resnet import basic_block, stem


@register_workload("ssd-resnet34", "SSD with a ResNet-34 backbone (MLPerf SSD-large; 1200² "
                                   "inference, 300² training)")
def ssd_resnet34(batch: int = 1, image: int = 1200, dtype: str = "bf16",
                 classes: int = 81) -> Graph:
    check_positive(batch=batch, image=image, classes=classes)
    head_stride, extra_strides = (3, (2, 2, 2, 2, 1)) if image >= 600 else (1, (2, 2, 2, 1, 1))
    b = GraphBuilder("ssd-resnet34", dtype, {"family": "cnn", "batch": batch, "image": image})
    x = stem(b, b.input("image", (batch, image, image, 3)))
    for s, (planes, blocks) in enumerate(zip((64, 128, 256), (3, 4, 6))):
        for i in range(blocks):
            with b.scope(f"layer{s + 1}.{i}"):
                stride = 2 if (i == 0 and s == 1) else 1   # layer3 keeps stride 1 (MLPerf)
                x = basic_block(b, x, planes, stride, downsample=(i == 0 and s > 0))
    feats = [x]
    extra = ((256, 512), (256, 512), (128, 256), (128, 256), (128, 256))
    for j, ((mid, out), stride) in enumerate(zip(extra, extra_strides)):
        with b.scope(f"extra{j}"):
            h = b.relu(b.conv2d(x, mid, 1, bias=True, name="conv1"), name="relu1")
            pad = 1 if j < 3 else 0
            x = b.relu(b.conv2d(h, out, 3, stride=stride, pad=pad, bias=True, name="conv2"),
                       name="relu2")
        feats.append(x)
    locs, confs = [], []
    for j, (f, nd) in enumerate(zip(feats, (4, 6, 6, 6, 4, 4))):
        with b.scope(f"head{j}"):
            loc = b.conv2d(f, nd * 4, 3, stride=head_stride, bias=True, name="loc")
            conf = b.conv2d(f, nd * classes, 3, stride=head_stride, bias=True, name="conf")
        locs.append(b.view(loc, (batch, loc.numel // (batch * 4), 4), name=f"head{j}.loc_view"))
        confs.append(b.view(conf, (batch, conf.numel // (batch * classes), classes),
                            name=f"head{j}.conf_view"))
    b.concat(locs, axis=1, name="locs")
    b.concat(confs, axis=1, name="confs")
    return b.build()
