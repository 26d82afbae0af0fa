"""ONNX models as archsim Graphs: `from_onnx(path_or_model, dims=None)`.

Shapes come from onnx.shape_inference; symbolic dimensions (e.g. 'batch') must be bound with
`dims={'batch': 8}` (an error names the unbound ones). Initializers become parameters (role
"param"); other graph inputs are inputs (or indices when integer). Shape computations
(Shape, Constant, Range, ConstantOfShape, ... and anything fed only by them) are constant-
folded away: they move no tensor data at run time.
"""
from __future__ import annotations

import math
from collections.abc import Mapping

from archsim.errors import UserError
from archsim.graph.graph import Graph
from archsim.graph.tensor import TensorSpec
from archsim.trace.importers._common import (ELEMENTWISE_FNS, Assembler, conv_attrs,
                                             conv_transpose_attrs, matmul_attrs)

# onnx.TensorProto.DataType -> ours
_DTYPES = {1: "fp32", 2: "uint8", 3: "int8", 5: "int16", 6: "int32", 7: "int64", 9: "bool",
           10: "fp16", 11: "fp64", 12: "int32", 13: "int64", 16: "bf16", 4: "int16",
           17: "fp8", 18: "fp8", 19: "fp8", 20: "fp8"}
_INT = {"uint8", "int8", "int16", "int32", "int64", "bool"}

# operators that only compute shapes or constants: folded away
_CONSTANT_OPS = {"Shape", "Constant", "ConstantOfShape", "Range", "Size", "NonZero",
                 "EyeLike", "RandomNormal", "RandomUniform", "RandomNormalLike",
                 "RandomUniformLike"}
_VIEW_OPS = {"Reshape", "Flatten", "Squeeze", "Unsqueeze", "Identity", "Slice", "Expand",
             "Split", "Dropout"}
_REDUCE_OPS = {"ReduceMean": "mean", "ReduceSum": "sum", "ReduceMax": "max", "ReduceMin": "min",
               "ReduceL2": "sum", "ReduceProd": "sum", "ReduceSumSquare": "sum",
               "ReduceLogSumExp": "sum", "ArgMax": "max", "ArgMin": "min"}


def _require_onnx():
    try:
        import onnx
        import onnx.shape_inference  # noqa: F401
    except ImportError:
        raise UserError("the ONNX importer needs the 'onnx' package: pip install "
                        "'archsim[onnx]'") from None
    return onnx


def _attr(node, name, default=None):
    import onnx
    for a in node.attribute:
        if a.name == name:
            return onnx.helper.get_attribute_value(a)
    return default


def from_onnx(model, dims: Mapping[str, int] | None = None, name: str | None = None,
              unknown: str = "error") -> Graph:
    """An ONNX model (a path or an onnx.ModelProto) as a Graph.

    dims: values for symbolic dimensions; unknown: "error" (default: a UserError listing the
    operators with no mapping) or "elementwise" (each becomes an elementwise op with fn
    'onnx:<OpType>', flops one per output element, attrs["unmapped"] = True).
    """
    onnx = _require_onnx()
    if unknown not in ("error", "elementwise"):
        raise UserError(f"from_onnx: unknown must be 'error' or 'elementwise', got {unknown!r}")
    if not isinstance(model, onnx.ModelProto):
        try:
            model = onnx.load(str(model))
        except Exception as exc:  # OSError, protobuf DecodeError, onnx's own errors
            raise UserError(f"from_onnx: cannot load {model!r}: {exc}") from None
    model = _bind_dims(onnx, model, dict(dims or {}))
    try:
        model = onnx.shape_inference.infer_shapes(model, strict_mode=False, data_prop=True)
    except Exception as exc:  # onnx raises several private error types
        raise UserError(f"from_onnx: shape inference failed: {exc}") from None
    return _Importer(model, dict(dims or {}), name, unknown).run()


def _bind_dims(onnx, model, dims: dict):
    """A copy of `model` whose graph inputs have their symbolic dimensions set from `dims`, so
    that shape inference propagates numbers (not fresh symbols) through Reshape and friends."""
    model = onnx.ModelProto.FromString(model.SerializeToString())
    inits = {t.name for t in model.graph.initializer}
    unbound = set()
    for vi in model.graph.input:
        if vi.name in inits or not vi.type.HasField("tensor_type"):
            continue
        for d in vi.type.tensor_type.shape.dim:
            if not d.HasField("dim_value"):
                if d.dim_param in dims:
                    d.dim_value = int(dims[d.dim_param])
                else:
                    unbound.add(d.dim_param or "?")
    if unbound:
        raise UserError(f"from_onnx: the model's inputs have symbolic dimension(s) "
                        f"{', '.join(sorted(unbound))}; bind them with dims={{name: size}}")
    return model


