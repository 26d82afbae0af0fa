"""Training graphs from inference graphs: forward, backward per op kind, optimizer update.

    train = training_graph(build_workload("bert-base(layers=1)"), optimizer="adam", grad_accum=4)

The result holds, in this order:
1. the forward ops (attrs["phase"] = "forward");
2. backward ops, walking the forward ops in reverse topological order (phase "backward"). Each
   has its own shapes and cost, reads the saved forward activations it needs (the activation
   re-reads of training), and names what it computes in attrs["grads"] = {grad tensor: the
   forward tensor it is the gradient of} and the op it differentiates in attrs["grad_of"]:
   - gemm          -> dX = dY·Wᵀ and dW = Xᵀ·dY (gemm ops, transposed shapes); the bias
                      gradient as a row-sum reduction of dY (its own kernel, as eager PyTorch
                      runs it); an activation epilogue first becomes an elementwise '<fn>_bwd'
                      on dY and the saved output;
   - conv2d/conv3d -> '<kind>_dgrad' and '<kind>_wgrad' (implicit GEMMs, forward flops each);
   - attention     -> 'attention_bwd' (flash backward: 5 matrix products against 2, so 2.5x);
   - elementwise   -> '<fn>_bwd' (add/sub pass the gradient through, reducing broadcast axes;
                      relu, sigmoid and tanh read their saved output, as PyTorch does);
                      a channels-last 'batchnorm' (an inference graph's batch norm) trains in
                      training mode: a 'batchnorm_stats' op (the batch's per-channel mean and
                      variance) runs before it in the forward, and its backward is 'batchnorm_bwd'
                      (which writes the gradient of the parameter its scale and shift are views
                      of, as PyTorch's backward_reduce kernel does);
   - softmax, layernorm -> 'softmax_bwd', 'layernorm_bwd'; pool -> elementwise '<fn>pool_bwd';
   - reduction     -> a broadcast back to the input shape (elementwise '<fn>_bwd');
   - gather        -> scatter_add of dY into the table gradient (attrs["embedding"] when the
                      table is a parameter: embedding_dense_backward); scatter_add -> gather;
   - fwht -> fwht of dY (orthonormal: its own transpose); code_score -> 'code_score_bwd'
     (dz through the scores; codes get none); gather_add -> 'gather_dot' (score gradient:
     indexed inner products), 'scatter_add_rows' (table gradient: weighted scatter-add) and
     the bias's row-sum (LookupFFN, papers.md §3);
   - view/concat/transpose/copy -> view(s)/transpose/copy of dY (a slice: zero-fill + strided
                      copy; head-split slices' summed gradient: one strided copy back to the
                      source's layout); fft -> fft; linalg -> linalg
     (same factorisation cost: an approximation);
   a tensor read by several ops gets its contributions summed by an elementwise add;
3. gradient accumulation (grad_accum > 1): forward and backward ops run grad_accum times
   (attrs["repeat"]), and an elementwise 'accumulate' per parameter adds each micro-batch's
   gradient into an fp32 accumulator;
4. the optimizer step (phase "optimizer"), one op per parameter: 'adam' reads param, grad and
   the fp32 moments m, v (role "state") and writes param, m, v; 'sgd' reads param and grad.
   Outputs are new tensors named '<name>:updated' (attrs["inplace"] maps them to the buffers
   they overwrite). With sparse embeddings (recommendation models: DLRM declares it), a table
   read only by gathers gets a row-wise sparse update of the rows touched instead of a dense
   table gradient.

The loss is outside the graph: every forward output that needs a gradient is seeded by an
input tensor '<name>.grad' (role "grad"). Inputs of role "input" and "index" get no gradient.
"""
from __future__ import annotations

import math

from archsim.errors import WorkloadError
from archsim.graph.graph import Graph
from archsim.graph.op import ELEMENTWISE_FLOPS, KINDS, Op, register_kind
from archsim.graph.tensor import TensorSpec

# SIMT flops per output element of the backward pointwise functions (the derivative times dY;
# activations whose derivative needs a transcendental cost about as much as the forward).
for _fn, _f in {"relu_bwd": 1, "gelu_bwd": 10, "silu_bwd": 6, "sigmoid_bwd": 3, "tanh_bwd": 3,
                "swiglu_bwd": 8, "rope_bwd": 3, "mul_bwd": 1, "div_bwd": 3, "exp_bwd": 1,
                "sum_bwd": 0, "mean_bwd": 1, "max_bwd": 2, "maxpool_bwd": 2, "avgpool_bwd": 1,
                "lstm_cell_bwd": 10, "volume_render_bwd": 12, "dropout_bwd": 1,
                "scale_bwd": 1, "bgrad": 1, "fill": 0, "slice_copy": 0}.items():
    ELEMENTWISE_FLOPS.setdefault(_fn, _f)


def _fwd_flops(kind: str):
    return lambda op: KINDS[kind].flops(op)


register_kind("attention_bwd", lambda op: int(2.5 * KINDS["attention"].flops(op)), pipe="tensor",
              doc="flash-attention backward: recompute QKᵀ, then dV, dP, dQ, dK (2.5x forward)")
