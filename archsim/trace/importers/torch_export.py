"""PyTorch modules as archsim Graphs: `from_torch(module, example_shapes)`.

The module is exported with torch.export, which traces it with fake tensors: shapes and dtypes
come from the trace, no kernel runs and nothing is downloaded. Build the module on the meta
device (`with torch.device("meta"): model = Model(config)`) and no weight is ever allocated;
the example inputs are then meta tensors too. A module with real weights works as well and is
left untouched (its inputs are empty tensors on its own device). Every aten operator of the
exported graph maps onto an archsim op kind; parameters (and buffers) become tensors of role
"param", user inputs "input" (integer ones "index").
"""
from __future__ import annotations

import math
import operator
from collections.abc import Sequence

from archsim.errors import UserError
from archsim.graph.graph import Graph
from archsim.graph.tensor import TensorSpec
from archsim.trace.importers._common import (ELEMENTWISE_FNS, Assembler, conv_attrs,
                                             conv_transpose_attrs, matmul_attrs)

_TORCH_DTYPES = {"float32": "fp32", "float": "fp32", "float16": "fp16", "half": "fp16",
                 "bfloat16": "bf16", "float64": "fp64", "double": "fp64", "int64": "int64",
                 "long": "int64", "int32": "int32", "int": "int32", "int16": "int16",
                 "int8": "int8", "uint8": "uint8", "bool": "bool",
                 "float8_e4m3fn": "fp8", "float8_e5m2": "fp8"}
_OUR_TO_TORCH = {"fp32": "float32", "fp16": "float16", "bf16": "bfloat16", "fp64": "float64",
                 "int64": "int64", "int32": "int32", "int16": "int16", "int8": "int8",
                 "uint8": "uint8", "bool": "bool"}
_INT = {"int64", "int32", "int16", "int8", "uint8", "bool"}

_VIEWS = {"view", "reshape", "_unsafe_view", "unsqueeze", "squeeze", "flatten", "expand",
          "slice", "select", "alias", "detach", "t", "permute", "transpose", "split",
          "split_with_sizes", "chunk", "unbind", "narrow", "unflatten", "as_strided",
          "lift_fresh_copy",
          "dropout", "native_dropout", "_assert_tensor_metadata"}
_COPIES = {"clone", "contiguous", "copy", "_to_copy", "to", "type_as"}
_REDUCTIONS = {"mean": "mean", "sum": "sum", "amax": "max", "amin": "min", "max": "max",
               "min": "min", "var": "sum", "var_mean": "sum", "std": "sum", "prod": "sum",
               "argmax": "max", "argmin": "min", "logsumexp": "sum", "norm": "sum",
               "linalg_vector_norm": "sum", "any": "sum", "all": "sum"}
_SKIP = {"sym_size", "sym_numel", "sym_stride", "_assert_async", "scalar_tensor",
         "empty", "zeros", "ones", "full", "arange", "zeros_like", "ones_like", "empty_like",
         "full_like", "lift_fresh", "_local_scalar_dense"}


def _require_torch():
    try:
        import torch
        import torch.export  # noqa: F401
    except ImportError:
        raise UserError("the torch importer needs PyTorch (>= 2.2, with torch.export): "
                        "pip install 'archsim[torch]'") from None
    return torch


def from_torch(module, example_shapes: Sequence, dtype: str = "fp32", name: str | None = None,
               unknown: str = "error") -> Graph:
    """Export `module` with inputs of the given shapes; a Graph of it. Build the module under
    `torch.device("meta")` to allocate no weights; a module with weights is not modified.

    example_shapes: one entry per positional input of forward(): a shape (a tensor of `dtype`),
    or a (shape, dtype) pair such as ((8, 128), "int64") for token ids.
    unknown: "error" (a UserError listing unmapped aten operators) or "elementwise".
    """
    torch = _require_torch()
    if unknown not in ("error", "elementwise"):
        raise UserError(f"from_torch: unknown must be 'error' or 'elementwise', got {unknown!r}")
    device = next((t.device for t in list(module.parameters()) + list(module.buffers())),
                  torch.device("meta"))
    args = []
    for entry in example_shapes:
        if (isinstance(entry, (tuple, list)) and len(entry) == 2
                and isinstance(entry[1], str)):
            shape, dt = entry
        else:
            shape, dt = entry, dtype
        tdt = getattr(torch, _OUR_TO_TORCH.get(dt, dt))
        args.append(torch.empty(tuple(int(d) for d in shape), dtype=tdt, device=device))
    was_training = module.training
    module.eval()
    try:
        ep = torch.export.export(module, tuple(args))
    except Exception as exc:  # torch raises many error types from tracing
        raise UserError(f"from_torch: torch.export failed: {type(exc).__name__}: {exc}") from None
    finally:
        module.train(was_training)
    return _Importer(ep, name or type(module).__name__, unknown).run()