class _Importer:
    def __init__(self, model, dims: dict, name: str | None, unknown: str):
        self.model, self.dims, self.unknown = model, dims, unknown
        g = model.graph
        self.asm = Assembler(name or g.name or "onnx", {"source": "onnx",
                                                        "opset": [o.version for o in
                                                                  model.opset_import]})
        self.info = {}
        for vi in list(g.input) + list(g.value_info) + list(g.output):
            self.info[vi.name] = vi
        self.init = {t.name: t for t in g.initializer}
        self.constant: set[str] = set()   # folded tensors (shape arithmetic, constants)
        self.const_values = {}            # small integer constants (Reshape targets, axes)

    # ---- tensors ------------------------------------------------------------------------
    def spec(self, tname: str, role: str = "activation") -> TensorSpec:
        if tname in self.asm.tensors:
            return self.asm.tensors[tname]
        if tname in self.init:
            t = self.init[tname]
            dtype = _DTYPES.get(t.data_type, "fp32")
            shape = tuple(int(d) for d in t.dims)
            role = "param" if dtype not in _INT else "index"
        else:
            vi = self.info.get(tname)
            if vi is None or not vi.type.HasField("tensor_type"):
                raise UserError(f"from_onnx: no shape for tensor {tname!r} (shape inference "
                                f"could not determine it)")
            tt = vi.type.tensor_type
            dtype = _DTYPES.get(tt.elem_type, "fp32")
            shape = []
            for d in tt.shape.dim:
                if d.HasField("dim_value"):
                    shape.append(int(d.dim_value))
                elif d.dim_param and d.dim_param in self.dims:
                    shape.append(int(self.dims[d.dim_param]))
                else:
                    sym = d.dim_param or "?"
                    raise UserError(f"from_onnx: tensor {tname!r} has symbolic dimension "
                                    f"{sym!r}; bind it with dims={{'{sym}': N}}")
            shape = tuple(shape)
            if role == "input" and dtype in _INT:
                role = "index"
        spec = TensorSpec(tname, shape, dtype, role)
        self.asm.tensors[tname] = spec
        return spec

    # ---- the walk -----------------------------------------------------------------------
    def run(self) -> Graph:
        g = self.model.graph
        for vi in g.input:
            if vi.name not in self.init:
                self.spec(vi.name, "input")
        nodes = list(g.node)
        unmapped = sorted({n.op_type for n in nodes if not self._known(n.op_type)})
        if unmapped and self.unknown == "error":
            raise UserError(f"from_onnx: no mapping for operator(s) {', '.join(unmapped)}; "
                            f"pass unknown='elementwise' to import them as labelled "
                            f"elementwise ops")
        for i, node in enumerate(nodes):
            data_in = [t for t in node.input if t and t not in self.constant]
            folded = node.op_type in _CONSTANT_OPS or all(
                t in self.init and _DTYPES.get(self.init[t].data_type) in _INT for t in data_in)
            if folded:  # computes shapes or constants only
                self.constant.update(t for t in node.output if t)
                continue
            self.emit(node, i)
        return self.asm.graph

    def _known(self, op_type: str) -> bool:
        return (op_type in _CONSTANT_OPS or op_type in _VIEW_OPS or op_type in _REDUCE_OPS
                or op_type.lower() in ELEMENTWISE_FNS or hasattr(self, f"op_{op_type}"))

    def ins(self, node) -> list[TensorSpec]:
        return [self.spec(t) for t in node.input if t and t not in self.constant]

    def outs(self, node) -> list[TensorSpec]:
        return [self.spec(t) for t in node.output if t]

    def emit(self, node, i: int) -> None:
        name = node.name or f"{node.op_type}_{i}"
        op_type = node.op_type
        handler = getattr(self, f"op_{op_type}", None)
        if handler is not None:
            handler(node, name)
        elif op_type in _VIEW_OPS:
            self.asm.add(name, "view", self.ins(node)[:1], self.outs(node), onnx_op=op_type)
        elif op_type in _REDUCE_OPS:
            x = self.ins(node)[0]
            axes = _attr(node, "axes") or _attr(node, "axis")
            self.asm.add(name, "reduction", [x], self.outs(node)[:1], fn=_REDUCE_OPS[op_type],
                         axes=tuple(axes) if isinstance(axes, (list, tuple)) else axes,
                         onnx_op=op_type)
        elif op_type.lower() in ELEMENTWISE_FNS:
            self.asm.add(name, "elementwise", self.ins(node), self.outs(node)[:1],
                         fn=ELEMENTWISE_FNS[op_type.lower()], onnx_op=op_type)
        else:
            self.asm.add(name, "elementwise", self.ins(node), self.outs(node),
                         fn=f"onnx:{op_type}", unmapped=True, onnx_op=op_type)

    # ---- operators with their own shape arithmetic -------------------------------------
    def op_MatMul(self, node, name):
        a, b = self.ins(node)
        attrs, _ = matmul_attrs(a.shape, b.shape)
        self.asm.add(name, "gemm", [a, b], self.outs(node), onnx_op="MatMul", **attrs)

    def op_Gemm(self, node, name):
        ins = self.ins(node)
        a, b = ins[:2]
        ta, tb = _attr(node, "transA", 0), _attr(node, "transB", 0)
        M, K = (a.shape[1], a.shape[0]) if ta else a.shape
        N = b.shape[0] if tb else b.shape[1]
        attrs = {"M": M, "N": N, "K": K, "batch": 1, "transA": bool(ta), "transB": bool(tb)}
        if len(ins) > 2:
            attrs["epilogue"] = "bias_add"
        self.asm.add(name, "gemm", ins, self.outs(node), onnx_op="Gemm", **attrs)

    def op_Conv(self, node, name):
        ins = self.ins(node)
        y = self.outs(node)[0]
        x, w = ins[:2]
        pads = _attr(node, "pads") or [0]
        kind, attrs = conv_attrs(x.shape, w.shape, y.shape, _attr(node, "strides") or [1],
                                 pads, int(_attr(node, "group", 1)))
        self.asm.add(name, kind, ins, [y], onnx_op="Conv", **attrs)

    def op_ConvTranspose(self, node, name):
        ins = self.ins(node)
        x, w = ins[:2]
        attrs = conv_transpose_attrs(x.shape, w.shape, int(_attr(node, "group", 1)))
        self.asm.add(name, "gemm", ins, self.outs(node), onnx_op="ConvTranspose", **attrs)

    def op_Softmax(self, node, name):
        x = self.ins(node)[0]
        self.asm.add(name, "softmax", [x], self.outs(node), rows=math.prod(x.shape[:-1]),
                     cols=x.shape[-1] if x.shape else 1, onnx_op=node.op_type)

    op_LogSoftmax = op_Softmax

    def op_LayerNormalization(self, node, name, rms: bool = False):
        ins = self.ins(node)
        x = ins[0]
        self.asm.add(name, "layernorm", ins, self.outs(node)[:1], rms=rms,
                     rows=math.prod(x.shape[:-1]), cols=x.shape[-1], onnx_op=node.op_type)

    def op_SimplifiedLayerNormalization(self, node, name):
        self.op_LayerNormalization(node, name, rms=True)

    op_RMSNormalization = op_SimplifiedLayerNormalization

    def op_InstanceNormalization(self, node, name):
        ins = self.ins(node)
        x = ins[0]
        self.asm.add(name, "layernorm", ins, self.outs(node)[:1], rms=False,
                     rows=x.shape[0] * x.shape[1], cols=math.prod(x.shape[2:]),
                     onnx_op="InstanceNormalization")

    def op_Gather(self, node, name):
        table = self.spec(node.input[0])
        idx = self.spec(node.input[1]) if node.input[1] not in self.constant else \
            TensorSpec(node.input[1], (), "int64", "index")
        y = self.outs(node)[0]
        axis = int(_attr(node, "axis", 0))
        if idx.name in self.constant or idx.name in self.init:  # constant indices: a slice
            self.asm.add(name, "view", [table], [y], onnx_op="Gather")
            return
        self.asm.add(name, "gather", [table, idx], [y], rows=table.shape[axis] if table.shape
                     else 1, n=idx.numel, dim=y.numel // max(idx.numel, 1), axis=axis,
                     onnx_op="Gather")

    def op_Transpose(self, node, name):
        x = self.ins(node)[0]
        perm = _attr(node, "perm") or list(reversed(range(len(x.shape))))
        self.asm.add(name, "transpose", [x], self.outs(node), perm=tuple(perm),
                     onnx_op="Transpose")

    def op_Concat(self, node, name):
        self.asm.add(name, "concat", self.ins(node), self.outs(node),
                     axis=int(_attr(node, "axis", 0)), onnx_op="Concat")

    def _pool(self, node, name, fn):
        x = self.ins(node)[0]
        y = self.outs(node)[0]
        ks = _attr(node, "kernel_shape") or list(x.shape[2:])
        strides = _attr(node, "strides") or [1]
        self.asm.add(name, "pool", [x], [y], fn=fn, R=int(ks[0]),
                     S=int(ks[1]) if len(ks) > 1 else 1, stride=int(strides[0]),
                     onnx_op=node.op_type)

    def op_MaxPool(self, node, name):
        self._pool(node, name, "max")

    def op_AveragePool(self, node, name):
        self._pool(node, name, "avg")

    def op_GlobalAveragePool(self, node, name):
        self._pool(node, name, "avg")

    def op_GlobalMaxPool(self, node, name):
        self._pool(node, name, "max")

    def op_ScatterElements(self, node, name):
        data, idx, upd = [self.spec(t) for t in node.input[:3]]
        self.asm.add(name, "scatter_add", [data, upd, idx], self.outs(node),
                     rows=data.shape[0], n=idx.numel, dim=upd.numel // max(idx.numel, 1),
                     onnx_op=node.op_type)

    op_ScatterND = op_ScatterElements