for _k in ("conv2d", "conv3d"):
    register_kind(f"{_k}_dgrad", _fwd_flops(_k), pipe="tensor",
                  doc=f"{_k} data gradient dX (a transposed convolution; forward attrs)")
    register_kind(f"{_k}_wgrad", _fwd_flops(_k), pipe="tensor",
                  doc=f"{_k} weight gradient dW = Σ X ⊛ dY (forward attrs)")
register_kind("softmax_bwd", lambda op: 4 * op.inputs[0].numel,
              doc="softmax backward dX = Y·(dY − Σ dY·Y)")
register_kind("layernorm_bwd",
              lambda op: (9 if op.attrs.get("rms") else 12) * op.inputs[0].numel,
              doc="layer-norm (RMS-norm) backward: dX and the affine-parameter gradients")

# Batch norm in training mode (an inference graph's per-channel 'batchnorm' elementwise, NHWC,
# trained): the forward first reduces its input to per-channel mean and variance
# ('batchnorm_stats': PyTorch's batch_norm_collect_statistics_channels_last, Welford); the
# backward reduces dY and dY*(x - mean) per channel, then forms dX ('batchnorm_bwd': PyTorch's
# batch_norm_backward_reduce / _elemt channels-last kernels).
register_kind("batchnorm_stats", lambda op: 8 * op.inputs[0].numel,
              doc="batch-norm training statistics: per-channel mean and variance of X (Welford)")
register_kind("batchnorm_bwd", lambda op: 10 * op.inputs[0].numel,
              doc="batch-norm training backward: per-channel sums of dY and dY*(X-mean), then dX")

# LookupFFN backward kinds (archsim.graph.op's gather_add, code_score): attrs as the forward's
_GATHER_ADD_ATTRS = ("tokens", "tables", "rows", "dim", "rows_drawn", "order", "tile", "lookups",
                     "tile_rows", "seed")
CODE_SCORE_BWD_FLOPS_PER_ELEMENT = 10   # d score / d z_j: sign, exp(-2|z|), the quotient rule


def _rows_bytes(op: Op, rmw: bool) -> int:
    a = op.attrs
    row = a["dim"] * op.inputs[0].itemsize
    rest = sum(t.nbytes for t in op.inputs[1:])
    return a["rows_drawn"] * row * (2 if rmw else 1) + rest + op.outputs[0].nbytes


register_kind("gather_dot", lambda op: 2 * op.attrs["tokens"] * op.attrs["tables"] * op.attrs["dim"],
              bytes=lambda op: _rows_bytes(op, False), pipe="memory",
              doc="LookupFFN score gradient g[b,k] = <dY[b], T_k[code[b,k]]> (indexed inner "
                  "products over the rows the codes draw; the gather-add's attrs)")
register_kind("scatter_add_rows",
              lambda op: 2 * op.attrs["tokens"] * op.attrs["tables"] * op.attrs["dim"],
              bytes=lambda op: _rows_bytes(op, True), pipe="memory",
              doc="LookupFFN table gradient dT[k, code[b,k]] += score[b,k]·dY[b] (weighted "
                  "scatter-add: read-modify-write of the rows drawn; the gather-add's attrs)")
register_kind("code_score_bwd",
              lambda op: op.attrs["tokens"] * op.attrs["tables"]
              * (op.attrs["bits"] * CODE_SCORE_BWD_FLOPS_PER_ELEMENT + 1),
              doc="LookupFFN dz[tokens, tables·bits] from the score gradient (the codes are "
                  "not differentiated)")

_PASS_THROUGH = {"add", "bias_add", "accumulate", "identity"}
_FROM_RESULT = {"relu", "sigmoid", "tanh"}      # backward reads the forward's output
_NO_GRAD_ROLES = {"input", "index"}


