"""From raw trace records to a Graph, folding repeated loop iterations into attrs["repeat"].

The rule. A *block* is a run of L consecutive items (records, or loops already folded). Two
adjacent blocks A, B (B starts where A ends) are *identical* when, item by item:
  1. the weak signatures agree: kind, attrs (including the source line), input and output
     shapes and dtypes, and which inputs of an op are the same tensor (so deduplicated bytes
     agree); a folded loop's signature is its count and its body's signatures;
  2. the dataflow agrees: each input pair is the same tensor (a loop invariant), or two
     tensors produced at the same offset from their block's start (intra-block or carried
     from earlier iterations), or two producer-less tensors made inside the trace (fresh
     constants, np.empty_like: matched by shape and dtype).
Scanning left to right, at each item the candidate periods are the distances to the next few
items with the same signature; a period is taken when at least two identical adjacent blocks
follow, and the candidate covering the most items wins. The run of k identical blocks becomes
one loop: its first block is kept (with the tensors it really reads) and every op in it gets
attrs["repeat"] multiplied by k. Passes repeat until nothing folds, then loop bodies are folded
the same way (nested loops). Consumers of a folded iteration's outputs read the kept block's.

An op after a loop that reads the outputs of two different iterations (np.stack of every
step's state, or `a*b - c*d` where the two products folded) reads the kept op's output once
and, for each other iteration, a producer-less stand-in tensor named `<kept>@<original>` of
the same shape, so its bytes stay those of the unfolded trace.

Because only ops with identical kinds, attrs and shapes are folded, flops and bytes are exact;
`to_graph` checks the totals against the unfolded records and falls back to no folding if they
ever differ (attrs["aggregation"] says which happened).
"""
from __future__ import annotations

from bisect import bisect_right

from archsim.graph.graph import Graph
from archsim.graph.op import Op
from archsim.trace.tracer import Record, Tracer

_CANDIDATES = 8


def _freeze(v):
    if isinstance(v, dict):
        return tuple(sorted((k, _freeze(x)) for k, x in v.items()))
    if isinstance(v, (list, tuple)):
        return tuple(_freeze(x) for x in v)
    return v


class _Loop:
    __slots__ = ("body", "count", "span", "sig")

    def __init__(self, body: list, count: int, span: int, sig: int):
        self.body, self.count, self.span, self.sig = body, count, span, sig


class _Folder:
    def __init__(self, tracer: Tracer):
        self.tr = tracer
        self.records = tracer.records
        self.producer = tracer.producer
        self.ephemeral = tracer.ephemeral
        self.alias: dict[str, str] = {}
        self._intern: dict = {}
        self.rsig = [self._sig_of(r) for r in self.records]

    def _id(self, key) -> int:
        return self._intern.setdefault(key, len(self._intern))

    def _sig_of(self, r: Record) -> int:
        names = [t.name for t in r.inputs]
        pattern = tuple(names.index(n) for n in names)
        return self._id((r.kind, _freeze(r.attrs),
                         tuple((t.shape, t.dtype) for t in r.inputs),
                         tuple((t.shape, t.dtype) for t in r.outputs), pattern))

    # ---- items ----------------------------------------------------------------------------
    def sig(self, it) -> int:
        return self.rsig[it] if isinstance(it, int) else it.sig

    @staticmethod
    def span(it) -> int:
        return 1 if isinstance(it, int) else it.span

    def leaf_pairs(self, a, b, out):
        if isinstance(a, int):
            out.append((a, b))
        else:
            for x, y in zip(a.body, b.body):
                self.leaf_pairs(x, y, out)

    def same_dataflow(self, seq, i, j, L, starts) -> bool:
        ra, rb = starts[i], starts[j]
        pairs: list = []
        for k in range(L):
            self.leaf_pairs(seq[i + k], seq[j + k], pairs)
        recs, prod = self.records, self.producer
        for a, b in pairs:
            for ta, tb in zip(recs[a].inputs, recs[b].inputs):
                na, nb = ta.name, tb.name
                if na == nb:
                    continue
                pa, pb = prod.get(na), prod.get(nb)
                if pa is None or pb is None:
                    if pa is None and pb is None and na in self.ephemeral and nb in self.ephemeral:
                        continue
                    return False
                if pa[1] != pb[1] or pa[0] - ra != pb[0] - rb:
                    return False
        return True

    def map_instance(self, rep, inst) -> None:
        pairs: list = []
        for x, y in zip(rep, inst):
            self.leaf_pairs(x, y, pairs)
        recs = self.records
        for a, b in pairs:
            for ta, tb in zip(recs[a].outputs, recs[b].outputs):
                self.alias[tb.name] = ta.name

    # ---- folding --------------------------------------------------------------------------
    def one_pass(self, seq: list, s0: int) -> tuple[list, bool]:
        n = len(seq)
        sigs = [self.sig(it) for it in seq]
        starts = []
        pos = s0
        for it in seq:
            starts.append(pos)
            pos += self.span(it)
        where: dict[int, list[int]] = {}
        for i, s in enumerate(sigs):
            where.setdefault(s, []).append(i)
        out: list = []
        changed = False
        i = 0
        while i < n:
            occ = where[sigs[i]]
            k0 = bisect_right(occ, i)
            best = None
            for j in occ[k0:k0 + _CANDIDATES]:
                L = j - i
                if j + L > n:
                    break
                if sigs[i:j] != sigs[j:j + L] or not self.same_dataflow(seq, i, j, L, starts):
                    continue
                k = 2
                while (i + (k + 1) * L <= n and sigs[i + k * L:i + (k + 1) * L] == sigs[i:j]
                       and self.same_dataflow(seq, i + (k - 1) * L, i + k * L, L, starts)):
                    k += 1
                if best is None or k * L > best[0] * best[1]:
                    best = (k, L)
            if best is None:
                out.append(seq[i])
                i += 1
                continue
            k, L = best
            body = seq[i:i + L]
            for m in range(1, k):
                self.map_instance(body, seq[i + m * L:i + (m + 1) * L])
            span = sum(self.span(it) for it in body)
            sig = self._id(("loop", k, tuple(sigs[i:i + L])))
            out.append(_Loop(body, k, span * k, sig))
            changed = True
            i += k * L
        return out, changed

    def fold(self, seq: list, s0: int) -> list:
        changed = True
        while changed:
            seq, changed = self.one_pass(seq, s0)
        pos = s0
        for it in seq:
            if isinstance(it, _Loop):
                it.body = self.fold(it.body, pos)
            pos += self.span(it)
        return seq

    def resolve(self, name: str) -> str:
        seen = 0
        while name in self.alias and seen < 10_000:
            name = self.alias[name]
            seen += 1
        return name