def _short(target) -> str:
    """'aten.linear.default' -> 'linear'; in-place variants lose their trailing '_'."""
    if target is operator.getitem:
        return "getitem"
    schema = getattr(target, "_schema", None)
    base = schema.name.split("::")[-1] if schema is not None else getattr(target, "__name__",
                                                                            str(target))
    base = base.split(".")[0]
    return base[:-1] if base.endswith("_") and not base.startswith("_") else base


class _Importer:
    def __init__(self, ep, name: str, unknown: str):
        import torch.fx
        self.fx = torch.fx
        self.ep = ep
        self.unknown = unknown
        self.asm = Assembler(name, {"source": "torch.export"})
        self.env: dict[str, list[TensorSpec | None]] = {}
        sig = ep.graph_signature
        self.params = set(getattr(sig, "inputs_to_parameters", {}) or {})
        self.buffers = set(getattr(sig, "inputs_to_buffers", {}) or {})
        self.param_fqn = {**(getattr(sig, "inputs_to_parameters", {}) or {}),
                          **(getattr(sig, "inputs_to_buffers", {}) or {})}

    def specs_of(self, node, role: str = "activation") -> list[TensorSpec | None]:
        val = node.meta.get("val")
        vals = val if isinstance(val, (tuple, list)) else [val]
        out = []
        for i, v in enumerate(vals):
            if v is None or not hasattr(v, "shape") or not hasattr(v, "dtype"):
                out.append(None)
                continue
            try:
                shape = tuple(int(d) for d in v.shape)
            except (TypeError, ValueError):
                raise UserError(f"from_torch: {node.name} has a symbolic shape {tuple(v.shape)}"
                                f"; export with static shapes") from None
            dt = _TORCH_DTYPES.get(str(v.dtype).replace("torch.", ""), "fp32")
            r = role
            if role == "input" and dt in _INT:
                r = "index"
            nm = self.param_fqn.get(node.name, node.name)
            out.append(TensorSpec(nm if len(vals) == 1 else f"{nm}.{i}", shape, dt, r))
        return out

    def tensor_args(self, node) -> list[TensorSpec]:
        out = []

        def visit(a):
            if isinstance(a, self.fx.Node):
                s = self.env.get(a.name)
                if s and s[0] is not None:
                    out.append(s[0])
            elif isinstance(a, (list, tuple)):
                for x in a:
                    visit(x)
        for a in list(node.args) + list(node.kwargs.values()):
            visit(a)
        return out

    def run(self) -> Graph:
        nodes = list(self.ep.graph.nodes)
        unmapped = sorted({_short(n.target) for n in nodes if n.op == "call_function"
                           and not self._known(_short(n.target))})
        if unmapped and self.unknown == "error":
            raise UserError(f"from_torch: no mapping for aten operator(s) {', '.join(unmapped)};"
                            f" pass unknown='elementwise' to import them as labelled "
                            f"elementwise ops")
        for node in nodes:
            if node.op == "placeholder":
                role = "param" if node.name in self.params or node.name in self.buffers \
                    else "input"
                self.env[node.name] = self.specs_of(node, role)
            elif node.op == "get_attr":
                self.env[node.name] = self.specs_of(node, "param")
            elif node.op == "call_function":
                self.call(node)
        return self.asm.graph

    def _known(self, short: str) -> bool:
        return (short in _VIEWS or short in _COPIES or short in _REDUCTIONS or short in _SKIP
                or short in ELEMENTWISE_FNS or short == "getitem" or hasattr(self, f"op_{short}"))

    def call(self, node) -> None:
        short = _short(node.target)
        if short == "getitem":
            src, i = node.args
            items = self.env.get(src.name) or []
            self.env[node.name] = [items[i] if i < len(items) else None]
            return
        outs = self.specs_of(node)
        self.env[node.name] = outs
        ins = self.tensor_args(node)
        real_outs = [o for o in outs if o is not None]
        if short in _SKIP or not real_outs:
            self.env[node.name] = [None]
            return
        handler = getattr(self, f"op_{short}", None)
        if handler is not None:
            handler(node, ins, real_outs)
        elif short in _VIEWS:
            self.asm.add(node.name, "view", ins[:1], real_outs, aten=short)
        elif short in _COPIES:
            self.asm.add(node.name, "copy", ins[:1], real_outs[:1], aten=short)
        elif short in _REDUCTIONS:
            self.asm.add(node.name, "reduction", ins[:1], real_outs[:1],
                         fn=_REDUCTIONS[short], aten=short)
        elif short in ELEMENTWISE_FNS:
            self.asm.add(node.name, "elementwise", ins, real_outs[:1],
                         fn=ELEMENTWISE_FNS[short], aten=short)
        else:
            self.asm.add(node.name, "elementwise", ins, real_outs, fn=f"aten:{short}",
                         unmapped=True, aten=short)

    # ---- operators with their own shape arithmetic ---------------------------------------
    def op_linear(self, node, ins, outs):
        x, w = ins[:2]
        attrs, _ = matmul_attrs(x.shape, (w.shape[1], w.shape[0]))
        if len(ins) > 2:
            attrs["epilogue"] = "bias_add"
        self.asm.add(node.name, "gemm", ins, outs[:1], transB=True, aten="linear", **attrs)

    def op_addmm(self, node, ins, outs):
        bias, a, b = ins[:3]
        attrs, _ = matmul_attrs(a.shape, b.shape)
        self.asm.add(node.name, "gemm", [a, b, bias], outs[:1], epilogue="bias_add",
                     aten="addmm", **attrs)

    def op_mm(self, node, ins, outs):
        a, b = ins[:2]
        attrs, _ = matmul_attrs(a.shape, b.shape)
        self.asm.add(node.name, "gemm", [a, b], outs[:1], aten=_short(node.target), **attrs)

    op_bmm = op_mm
    op_matmul = op_mm

    def op_baddbmm(self, node, ins, outs):
        bias, a, b = ins[:3]
        attrs, _ = matmul_attrs(a.shape, b.shape)
        self.asm.add(node.name, "gemm", [a, b, bias], outs[:1], epilogue="add",
                     aten="baddbmm", **attrs)

    def op_convolution(self, node, ins, outs):
        x, w = ins[:2]
        args = list(node.args) + [None] * 9
        short = _short(node.target)
        if short == "convolution":
            stride, pad, transposed, groups = args[3], args[4], args[6], args[8]
        else:  # conv1d/conv2d/conv3d(x, w, b, stride, padding, dilation, groups)
            stride, pad, transposed, groups = args[3], args[4], False, args[6]
        stride = stride if stride is not None else 1
        pad = pad if pad is not None and not isinstance(pad, str) else 0
        groups = int(groups or 1)
        if transposed:
            self.asm.add(node.name, "gemm", ins, outs[:1], aten="conv_transpose",
                         **conv_transpose_attrs(x.shape, w.shape, groups))
            return
        kind, attrs = conv_attrs(x.shape, w.shape, outs[0].shape, stride, pad, groups)
        self.asm.add(node.name, kind, ins, outs[:1], aten=short, **attrs)

    op_conv1d = op_convolution
    op_conv2d = op_convolution
    op_conv3d = op_convolution

    def op_scaled_dot_product_attention(self, node, ins, outs):
        q, k, v = ins[:3]
        B, H, S, D = (1,) * (4 - len(q.shape)) + tuple(q.shape)
        Hkv, Skv = (k.shape[-3] if len(k.shape) >= 3 else 1), k.shape[-2]
        causal = bool(node.kwargs.get("is_causal", False) or
                      (len(node.args) > 5 and node.args[5] is True))
        if len(node.args) > 4 and isinstance(node.args[4], bool):  # the internal variants
            causal = causal or node.args[4]
        self.asm.add(node.name, "attention", ins[:3] + ins[3:4], outs[:1], B=B, H=H, S=S,
                     Skv=Skv, D=D, Hkv=Hkv, causal=causal, simt_flops=5 * B * H * S * Skv,
                     aten=_short(node.target))

    op__scaled_dot_product_flash_attention = op_scaled_dot_product_attention
    op__scaled_dot_product_efficient_attention = op_scaled_dot_product_attention
    op__scaled_dot_product_flash_attention_for_cpu = op_scaled_dot_product_attention
    op__scaled_dot_product_cudnn_attention = op_scaled_dot_product_attention

    def op_softmax(self, node, ins, outs):
        x = ins[0]
        self.asm.add(node.name, "softmax", ins[:1], outs[:1], rows=math.prod(x.shape[:-1]),
                     cols=x.shape[-1] if x.shape else 1, aten=_short(node.target))

    op__softmax = op_softmax
    op_log_softmax = op_softmax
    op__log_softmax = op_softmax

    def op_layer_norm(self, node, ins, outs, rms: bool = False):
        x = ins[0]
        self.asm.add(node.name, "layernorm", ins, outs[:1], rms=rms,
                     rows=math.prod(x.shape[:-1]), cols=x.shape[-1], aten=_short(node.target))

    op_native_layer_norm = op_layer_norm

    def op_rms_norm(self, node, ins, outs):
        self.op_layer_norm(node, ins, outs, rms=True)

    def op_group_norm(self, node, ins, outs):
        x = ins[0]
        self.asm.add(node.name, "layernorm", ins, outs[:1], rms=False, rows=x.shape[0],
                     cols=math.prod(x.shape[1:]), aten="group_norm")

    op_native_group_norm = op_group_norm

    def op_embedding(self, node, ins, outs):
        table, idx = ins[:2]
        self.asm.add(node.name, "gather", [table, idx], outs[:1], rows=table.shape[0],
                     n=idx.numel, dim=math.prod(table.shape[1:]), aten="embedding")

    def op_index_select(self, node, ins, outs):
        table, idx = ins[:2]
        self.asm.add(node.name, "gather", [table, idx], outs[:1], rows=table.shape[0],
                     n=idx.numel, dim=outs[0].numel // max(idx.numel, 1), aten="index_select")

    def op_index_add(self, node, ins, outs):
        target, idx, upd = ins[:3]
        self.asm.add(node.name, "scatter_add", [target, upd, idx], outs[:1],
                     rows=target.shape[0], n=idx.numel, dim=upd.numel // max(idx.numel, 1),
                     aten="index_add")

    def op_scatter_add(self, node, ins, outs):
        target, idx, upd = ins[:3]
        self.asm.add(node.name, "scatter_add", [target, upd, idx], outs[:1],
                     rows=target.shape[0], n=idx.numel, dim=upd.numel // max(idx.numel, 1),
                     aten="scatter_add")

    def op_cat(self, node, ins, outs):
        dim = node.args[1] if len(node.args) > 1 else node.kwargs.get("dim", 0)
        self.asm.add(node.name, "concat", ins, outs[:1], axis=int(dim), aten="cat")

    def _pool(self, node, ins, outs, fn):
        x, y = ins[0], outs[0]
        short = _short(node.target)
        if short.startswith("adaptive"):
            R = max(1, x.shape[-2] // max(y.shape[-2], 1))
            S = max(1, x.shape[-1] // max(y.shape[-1], 1))
            stride = R
        else:
            ks = node.args[1]
            ks = list(ks) if isinstance(ks, (list, tuple)) else [ks]
            R, S = int(ks[0]), int(ks[-1])
            st = node.args[2] if len(node.args) > 2 and node.args[2] else ks
            stride = int(st[0] if isinstance(st, (list, tuple)) else st)
        self.asm.add(node.name, "pool", [x], [y], fn=fn, R=R, S=S, stride=stride, aten=short)

    def op_max_pool2d(self, node, ins, outs):
        self._pool(node, ins, outs, "max")

    op_max_pool2d_with_indices = op_max_pool2d

    def op_avg_pool2d(self, node, ins, outs):
        self._pool(node, ins, outs, "avg")

    op_adaptive_avg_pool2d = op_avg_pool2d
    op__adaptive_avg_pool2d = op_avg_pool2d