class _Backward:
    def __init__(self, fwd: Graph, grad_accum: int):
        self.fwd = fwd
        self.g = Graph(f"{fwd.name}.train", {**fwd.attrs, "mode": "training"})
        self.accum = grad_accum
        self.contrib: dict[str, list[TensorSpec]] = {}
        self.sparse_rows: dict[str, list[tuple[TensorSpec, TensorSpec, int]]] = {}
        self.names: dict[str, int] = {}
        self.needs: set[str] = set()
        self.sparse: set[str] = set()
        self.permuted: set[str] = set()   # sources whose gradient is assembled head-permuted
        self.current: Op | None = None

    # ---- plumbing -----------------------------------------------------------------------
    def name(self, base: str) -> str:
        n = self.names.get(base, 0)
        self.names[base] = n + 1
        return base if n == 0 else f"{base}_{n}"

    def emit(self, kind: str, suffix: str, inputs, outputs, grads: dict | None = None,
             **attrs) -> Op:
        fwd = self.current
        rep = (fwd.repeat if fwd is not None else 1) * self.accum
        attrs = {**attrs, "phase": "backward"}
        if fwd is not None:
            attrs["grad_of"] = fwd.name
        if grads:
            attrs["grads"] = grads
        if rep > 1:
            attrs["repeat"] = rep
        base = f"{fwd.name}.{suffix}" if fwd is not None else suffix
        op = Op(self.name(base), kind, tuple(inputs), tuple(outputs), attrs)
        return self.g.add_op(op)

    def grad_spec(self, t: TensorSpec, shape=None, dtype=None) -> TensorSpec:
        name = self.name(f"{t.name}.grad@{self.current.name}")
        return TensorSpec(name, tuple(shape or t.shape), dtype or t.dtype, "grad")

    def add_contrib(self, t: TensorSpec, g: TensorSpec) -> None:
        if t.name in self.needs:
            self.contrib.setdefault(t.name, []).append(g)

    def total_grad(self, t: TensorSpec) -> TensorSpec | None:
        """The summed gradient of `t` (one add op when several ops contributed), made contiguous
        by one strided copy when it was assembled in a permuted layout (head-split slices)."""
        parts = self.contrib.get(t.name)
        if not parts:
            return None
        if len(parts) == 1:
            out = parts[0]
        else:
            out = TensorSpec(self.name(f"{t.name}.grad"), t.shape, parts[0].dtype, "grad")
            self.emit("elementwise", f"sum_grad.{t.name.rsplit('.', 1)[-1]}", parts, (out,),
                      {out.name: t.name}, fn="add", arity=len(parts))
        if t.name in self.permuted:
            self.permuted.discard(t.name)
            g = TensorSpec(self.name(f"{t.name}.grad_contiguous"), t.shape, out.dtype, "grad")
            self.emit("elementwise", f"permute_copy.{t.name.rsplit('.', 1)[-1]}", (out,), (g,),
                      {g.name: t.name}, fn="slice_copy")
            out = g
        self.contrib[t.name] = [out]
        return out

    def wants(self, t: TensorSpec) -> bool:
        return t.name in self.needs

    # ---- the walk -----------------------------------------------------------------------
    def run(self) -> None:
        fwd_ops = self.fwd.topo_ops()
        for op in fwd_ops:
            attrs = {**op.attrs, "phase": "forward"}
            if self.accum > 1:
                attrs["repeat"] = op.repeat * self.accum
            if _is_batchnorm(op):   # training mode: the batch's statistics first
                x = op.inputs[0]
                st = TensorSpec(f"{op.name}.batch_stats", (2, x.shape[-1]), "fp32", "activation")
                self.g.add_op(Op(f"{op.name}.stats", "batchnorm_stats", (x,), (st,),
                                 {k: v for k, v in attrs.items() if k in ("phase", "repeat")}))
            self.g.add_op(Op(op.name, op.kind, op.inputs, op.outputs, attrs))
        for op in fwd_ops:  # which tensors need a gradient
            if any(t.role == "param" or t.name in self.needs for t in op.inputs):
                self.needs.update(t.name for t in op.outputs)
        self.needs.update(t.name for t in self.fwd.params())
        consumed = {t.name for op in fwd_ops for t in op.inputs}
        for op in fwd_ops:  # the loss gradient seeds every unconsumed output
            for t in op.outputs:
                if t.name not in consumed and t.name in self.needs:
                    self.contrib[t.name] = [TensorSpec(f"{t.name}.grad", t.shape, t.dtype, "grad")]
        for op in reversed(fwd_ops):
            self.current = op
            dys = [self.total_grad(t) for t in op.outputs]
            if all(d is None for d in dys):
                continue
            if not any(self.wants(t) for t in op.inputs):
                continue
            handler = getattr(self, f"bwd_{op.kind}", None)
            if handler is None:
                raise WorkloadError(f"training graph: no backward rule for op kind {op.kind!r} "
                                    f"(op {op.name}); kinds with rules: "
                                    f"{', '.join(sorted(_rules()))}")
            self.dys = dys       # every output's gradient (code_score has two outputs)
            handler(op, dys[0])
        self.current = None

    # ---- rules per kind -----------------------------------------------------------------
    def bwd_gemm(self, op: Op, dy: TensorSpec) -> None:
        a, w, *extra = op.inputs
        y = op.outputs[0]
        epi = op.attrs.get("epilogue")
        if epi and epi not in ("bias_add", "add", "identity", "bgrad"):
            dz = TensorSpec(self.name(f"{y.name}.grad_pre"), y.shape, dy.dtype, "grad")
            self.emit("elementwise", f"{epi}_bwd", (dy, y), (dz,), fn=f"{epi}_bwd")
            dy = dz
        # the forward GEMM's own dims (transposed operands and folded batches included)
        at = op.attrs
        M, N, K, nb = at["M"], at["N"], at["K"], at.get("batch", 1)
        ab, wb = math.prod(a.shape[:-2]), math.prod(w.shape[:-2])
        if self.wants(a) or op.attrs.get("recurrent"):
            da = self.grad_spec(a)
            attrs = ({"M": M, "N": K, "K": N * nb, "batch": 1} if ab == 1 and nb > 1 else
                     {"M": M, "N": K, "K": N, "batch": nb})
            self.emit("gemm", "dgrad", (dy, w), (da,), {da.name: a.name}, transB=True, **attrs)
            self.add_contrib(a, da)
        if self.wants(w):
            dw = self.grad_spec(w)
            attrs = ({"M": K, "N": N, "K": M * nb, "batch": 1} if wb == 1 and nb > 1 else
                     {"M": K, "N": N, "K": M, "batch": nb})
            self.emit("gemm", "wgrad", (a, dy), (dw,), {dw.name: w.name}, transA=True, **attrs)
            self.add_contrib(w, dw)
        for t in extra:  # bias gradient: dY summed over its rows, its own kernel in eager code
            if self.wants(t):
                db = self.grad_spec(t)
                axes = tuple(range(len(dy.shape) - len(t.shape)))
                self.emit("reduction", "bgrad", (dy,), (db,), {db.name: t.name}, fn="sum",
                          axes=axes)
                self.add_contrib(t, db)

    def _conv(self, op: Op, dy: TensorSpec) -> None:
        x, w, *extra = op.inputs
        if self.wants(x):
            dx = self.grad_spec(x)
            self.emit(f"{op.kind}_dgrad", "dgrad", (dy, w), (dx,), {dx.name: x.name}, **op.attrs)
            self.add_contrib(x, dx)
        targets = [t for t in (w, *extra) if self.wants(t)]
        if targets:
            outs = [self.grad_spec(t) for t in targets]
            self.emit(f"{op.kind}_wgrad", "wgrad", (x, dy), outs,
                      {o.name: t.name for o, t in zip(outs, targets)}, **op.attrs)
            for o, t in zip(outs, targets):
                self.add_contrib(t, o)

    bwd_conv2d = _conv
    bwd_conv3d = _conv

    def bwd_attention(self, op: Op, dy: TensorSpec) -> None:
        q, k, v = op.inputs[:3]
        targets = [t for t in (q, k, v) if self.wants(t)]
        outs = [self.grad_spec(t) for t in targets]
        self.emit("attention_bwd", "bwd", (q, k, v, op.outputs[0], dy), outs,
                  {o.name: t.name for o, t in zip(outs, targets)}, **op.attrs)
        for o, t in zip(outs, targets):
            self.add_contrib(t, o)

    def bwd_elementwise(self, op: Op, dy: TensorSpec) -> None:
        fn = op.attrs.get("fn", "identity")
        targets = [t for t in op.inputs if self.wants(t)]
        if fn in _PASS_THROUGH or fn == "sub":
            for i, t in enumerate(op.inputs):
                if not self.wants(t):
                    continue
                if fn == "sub" and i == 1:
                    g = self.grad_spec(t)
                    self.emit("elementwise", "neg", (dy,), (g,), {g.name: t.name}, fn="neg")
                elif t.shape == dy.shape and t.dtype != dy.dtype:
                    # autograd hands each input its gradient in the input's dtype (an AMP
                    # fp32 residual add -> its bf16 operand's gradient is cast down)
                    g = self.grad_spec(t)
                    self.emit("copy", f"cast_grad{i}", (dy,), (g,), {g.name: t.name})
                elif t.shape == dy.shape:
                    g = dy  # the gradient passes through unchanged
                else:
                    g = self._unbroadcast(t, dy)
                self.add_contrib(t, g)
            return
        if _is_batchnorm(op) and self.wants(op.inputs[0]):
            # training batch norm: dX through the batch statistics, dScale / dShift per channel
            src = self._bn_master(op)
            if src is not None:
                # PyTorch's batch_norm_backward_reduce writes the fp32 weight / bias gradients
                # itself: no gradient flows back through the scale / shift views, the affine
                # prep or the cast of the parameter (issue 15: a ResNet-50 AMP step runs no
                # fill, strided copy, prep backward or cast per batch norm)
                dx, dp = self.grad_spec(op.inputs[0]), self.grad_spec(src)
                self.emit("batchnorm_bwd", "bn_bwd", (dy, *op.inputs), (dx, dp),
                          {dx.name: op.inputs[0].name, dp.name: src.name})
                self.add_contrib(op.inputs[0], dx)
                self.add_contrib(src, dp)
                return
            outs = [self.grad_spec(t) for t in targets]
            self.emit("batchnorm_bwd", "bn_bwd", (dy, *op.inputs), outs,
                      {o.name: t.name for o, t in zip(outs, targets)})
            for o, t in zip(outs, targets):
                self.add_contrib(t, o)
            return
        if fn == "cast":
            g = self.grad_spec(op.inputs[0])
            self.emit("copy", "cast_bwd", (dy,), (g,), {g.name: op.inputs[0].name})
            self.add_contrib(op.inputs[0], g)
            return
        outs = [self.grad_spec(t) for t in targets]
        # relu, sigmoid and tanh differentiate from their result, as PyTorch saves it
        # (derivatives.yaml: threshold_backward(grad, result), sigmoid_backward(grad, result)):
        # the pre-activation need not outlive the forward
        saved = op.outputs if fn in _FROM_RESULT and len(op.inputs) == 1 else op.inputs
        self.emit("elementwise", f"{fn}_bwd", (dy, *saved), outs,
                  {o.name: t.name for o, t in zip(outs, targets)}, fn=f"{fn}_bwd")
        for o, t in zip(outs, targets):
            self.add_contrib(t, o)

    def _bn_master(self, op: Op) -> TensorSpec | None:
        """The one parameter a batch norm's scale and shift come from through views, copies
        (casts) and the elementwise 'bn_prep' alone (workloads/resnet.py's batch_norm), or None."""
        if not hasattr(self, "_producer"):
            self._producer = {t.name: o for o in self.fwd.ops for t in o.outputs}
        found = set()
        for t in op.inputs[1:]:
            for _ in range(8):
                p = self._producer.get(t.name)
                if p is None:
                    break
                if not (p.kind in ("view", "copy") or
                        (p.kind == "elementwise" and p.attrs.get("fn") == "bn_prep")):
                    return None
                t = p.inputs[0]
            if t.role != "param" or self._producer.get(t.name) is not None:
                return None
            found.add(t)
        return found.pop() if len(found) == 1 else None

    def _unbroadcast(self, t: TensorSpec, dy: TensorSpec) -> TensorSpec:
        """Sum dY over the axes along which `t` was broadcast."""
        lead = len(dy.shape) - len(t.shape)
        axes = tuple(range(lead)) + tuple(lead + i for i, d in enumerate(t.shape)
                                          if d == 1 and dy.shape[lead + i] != 1)
        g = self.grad_spec(t)
        self.emit("reduction", "unbroadcast", (dy,), (g,), {g.name: t.name}, fn="sum", axes=axes)
        return g

    def bwd_reduction(self, op: Op, dy: TensorSpec) -> None:
        x, y = op.inputs[0], op.outputs[0]
        fn = op.attrs.get("fn", "sum")
        g = self.grad_spec(x)
        ins = (dy, x, y) if fn in ("max", "min") else (dy,)
        self.emit("elementwise", f"{fn}_bwd", ins, (g,), {g.name: x.name},
                  fn=f"{'max' if fn == 'min' else fn}_bwd")
        self.add_contrib(x, g)

    def bwd_softmax(self, op: Op, dy: TensorSpec) -> None:
        x, y = op.inputs[0], op.outputs[0]
        g = self.grad_spec(x)
        self.emit("softmax_bwd", "bwd", (dy, y), (g,), {g.name: x.name}, **op.attrs)
        self.add_contrib(x, g)

    def bwd_layernorm(self, op: Op, dy: TensorSpec) -> None:
        targets = [t for t in op.inputs if self.wants(t)]
        outs = [self.grad_spec(t) for t in targets]
        self.emit("layernorm_bwd", "bwd", (dy, *op.inputs), outs,
                  {o.name: t.name for o, t in zip(outs, targets)}, **op.attrs)
        for o, t in zip(outs, targets):
            self.add_contrib(t, o)

    def bwd_pool(self, op: Op, dy: TensorSpec) -> None:
        x, y = op.inputs[0], op.outputs[0]
        fn = f"{op.attrs.get('fn', 'max')}pool_bwd"
        g = self.grad_spec(x)
        self.emit("elementwise", fn, (dy, x, y), (g,), {g.name: x.name}, fn=fn)
        self.add_contrib(x, g)

    def bwd_gather(self, op: Op, dy: TensorSpec) -> None:
        table, idx = op.inputs[:2]
        if not self.wants(table):
            return
        if table.name in self.sparse:
            # row-wise sparse update later: keep the rows' gradient and where they go
            self.sparse_rows.setdefault(table.name, []).append((dy, idx, op.repeat * self.accum))
            return
        zeros = TensorSpec(f"{table.name}.grad_zeros@{op.name}", table.shape, dy.dtype, "grad")
        g = self.grad_spec(table)
        # a parameter table read by a gather is an embedding: its dense gradient is
        # embedding_dense_backward (attrs["embedding"]; the GPU lowering runs PyTorch's kernels)
        extra = {"embedding": True} if table.role == "param" else {}
        self.emit("scatter_add", "bwd", (zeros, dy, idx), (g,), {g.name: table.name},
                  rows=table.shape[0], n=idx.numel, dim=math.prod(table.shape[1:]), **extra)
        self.add_contrib(table, g)

    def bwd_scatter_add(self, op: Op, dy: TensorSpec) -> None:
        target, upd, idx = op.inputs[:3]
        if self.wants(target):
            self.add_contrib(target, dy)
        if self.wants(upd):
            g = self.grad_spec(upd)
            self.emit("gather", "bwd", (dy, idx), (g,), {g.name: upd.name},
                      rows=dy.shape[0], n=idx.numel, dim=math.prod(dy.shape[1:]))
            self.add_contrib(upd, g)

    def bwd_copy(self, op: Op, dy: TensorSpec) -> None:
        x = op.inputs[0]
        if x.dtype == dy.dtype:
            self.add_contrib(x, dy)  # a same-type copy passes the gradient through
            return
        g = self.grad_spec(x)
        self.emit("copy", "bwd", (dy,), (g,), {g.name: x.name})
        self.add_contrib(x, g)

    def bwd_transpose(self, op: Op, dy: TensorSpec) -> None:
        x = op.inputs[0]
        perm = op.attrs["perm"]
        inv = tuple(sorted(range(len(perm)), key=lambda i: perm[i]))
        g = self.grad_spec(x)
        self.emit("transpose", "bwd", (dy,), (g,), {g.name: x.name}, perm=inv)
        self.add_contrib(x, g)

    def bwd_view(self, op: Op, dy: TensorSpec) -> None:
        x = op.inputs[0]
        g = self.grad_spec(x)
        if x.numel > dy.numel:
            # a slice of its source (q, k, v of a fused QKV projection): eager autograd's
            # SliceBackward fills a zero tensor of the source's shape and copies the gradient
            # into its slice with a strided copy kernel (issue 15: BERT's AMP step launches
            # 3 FillFunctor + 3 strided direct_copy kernels per layer for them)
            z = TensorSpec(self.name(f"{x.name}.grad_zeros@{op.name}"), x.shape, dy.dtype, "grad")
            self.emit("elementwise", "slice_fill", (), (z,), fn="fill")
            if len(dy.shape) == 4 and len(x.shape) == 2:
                # a head split ([B·S, n·H·D] -> [B, H, S, D]): the zeros are laid out as the
                # permuted view, so the summed gradient is copied back to [B·S, n·H·D] once
                # (total_grad: the reshape's strided copy before the projection's backward)
                self.permuted.add(x.name)
            g = self.grad_spec(x, dtype=dy.dtype)
            self.emit("elementwise", "slice_bwd", (z, dy), (g,), {g.name: x.name},
                      fn="slice_copy", inplace={g.name: z.name})
            self.add_contrib(x, g)
            return
        self.emit("view", "bwd", (dy,), (g,), {g.name: x.name})
        self.add_contrib(x, g)

    def bwd_concat(self, op: Op, dy: TensorSpec) -> None:
        for i, x in enumerate(op.inputs):
            if self.wants(x):  # each input's gradient is a slice of dY: a view, no kernel
                g = self.grad_spec(x)
                self.emit("view", f"split{i}", (dy,), (g,), {g.name: x.name})
                self.add_contrib(x, g)

    # LookupFFN (issue 12; papers.md §3 step 4)
    def bwd_fwht(self, op: Op, dy: TensorSpec) -> None:
        x = op.inputs[0]
        if self.wants(x):  # the orthonormal transform is its own transpose: dX = FWHT(dY)
            g = self.grad_spec(x)
            self.emit("fwht", "bwd", (dy,), (g,), {g.name: x.name}, n=op.attrs["n"],
                      batch=op.attrs.get("batch", 1))
            self.add_contrib(x, g)

    def bwd_code_score(self, op: Op, dy: TensorSpec) -> None:
        # the codes are piecewise constant: z's gradient comes through the scores alone
        z, dscore = op.inputs[0], self.dys[1]
        if dscore is None or not self.wants(z):
            return
        g = self.grad_spec(z)
        self.emit("code_score_bwd", "bwd", (dscore, z, op.outputs[1]), (g,), {g.name: z.name},
                  **{k: op.attrs[k] for k in ("tokens", "tables", "bits")})
        self.add_contrib(z, g)

    def bwd_gather_add(self, op: Op, dy: TensorSpec) -> None:
        T, codes, scores, *extra = op.inputs
        rows = {k: v for k, v in op.attrs.items() if k in _GATHER_ADD_ATTRS}
        if self.wants(scores):  # indexed inner products with the rows the codes drew
            g = self.grad_spec(scores)
            self.emit("gather_dot", "score_bwd", (T, codes, dy), (g,), {g.name: scores.name},
                      **rows)
            self.add_contrib(scores, g)
        if self.wants(T):       # weighted scatter-add into those rows of a zeroed gradient
            zeros = TensorSpec(f"{T.name}.grad_zeros@{op.name}", T.shape, dy.dtype, "grad")
            g = self.grad_spec(T)
            self.emit("scatter_add_rows", "table_bwd", (zeros, codes, scores, dy), (g,),
                      {g.name: T.name}, **rows)
            self.add_contrib(T, g)
        for t in extra:          # the output bias: dY summed over tokens
            if self.wants(t):
                db = self.grad_spec(t)
                self.emit("reduction", "bgrad", (dy,), (db,), {db.name: t.name}, fn="sum",
                          axes=tuple(range(len(dy.shape) - len(t.shape))))
                self.add_contrib(t, db)

    def bwd_fft(self, op: Op, dy: TensorSpec) -> None:
        self._same_kind(op, dy)

    def bwd_linalg(self, op: Op, dy: TensorSpec) -> None:
        self._same_kind(op, dy)

    def _same_kind(self, op: Op, dy: TensorSpec) -> None:
        targets = [t for t in op.inputs if self.wants(t)]
        outs = [self.grad_spec(t) for t in targets]
        self.emit(op.kind, "bwd", (dy, *op.inputs), outs,
                  {o.name: t.name for o, t in zip(outs, targets)}, **op.attrs)
        for o, t in zip(outs, targets):
            self.add_contrib(t, o)

    # ---- optimizer ----------------------------------------------------------------------
    def optimizer(self, optimizer: str) -> None:
        for p in self.fwd.params():
            if p.name in self.sparse:
                for i, (rows_g, idx, rep) in enumerate(self.sparse_rows.get(p.name, [])):
                    self._sparse_update(p, rows_g, idx, rep, optimizer, i)
                continue
            g = self.total_grad(p)
            if g is None:
                continue
            if self.accum > 1:
                acc_in = TensorSpec(f"{p.name}.grad_acc", p.shape, "fp32", "grad")
                acc = TensorSpec(f"{p.name}.grad_acc:updated", p.shape, "fp32", "grad")
                attrs = {"fn": "accumulate", "phase": "backward", "repeat": self.accum,
                         "inplace": {acc.name: acc_in.name}}
                self.g.add_op(Op(self.name(f"{p.name}.accumulate"), "elementwise", (g, acc_in),
                                 (acc,), attrs))
                g = acc
            self._update(p, g, optimizer, p.shape, sparse=False)

    def _update(self, p: TensorSpec, g: TensorSpec, optimizer: str, shape, sparse: bool,
                extra_inputs: tuple = (), tag: str = "", repeat: int = 1) -> None:
        suffix = f"[rows{tag}]" if sparse else ""
        pin = p if not sparse else TensorSpec(f"{p.name}{suffix}", shape, p.dtype, "param")
        ins, outs = [pin, g, *extra_inputs], [TensorSpec(f"{pin.name}:updated", shape, p.dtype,
                                                         "param")]
        if optimizer == "adam":
            for s in ("m", "v"):
                st = TensorSpec(f"{p.name}.adam_{s}{suffix}", shape, "fp32", "state")
                ins.append(st)
                outs.append(TensorSpec(f"{st.name}:updated", shape, "fp32", "state"))
        attrs = {"fn": optimizer, "phase": "optimizer", "param": p.name,
                 "inplace": {o.name: i.name for o, i in zip(outs, [ins[0]] + ins[-2:])
                             } if optimizer == "adam" else {outs[0].name: ins[0].name}}
        if sparse:
            attrs["sparse_rows"] = shape[0]
        if repeat > 1:
            attrs["repeat"] = repeat
        self.g.add_op(Op(self.name(f"{p.name}.{optimizer}"), "elementwise", tuple(ins),
                         tuple(outs), attrs))

    def _sparse_update(self, p, rows_g, idx, rep, optimizer, i) -> None:
        dim = p.shape[1:]
        shape = (idx.numel, *dim)
        g = rows_g if rows_g.shape == shape else TensorSpec(
            self.name(f"{rows_g.name}.rows"), shape, rows_g.dtype, "grad")
        if g is not rows_g:
            self.g.add_op(Op(self.name(f"{p.name}.rows_grad"), "view", (rows_g,), (g,),
                             {"phase": "backward"}))
        self._update(p, g, optimizer, shape, sparse=True, extra_inputs=(idx,),
                     tag="" if i == 0 else str(i), repeat=rep)


