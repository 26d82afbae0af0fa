"""LookupFFN (Zeng, Davies, Pulijala, Sankaralingam, Singh, ICML 2023; papers.md §3) as graphs.

`lookupffn(...)` is one feed-forward block on [tokens, hidden]: the LookupFFN (projection,
code/score, gather-add) or, with ffn='dense', the dense FFN it replaces (hidden -> 4·hidden ->
hidden, GELU as its own kernel as in transformers.py). `roberta-small(ffn='lookup', ...)`
(transformers.py) puts the same block in every layer.

Graph of the lookup block (h tables, τ bits, D = hidden padded to a power of two,
r = ceil(h·τ / D) repeats):
- projection 'bh4': per repeat, four times: a block-diagonal GEMM (D/64 blocks of 64 x 64, one
  batched `gemm` op) and an `fwht`; then one elementwise 'bh4_mix' = 0.7·BH4 + 0.3·x + bias
  (a `concat` first when r > 1); 'dense': one `linear` hidden -> h·τ;
- `code_score`: codes [tokens, h] (int32) and scores [tokens, h];
- `gather_add`: y = Σ_k score_k · T_k[code_k] + bias over tables T [h, 2^τ, hidden].

The rows the gathers touch are the rows actually drawn: the builder runs the numpy layer
(solvers.lookupffn) on seeded N(0, 1) tokens (LayerNorm outputs have unit variance) with a
seeded random layer and counts, from the codes, the distinct (table, row) pairs
(`rows_drawn`, the op's compulsory bytes), the lookups, and the distinct rows per tile of
`tile` tokens (`tile_rows`, what a table-major tiled kernel fetches). `order` picks the
gather-add's loop order: 'token' (token-major, naive) or 'table' (tiles of `tile` tokens
sweeping one table at a time).
"""
from __future__ import annotations

import functools
import math

import numpy as np

from archsim.graph import Graph, GraphBuilder, Op, TensorSpec, register_workload
from archsim.errors import WorkloadError
from solvers.lookupffn.kernels import row_stats
from solvers.lookupffn.layer import BLOCK, FACTORS, LookupFFN, codes_and_scores

from workloads._common import check_positive

PROJECTIONS = ("bh4", "dense")
ORDERS = ("token", "table")
_STATS_CHUNK = 8192   # tokens projected at a time when counting rows


@functools.lru_cache(maxsize=64)
def draw_stats(tokens: int, hidden: int, tables: int, bits: int, projection: str, tile: int,
               seed: int) -> dict[str, int]:
    """Row statistics of the codes a seeded random layer gives seeded N(0,1) tokens."""
    rng = np.random.default_rng(seed)
    layer = LookupFFN.init(hidden, tables, bits, projection, rng, dtype=np.float32)
    codes = np.empty((tokens, tables), dtype=np.int64)
    for s in range(0, tokens, _STATS_CHUNK):
        e = min(s + _STATS_CHUNK, tokens)
        x = rng.standard_normal((e - s, hidden), dtype=np.float32)
        codes[s:e] = codes_and_scores(layer.project(x), tables, bits)[0]
    return row_stats(codes, 1 << bits, tile)


def _check(ffn: str, projection: str, order: str, tables: int, table_bits: int, tile: int) -> None:
    if ffn not in ("lookup", "dense"):
        raise WorkloadError(f"parameter ffn must be 'lookup' or 'dense', got {ffn!r}")
    if projection not in PROJECTIONS:
        raise WorkloadError(f"parameter projection must be one of {PROJECTIONS}, got {projection!r}")
    if order not in ORDERS:
        raise WorkloadError(f"parameter order must be one of {ORDERS}, got {order!r}")
    check_positive(tables=tables, table_bits=table_bits, tile=tile)
    if table_bits > 24:
        raise WorkloadError(f"parameter table_bits={table_bits}: at most 24 (2^24-row tables)")


def dense_ffn_block(b: GraphBuilder, x: TensorSpec, ffn_hidden: int) -> TensorSpec:
    """Linear hidden -> ffn_hidden, GELU (its own kernel), Linear back."""
    h = b.gelu(b.linear(x, ffn_hidden, name="ffn_up"), name="gelu")
    return b.linear(h, x.shape[-1], name="ffn_down")


