"""flow-cnn: the microfluidic flow-sculpting next-pillar CNN.

Published work: Stoecklein et al., "Deep Learning for Flow Sculpting: Insights into Efficient
Learning using Scientific Simulation Data", Scientific Reports 7, 46368 (2017), arXiv
1605.05368: a CNN that reads a target flow shape and predicts the next pillar of the sequence.
Its layer sizes are not published in reachable material (papers.md §5); the network simulated
here is the one the solvers implement, read from `solvers.microfluidics.cnn.FLOW_CNN_ARCH`
(a layer list as plain data: input, conv2d, relu, maxpool2d, flatten, dense, softmax), so the
workload and the numpy model cannot drift apart. Only the batch size is scaled.
"""
from __future__ import annotations

from archsim.errors import WorkloadError
from archsim.graph import Graph, GraphBuilder, register_workload

from workloads._common import check_positive


def _arch() -> list[dict]:
    try:
        from solvers.microfluidics.cnn import FLOW_CNN_ARCH
    except ImportError as exc:
        raise WorkloadError(f"flow-cnn: cannot import solvers.microfluidics.cnn.FLOW_CNN_ARCH "
                            f"({exc})") from None
    return FLOW_CNN_ARCH


@register_workload("flow-cnn", "microfluidic flow-sculpting next-pillar CNN (layers from "
                               "solvers.microfluidics.cnn.FLOW_CNN_ARCH)")
def flow_cnn(batch: int = 256, dtype: str = "bf16") -> Graph:
    check_positive(batch=batch)
    b = GraphBuilder("flow-cnn", dtype, {"family": "cnn", "batch": batch})
    x = None
    for i, layer in enumerate(_arch()):
        kind = layer["op"]
        name = f"{kind}{i}"
        if kind == "input":
            x = b.input("image", (batch, *layer["shape"][1:]))
        elif kind == "conv2d":
            kernel = tuple(layer["kernel"])
            x = b.conv2d(x, layer["out_channels"], kernel, stride=layer.get("stride", 1),
                         pad=layer.get("padding", 0), bias=layer.get("bias", True), name=name)
        elif kind in ("relu", "sigmoid", "tanh", "gelu", "silu"):
            x = b.elementwise(kind, x, name=name)
        elif kind in ("maxpool2d", "avgpool2d"):
            k = layer["kernel"]
            k = k[0] if isinstance(k, (list, tuple)) else k
            x = b.pool(x, k, layer.get("stride", k), fn=kind[:3], name=name)
        elif kind == "flatten":
            x = b.view(x, (batch, x.numel // batch), name=name)
        elif kind == "dense":
            if x.shape[-1] != layer["in_features"]:
                raise WorkloadError(f"flow-cnn: layer {i} expects {layer['in_features']} "
                                    f"inputs, got {x.shape}")
            x = b.linear(x, layer["out_features"], name=name)
        elif kind == "softmax":
            x = b.softmax(x, name=name)
        else:
            raise WorkloadError(f"flow-cnn: layer {i} has op {kind!r}, which this builder does "
                                f"not know")
    return b.build()