def _is_batchnorm(op: Op) -> bool:
    """An inference graph's batch norm: elementwise 'batchnorm' of a channels-last activation by
    per-channel scale and shift (workloads/resnet.py's conv_bn)."""
    return (op.kind == "elementwise" and op.attrs.get("fn") == "batchnorm" and len(op.inputs) == 3
            and len(op.inputs[0].shape) >= 2
            and all(t.shape == (op.inputs[0].shape[-1],) for t in op.inputs[1:]))


def _rules() -> list[str]:
    return [n[4:] for n in dir(_Backward) if n.startswith("bwd_")]


def _sparse_tables(graph: Graph) -> set[str]:
    """Parameters read only as the table of gathers (embedding tables)."""
    out = set()
    for p in graph.params():
        users = graph.consumers(p.name)
        if users and all(u.kind == "gather" and u.inputs[0].name == p.name for u in users):
            out.add(p.name)
    return out


LOW_PRECISION = ("bf16", "fp16")
_MATMUL_KINDS = ("gemm", "conv2d", "conv3d")
# torch.autocast's lists (issue 15, from the kernels a BERT AMP step launches: layer norms run
# <float> kernels, residual adds CUDAFunctor_add<float>, and every Linear casts its fp32 input):
_AUTOCAST_FP32_KINDS = ("layernorm", "softmax")           # run in fp32
_AUTOCAST_LOW_KINDS = ("gemm", "conv2d", "conv3d", "attention")  # cast fp32 inputs down per call