def lookup_ffn_block(b: GraphBuilder, x: TensorSpec, tables: int, table_bits: int,
                     projection: str = "bh4", order: str = "token", tile: int = 64,
                     seed: int = 0) -> TensorSpec:
    """The LookupFFN on x[tokens, hidden] -> [tokens, hidden] (see the module docstring)."""
    tokens, hidden = x.shape
    code_dim = tables * table_bits
    with b.scope("lookup"):
        if projection == "dense":
            z = b.linear(x, code_dim, name="proj")
        else:
            D = max(1 << math.ceil(math.log2(hidden)), BLOCK)
            r, nb = max(1, math.ceil(code_dim / D)), D // BLOCK
            xp = x if D == hidden else _pad(b, x, D)
            outs = []
            for i in range(r):
                u = xp
                for f in range(FACTORS):
                    w = b.param(f"bh4.r{i}.f{f}", (nb, BLOCK, BLOCK), x.dtype)
                    opname = b._name("bh4_block")
                    out = TensorSpec(opname + ":out", (tokens, D), x.dtype)
                    b.graph.add_op(Op(opname, "gemm", (u, w), (out,),
                                      {"M": tokens, "N": BLOCK, "K": BLOCK, "batch": nb,
                                       "block_diagonal": True}))
                    u = b.fwht(out)
                outs.append(u)
            zc = outs[0] if r == 1 else b.concat(outs, axis=-1, name="bh4_concat")
            bias = b.param("proj.bias", (code_dim,), x.dtype)
            zfull = b._emit("elementwise", (zc, xp, bias), (tokens, code_dim), x.dtype,
                            "bh4_mix", fn="bh4_mix")
            z = zfull
        codes, scores = b.code_score(z, tables, table_bits)
        T = b.param("tables", (tables, 1 << table_bits, hidden), x.dtype)
        bias_y = b.param("bias", (hidden,), x.dtype)
        st = draw_stats(tokens, hidden, tables, table_bits, projection, tile, seed)
        return b.gather_add(T, codes, scores, st["distinct"], extra_inputs=(bias_y,),
                            order=order, tile=tile, lookups=st["lookups"],
                            tile_rows=st["tile_distinct"], seed=seed)


def _pad(b: GraphBuilder, x: TensorSpec, D: int) -> TensorSpec:
    """Zero-pad the feature axis to D (a copy into a wider buffer)."""
    opname = b._name("pad")
    out = TensorSpec(opname + ":out", (x.shape[0], D), x.dtype)
    b.graph.add_op(Op(opname, "copy", (x,), (out,), {"fn": "pad"}))
    return out


@register_workload("lookupffn", "one LookupFFN block (BH4/dense projection, sign-LSH codes, "
                                "score-weighted gather-add), or ffn='dense' for the dense FFN")
def lookupffn(tokens: int = 32768, hidden: int = 512, ffn: str = "lookup", tables: int = 128,
              table_bits: int = 8, projection: str = "bh4", ffn_hidden: int = 2048,
              order: str = "token", tile: int = 64, dtype: str = "fp32", seed: int = 0,
              part: str = "layer") -> Graph:
    """part='layer' (the whole block) or 'gather' (the gather-add alone, its codes and scores
    as inputs: the kernel the naive/tiled comparison times)."""
    check_positive(tokens=tokens, hidden=hidden, ffn_hidden=ffn_hidden)
    _check(ffn, projection, order, tables, table_bits, tile)
    if part not in ("layer", "gather"):
        raise WorkloadError(f"parameter part must be 'layer' or 'gather', got {part!r}")
    b = GraphBuilder("lookupffn" if ffn == "lookup" else "dense-ffn", dtype,
                     {"family": "ffn", "tokens": tokens, "hidden": hidden, "ffn": ffn,
                      "tables": tables, "table_bits": table_bits, "projection": projection,
                      "order": order, "tile": tile})
    if ffn == "dense":
        dense_ffn_block(b, b.input("x", (tokens, hidden)), ffn_hidden)
    elif part == "gather":
        codes = b.index("codes", (tokens, tables), "int32")
        scores = b.input("scores", (tokens, tables))
        T = b.param("tables", (tables, 1 << table_bits, hidden))
        st = draw_stats(tokens, hidden, tables, table_bits, projection, tile, seed)
        b.gather_add(T, codes, scores, st["distinct"], order=order, tile=tile,
                     lookups=st["lookups"], tile_rows=st["tile_distinct"], seed=seed)
    else:
        lookup_ffn_block(b, b.input("x", (tokens, hidden)), tables, table_bits, projection,
                         order, tile, seed)
    return b.build()