def _op(r: Record, inputs, attrs=None) -> Op:
    return Op(r.name, r.kind, tuple(inputs), r.outputs, attrs if attrs is not None else r.attrs)


def _totals(ops) -> tuple[int, int]:
    return sum(o.flops for o in ops), sum(o.bytes for o in ops)


def to_graph(tracer: Tracer, aggregate: bool = True, attrs: dict | None = None) -> Graph:
    """The Graph of a finished trace (see the module docstring for the folding rule)."""
    raw = [_op(r, r.inputs) for r in tracer.records]
    g_attrs = dict(attrs or {})
    g_attrs["raw_ops"] = len(raw)
    if aggregate and raw:
        folder = _Folder(tracer)
        tree = folder.fold(list(range(len(raw))), 0)
        ops, loops = [], {}
        specs = tracer.specs

        def emit(items, mult, path, parent):
            for it in items:
                if isinstance(it, int):
                    r = tracer.records[it]
                    ins, used = [], {}
                    for t in r.inputs:
                        res = folder.resolve(t.name)
                        if used.setdefault(res, t.name) != t.name:
                            # two iterations' outputs read by one op: keep them distinct
                            ins.append(t.with_(name=f"{res}@{t.name}"))
                        else:
                            ins.append(specs[res])
                    a = dict(r.attrs)
                    if mult > 1:
                        a["repeat"] = mult
                        a["loops"] = path
                    ops.append(_op(r, ins, a))
                else:
                    lid = f"loop{len(loops)}"
                    loops[lid] = {"count": it.count, "parent": parent, "first_op": None}
                    n0 = len(ops)
                    emit(it.body, mult * it.count, path + (lid,), lid)
                    loops[lid]["ops"] = len(ops) - n0
                    loops[lid]["first_op"] = ops[n0].name if len(ops) > n0 else None
        emit(tree, 1, (), None)
        if _totals(ops) == _totals(raw):
            g_attrs["aggregation"] = "folded"
            g_attrs["loops"] = loops
            return _build(tracer.name, ops, g_attrs)
        g_attrs["aggregation"] = "unfolded (folding changed the totals; kept the raw trace)"
    else:
        g_attrs["aggregation"] = "off" if not aggregate else "folded"
        g_attrs["loops"] = {}
    return _build(tracer.name, raw, g_attrs)


def _build(name: str, ops, attrs) -> Graph:
    g = Graph(name, attrs)
    for op in ops:
        g.add_op(op)
    return g

