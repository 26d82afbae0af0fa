"""Importers: real models from other frameworks as archsim Graphs (optional extras).

- `from_onnx(path_or_model, dims=None)` — an ONNX model, shapes from onnx.shape_inference
  (extra: `pip install archsim[onnx]`);
- `from_torch(module, example_shapes)` — a torch.nn.Module through torch.export on the meta
  device: no weights are materialised, nothing is downloaded (extra: `archsim[torch]`).

Both import their framework lazily and raise a UserError naming the extra when it is absent.
Operators map onto archsim's op kinds (MatMul/Gemm/linear -> gemm, Conv -> conv2d/conv3d,
Softmax -> softmax, LayerNormalization -> layernorm, Gather/embedding -> gather, ...);
operators with no mapping are an error listing all of them, or, with unknown="elementwise",
elementwise ops whose fn is 'onnx:<OpType>' / 'aten:<name>' (attrs["unmapped"] = True).
"""
from archsim.trace.importers.onnx import from_onnx
from archsim.trace.importers.torch_export import from_torch

__all__ = ["from_onnx", "from_torch"]