def ffn_flops(graph: Graph) -> dict[str, int]:
    """FLOPs by class, the way the LookupFFN paper counts them: 'matmul' (2 per multiply-add of
    every GEMM, epilogues excluded), 'fwht' (n·log2 n), 'gather_add' (2 per element of every row
    drawn); 'paper' is their sum; 'other' is everything else the graph counts (bias and GELU
    epilogues and kernels, code/score, the BH4 mix); 'all' = graph.flops."""
    out = {"matmul": 0, "fwht": 0, "gather_add": 0}
    for op in graph.ops:
        if op.kind == "gemm":
            a = op.attrs
            out["matmul"] += 2 * a.get("batch", 1) * a["M"] * a["N"] * a["K"] * op.repeat
        elif op.kind in ("fwht", "gather_add"):
            out[op.kind] += op.flops
    out["paper"] = out["matmul"] + out["fwht"] + out["gather_add"]
    out["all"] = graph.flops
    out["other"] = out["all"] - out["paper"]
    return out


def lookup_block_factory(ffn: str, tables: int, table_bits: int, projection: str, order: str,
                         tile: int):
    """For transformers.py: layer index -> ffn_block(b, h), one seeded layer per index."""
    _check(ffn, projection, order, tables, table_bits, tile)
    return lambda i: (lambda b, h: lookup_ffn_block(b, h, tables, table_bits, projection,
                                                     order, tile, seed=i))


# ------------------------------------------------------------- the programs numpy runs
# benchmarks/lookupffn_measure.py times numpy kernels on this machine; to predict them, the
# simulator must be given the program numpy executes — one op per numpy call, numpy's staging
# buffers and passes, the rows the codes actually draw — not the compiled kernel the
# `lookupffn(...)` graphs describe. Run these with cores.call_overhead set to numpy's per-call
# dispatch (measured by that script). Not registered as workloads: they take the codes.

def _inplace(b: GraphBuilder, out: TensorSpec, over: TensorSpec) -> TensorSpec:
    """Mark the op just emitted as writing `out` over `over` (numpy's `out=` / `a += b`):
    attrs["inplace"] maps the output to the buffer it overwrites (the convention of
    archsim.graph.training); the CPU lowering gives it that buffer's memory."""
    b.graph.ops[-1].attrs["inplace"] = {out.name: over.name}
    return out


def numpy_dense_program(tokens: int, hidden: int = 512, ffn_hidden: int = 2048,
                        dtype: str = "fp32") -> Graph:
    """solvers.lookupffn.dense.dense_ffn_inplace: u = x@W1 (fresh), u += b1, gelu_inplace
    (t = u*u fresh, then t *= u, t *= c, t += u, t *= C, tanh(t, out=t), t += 1, u *= t,
    u *= 0.5: all in place), y = u@W2 (fresh), y += b2. The in-place passes are marked
    attrs["inplace"], so the program's buffers are numpy's: three fresh allocations."""
    b = GraphBuilder("numpy-dense-ffn", dtype, {"family": "ffn", "tokens": tokens})
    x = b.input("x", (tokens, hidden))
    w1, w2 = b.param("w1", (hidden, ffn_hidden)), b.param("w2", (ffn_hidden, hidden))
    b1, b2 = b.param("b1", (ffn_hidden,)), b.param("b2", (hidden,))
    u0 = b.matmul(x, w1, name="up")
    u = _inplace(b, b.elementwise("add", u0, b1, name="bias1"), u0)
    t0 = b.mul(u, u, name="u2")
    t = _inplace(b, b.mul(t0, u, name="u3"), t0)
    for fn, name in (("scale", "c3"), ("add", "inner"), ("scale", "cscale"), ("tanh", "tanh"),
                     ("scale", "plus1")):
        t = _inplace(b, b.elementwise(fn, t, u, name=name) if fn == "add"
                     else b.elementwise(fn, t, name=name), t)
    u = _inplace(b, b.mul(u, t, name="ut"), u)
    u = _inplace(b, b.elementwise("scale", u, name="half"), u)
    y0 = b.matmul(u, w2, name="down")
    _inplace(b, b.elementwise("add", y0, b2, name="bias2"), y0)
    return b.build()