def mixed_precision(graph: Graph) -> Graph:
    """The forward graph as torch.autocast runs it: parameters held in fp32 ("master weights");
    each parameter a matrix-product op reads in bf16/fp16 is cast from its fp32 master by a copy
    op every step (the cast kernels of eager autocast); other parameters (norm weights) are read
    in fp32 directly. The casts' backward (copy) brings those gradients back to fp32, and the
    optimizer updates the fp32 masters. A graph with no low-precision parameters is unchanged."""
    low = {p.name for p in graph.params() if p.dtype in LOW_PRECISION}
    if not low:
        return graph
    out = Graph(graph.name, {**graph.attrs, "precision": "amp"})
    masters = {n: t.with_(dtype="fp32") for n, t in graph.tensors.items() if n in low}
    casts: dict[str, TensorSpec] = {}
    wide: dict[str, TensorSpec] = {}   # low-precision activations autocast made fp32
    for op in graph.topo_ops():
        inputs = []
        for i, t in enumerate(op.inputs):
            if t.name in low:
                if op.kind in _MATMUL_KINDS:
                    if t.name not in casts:
                        casts[t.name] = TensorSpec(f"{t.name}:{t.dtype}", t.shape, t.dtype)
                        out.add_op(Op(f"{t.name}.autocast", "copy", (masters[t.name],),
                                      (casts[t.name],), {"autocast": True}))
                    inputs.append(casts[t.name])
                else:
                    inputs.append(masters[t.name])
            elif t.name in wide and op.kind in _AUTOCAST_LOW_KINDS:
                # an fp32 activation into a matrix product: cast down on every call
                c = TensorSpec(f"{t.name}:{t.dtype}@{op.name}", t.shape, t.dtype)
                out.add_op(Op(f"{op.name}.autocast_in{i}", "copy", (wide[t.name],), (c,),
                              {"autocast_activation": True}))
                inputs.append(c)
            elif t.name in wide:
                inputs.append(wide[t.name])
            elif op.kind in _AUTOCAST_FP32_KINDS and i == 0 and t.dtype in LOW_PRECISION:
                # autocast's float32 list (layer_norm, softmax): the activation cast up
                c = TensorSpec(f"{t.name}:fp32@{op.name}", t.shape, "fp32")
                out.add_op(Op(f"{op.name}.autocast_in", "copy", (t,), (c,),
                              {"autocast_activation": True}))
                inputs.append(c)
            else:
                inputs.append(t)
        outputs = op.outputs
        promoted = op.kind in _AUTOCAST_FP32_KINDS or (
            op.kind not in _AUTOCAST_LOW_KINDS and
            any(x.dtype == "fp32" and (x.name in masters or x.name in wide or
                                      x.name.endswith(f"@{op.name}"))
                for x in (masters.get(t.name, wide.get(t.name, t)) for t in op.inputs)))
        if promoted:   # fp32 math (type promotion): low-precision outputs become fp32
            outputs = tuple(o.with_(dtype="fp32") if o.dtype in LOW_PRECISION else o
                            for o in op.outputs)
            for o_old, o_new in zip(op.outputs, outputs):
                if o_new is not o_old:
                    wide[o_old.name] = o_new
        out.add_op(Op(op.name, op.kind, tuple(inputs), outputs, dict(op.attrs)))
    return out


def training_graph(graph: Graph, optimizer: str = "adam", grad_accum: int = 1,
                   sparse_embeddings: bool | None = None, precision: str = "amp") -> Graph:
    """One training step of `graph` (see the module docstring).

    precision: 'amp' (default) — automatic mixed precision as torch.autocast runs it, see
    `mixed_precision`; 'pure' — parameters kept in the forward graph's dtype.
    grad_accum: micro-batches per optimizer step (the graph is one micro-batch).
    sparse_embeddings: row-wise sparse updates of tables read only by gathers; False: a dense
    table gradient by scatter-add and a dense optimizer update (what torch.nn.Embedding does,
    and how transformers train); None (default): what the workload declares in
    graph.attrs["sparse_embeddings"] (DLRM does), else False.
    """
    if optimizer not in ("adam", "sgd"):
        raise WorkloadError(f"training graph: optimizer must be 'adam' or 'sgd', got {optimizer!r}")
    if not isinstance(grad_accum, int) or grad_accum < 1:
        raise WorkloadError(f"training graph: grad_accum must be a positive integer, "
                            f"got {grad_accum!r}")
    if precision not in ("amp", "pure"):
        raise WorkloadError(f"training graph: precision must be 'amp' or 'pure', got {precision!r}")
    if precision == "amp":
        graph = mixed_precision(graph)
    bw = _Backward(graph, grad_accum)
    if sparse_embeddings is None:
        sparse_embeddings = bool(graph.attrs.get("sparse_embeddings", False))
    bw.sparse = _sparse_tables(graph) if sparse_embeddings else set()
    bw.run()
    bw.optimizer(optimizer)
    bw.g.attrs.update({"optimizer": optimizer, "grad_accum": grad_accum, "precision": precision,
                       "forward_ops": len(graph)})
    return bw.g