def numpy_elementwise_program(fn: str | None, n: int, reps: int, dtype: str = "fp32") -> Graph:
    """The elementwise calibration kernel of benchmarks/lookupffn_measure.py: `reps` times,
    np.copyto(a, base) then fn(a, out=a) over n elements (fn None: the copies alone, which the
    measurement subtracts)."""
    b = GraphBuilder(f"numpy-{fn or 'copy'}", dtype, {"n": n})
    base = b.input("base", (n,))
    for r in range(reps):
        a = b.copy(base, name=f"copy{r}")
        if fn is not None:
            _inplace(b, b.elementwise(fn, a, name=f"{fn}{r}"), a)
    return b.build()


def _gather_call(b: GraphBuilder, table: TensorSpec, rows: np.ndarray, name: str) -> TensorSpec:
    """np.take of `rows` (flat row indices of `table`) into a buffer: a gather op that replays
    exactly those rows."""
    idx = b.index(f"{name}_idx", (len(rows),))
    out = b.gather(table, idx, name=name)
    b.graph.ops[-1].attrs["indices"] = np.asarray(rows, dtype=np.int64)
    return out


def numpy_gather_program(order: str, codes: np.ndarray, rows: int, hidden: int = 512,
                         chunk: int = 64, tiles: int | None = None,
                         dtype: str = "fp32") -> Graph:
    """solvers.lookupffn.kernels' numpy gather-adds over tables [h, rows, hidden] for the given
    codes [tokens, h].
    - order='token' (gather_add_token_major, `chunk` tokens a call): per chunk the flat row
      indices (one int op), np.take of chunk·h rows into a staging buffer [chunk·h, hidden]
      (reused), the scores' astype copy, and one batched matmul [chunk, 1, h] @ [chunk, h,
      hidden] into the output rows.
    - order='table' (gather_add_table_major, tiles of `chunk` tokens): per tile, acc[:] = 0;
      per table, np.take of the tile's rows of that table into a [tile, hidden] buffer, the
      score multiply, and acc += rows. `tiles` (default all) simulates the first tiles only:
      three calls per (tile, table) are 196,608 ops at 32768 tokens x 128 tables."""
    if order not in ORDERS:
        raise WorkloadError(f"parameter order must be one of {ORDERS}, got {order!r}")
    n, h = codes.shape
    b = GraphBuilder(f"numpy-gather-{order}", dtype, {"family": "ffn", "tokens": n})
    T = b.param("tables", (h * rows, hidden))
    flat = codes.astype(np.int64) + rows * np.arange(h, dtype=np.int64)[None, :]
    starts = range(0, n, chunk)
    if order == "token":
        for s in starts:
            e = min(s + chunk, n)
            c = b.index(f"codes{s}", (e - s, h))
            b.elementwise("add", c, name="idx")           # hidx + codes[s:e]
            staged = _gather_call(b, T, flat[s:e].ravel(), "take")
            sc = b.copy(b.input(f"scores{s}", (e - s, 1, h)), name="astype")
            b.matmul(sc, b.view(staged, (e - s, h, hidden)), name="reduce")
        return b.build()
    for j, s in enumerate(starts):
        if tiles is not None and j >= tiles:
            break
        e = min(s + chunk, n)
        acc = b._emit("elementwise", (), (e - s, hidden), dtype, "zero", fn="identity")
        sc = b.input(f"scores{s}", (e - s, 1))
        for k in range(h):
            buf = _gather_call(b, T, flat[s:e, k], "take")
            rows_ = _inplace(b, b.mul(buf, sc, name="score"), buf)        # rows *= sc
            acc = _inplace(b, b.add(acc, rows_, name="acc"), acc)         # acc += rows
    return b.build()


def numpy_gather_accumulate_program(indices: np.ndarray, rows: int, hidden: int = 512,
                                    chunk: int = 64, dtype: str = "fp32") -> Graph:
    """The calibration kernel of benchmarks/lookupffn_measure.py: calls of np.take of `chunk`
    rows of one [rows, hidden] table into a buffer, each followed by acc += buffer
    (len(indices) a multiple of chunk)."""
    if len(indices) % chunk:
        raise WorkloadError(f"{len(indices)} indices are not a whole number of {chunk}-row calls")
    b = GraphBuilder("numpy-gather-accumulate", dtype, {"rows": rows})
    T = b.param("table", (rows, hidden))
    acc = b._emit("elementwise", (), (chunk, hidden), dtype, "zero", fn="identity")
    for s in range(0, len(indices), chunk):
        buf = _gather_call(b, T, indices[s:s + chunk], "take")
        acc = _inplace(b, b.add(acc, buf, name="acc"), acc)               # acc += buf
    return b.build()
