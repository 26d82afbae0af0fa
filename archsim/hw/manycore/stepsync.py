"""Step-synchronous execution of a MeshProgram (UPCYCLE's own method, papers.md section 2).

Per op (a layer), every step gives each active tile one work item. For each step the model:
1. looks each tile's A and B blocks up in its L1 (`BlockCache`); misses are grouped by L2 group
   and looked up in the group's L2; L2 misses are fetched from the LLC slices;
2. routes the step's traffic on the mesh (`traffic`: L2 -> L1 multicast within groups, LLC -> L2
   multicast across groups, finished outputs to the LLC) and takes the load of the most-loaded
   link or local port;
3. fetch time = most-loaded link bytes / link bytes per cycle + the longest route's hops x hop
   latency (LLC leg, then L2 leg) + the bank latencies; compute time = the work item's vector
   MAC instructions (or L1 line reads over the read ports, if more).

Step s's operands are prefetched during step s-1, so the op's on-chip time is
`fetch[0] + sum_s max(compute[s], fetch[s+1])`. Off-chip: the LLC (tensor granularity) says which
bytes an op reads from and writes to HBM; the op's time is max(on-chip, off-chip bytes / HBM
bandwidth) plus one HBM latency when it touches HBM. Ops run one after another (a barrier per
layer, costed as a gather-and-release round trip across the mesh). An op repeated n times (an LSTM's recurrent GEMM) runs twice — the second time with the
caches the first left — and counts n-1 times the second.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from archsim.hw.manycore import traffic
from archsim.hw.manycore.caches import BlockCache, TensorLlc, TileLrus
from archsim.hw.manycore.geometry import MeshGeometry
from archsim.hw.manycore.routing import LinkLoads, link_loads
from archsim.lower.mesh import ACC_BYTES, MachineShape, MeshOp, item_cycles, place, wave_items

DEFAULT_SAMPLES = 32   # lines routed per block on the LLC read leg (see traffic.py)
WRITE_SAMPLES = 8      # lines routed per output block on the LLC write leg


@dataclass
class OpTiming:
    """One op's result in the step-synchronous model (one repetition unless stated)."""
    cycles: float = 0.0              # all repetitions
    onchip_cycles: float = 0.0
    offchip_cycles: float = 0.0
    compute_cycles: float = 0.0      # sum over steps of the step's compute
    fetch_cycles: float = 0.0        # sum over steps of the step's mesh fetch time
    steps: int = 0
    bound: str = ""
    counters: dict = field(default_factory=dict)


class ManycoreState:
    """Runtime state of the chip between ops: caches and the address map of operand blocks."""

    def __init__(self, cfg, geom: MeshGeometry) -> None:
        self.l1 = TileLrus(geom.tiles, cfg.l1.size)
        self.l2 = [BlockCache(cfg.l2.size) for _ in range(geom.groups)]
        self.llc = TensorLlc(cfg.llc.size)
        self._bases: dict[tuple, int] = {}
        self._next_line = 0

    def base(self, key: tuple, lines: int) -> int:
        """First line address of a region (an op's A, B or output blocks), allocated once."""
        if key not in self._bases:
            self._bases[key] = self._next_line
            self._next_line += lines
        return self._bases[key]


def _add(c: dict, k: str, v: float) -> None:
    c[k] = c.get(k, 0) + v


class StepSyncModel:
    def __init__(self, cfg, samples: int = DEFAULT_SAMPLES,
                 write_samples: int = WRITE_SAMPLES, seed: int = 0) -> None:
        self.cfg = cfg
        self.geom = MeshGeometry.from_config(cfg)
        self.shape = MachineShape.from_config(cfg)
        self.state = ManycoreState(cfg, self.geom)
        self.samples = samples
        self.write_samples = write_samples
        self.rng = np.random.default_rng(seed)
        self.line = cfg.line
        self._roles = ("A", "B")

    # -------------------------------------------------------------------- one step's fetch
    def _fetch(self, op_id: int, role: str, tiles: np.ndarray, keys: np.ndarray, nbytes: int,
               nblocks: int, c: dict):
        """Look blocks up in L1 then L2; return the (L2->L1, LLC->L2) flows and bytes fetched
        from the LLC."""
        geom, st, line = self.geom, self.state, self.line
        lines = max(1, math.ceil(nbytes / line))
        base0 = st.base((op_id, role), lines * nblocks)
        # blocks of different ops and roles never alias: each (op, role) has its own key space
        prefix = (op_id * 8 + "ABRXY".index(role)) << 40
        miss = ~st.l1.access(tiles, keys + prefix, nbytes)
        n_miss = int(miss.sum())
        _add(c, "l1_block_hits", tiles.size - n_miss)
        _add(c, "l1_block_misses", n_miss)
        if not n_miss:
            return None, None, 0
        mt = tiles[miss]
        mk = keys[miss]
        mg = geom.group_of(mt)
        pair_key = mk * geom.groups + mg
        uniq, inv = np.unique(pair_key, return_inverse=True)
        order = np.argsort(inv, kind="stable")
        ptr = np.zeros(uniq.size + 1, np.int64)
        np.cumsum(np.bincount(inv, minlength=uniq.size), out=ptr[1:])
        dst = mt[order]
        p_key = uniq // geom.groups
        p_grp = uniq % geom.groups
        p_base = base0 + p_key * lines
        _add(c, "l1_fill_lines", n_miss * lines)
        _add(c, "l2_accesses", uniq.size * lines)
        l2 = st.l2
        l2_miss = [i for i, (g, k) in enumerate(zip(p_grp.tolist(), p_key.tolist()))
                   if not l2[g].access(k + prefix, nbytes)]
        _add(c, "l2_block_hits", uniq.size - len(l2_miss))
        _add(c, "l2_block_misses", len(l2_miss))
        f_l2 = self._route([traffic.l2_to_l1(geom, p_grp, p_base, np.full(uniq.size, lines),
                                             ptr, dst, line)], self.cfg.noc.multicast, "l2")
        if not l2_miss:
            return f_l2, None, 0
        mk2 = p_key[l2_miss]
        mg2 = p_grp[l2_miss]
        ukeys, kinv = np.unique(mk2, return_inverse=True)
        korder = np.argsort(kinv, kind="stable")
        kptr = np.zeros(ukeys.size + 1, np.int64)
        np.cumsum(np.bincount(kinv, minlength=ukeys.size), out=kptr[1:])
        _add(c, "l2_accesses", len(l2_miss) * lines)      # fills
        _add(c, "llc_accesses", ukeys.size * lines)       # one read per line, multicast
        f_llc = traffic.llc_to_l2(geom, base0 + ukeys * lines, np.full(ukeys.size, lines), kptr,
                                  mg2[korder], line, self.samples, self.rng)
        return f_l2, f_llc, ukeys.size * lines * line

    def _route(self, flows: list, multicast: bool, phase: str = "") -> LinkLoads | None:
        """Link loads of a list of CSR flow batches, routed together."""
        flows = [f for f in flows if f is not None and f[0].size]
        if not flows:
            return None
        if len(flows) == 1:
            return link_loads(self.geom, *flows[0], multicast=multicast)
        ptrs, off = [np.zeros(1, np.int64)], 0
        for f in flows:
            ptrs.append(f[1][1:] + off)
            off += f[1][-1]
        return link_loads(self.geom, np.concatenate([f[0] for f in flows]), np.concatenate(ptrs),
                          np.concatenate([f[2] for f in flows]),
                          np.concatenate([f[3] for f in flows]), multicast=multicast)

    def _step(self, op: MeshOp, op_id: int, tiles, a_keys, b_keys, n_blocks_a, n_blocks_b,
              w_tiles, w_keys, w_bytes, n_out_blocks, compute: float, c: dict, fetched: dict):
        """Fetch time (cycles) of one step; updates counters."""
        cfg, geom = self.cfg, self.geom
        mc = cfg.noc.multicast
        total = LinkLoads.zeros(geom)
        hops_l2 = hops_llc = 0
        l2_flows, llc_flows = [], []
        ra, rb = self._roles
        for role, keys, nbytes, nb in ((getattr(op, "a_role", ra), a_keys, op.a_bytes, n_blocks_a),
                                       ("B" if rb is None else rb, b_keys, op.b_bytes, n_blocks_b)):
            if keys is None or nbytes <= 0:
                continue
            f_l2, f_llc, from_llc = self._fetch(op_id, role, tiles, keys, nbytes, nb, c)
            fetched[role] = fetched.get(role, 0) + from_llc
            l2_flows.append(f_l2)
            llc_flows.append(f_llc)
        any_l2 = False
        for ld in l2_flows:            # already routed in _fetch
            if ld is not None:
                total += ld
                hops_l2 = max(hops_l2, ld.max_hops)
                any_l2 = True
        ld = self._route(llc_flows, mc, "llc")
        any_llc = ld is not None
        if any_llc:
            total += ld
            hops_llc = ld.max_hops
        if w_tiles is not None and w_tiles.size:
            lines = max(1, math.ceil(w_bytes / self.line))
            base0 = self.state.base((op_id, "out"), lines * n_out_blocks)
            f = traffic.writes_to_llc(geom, w_tiles, base0 + w_keys * lines,
                                      np.full(w_tiles.size, lines), self.line, self.write_samples,
                                      self.rng)
            ld = self._route([f], False, "write")
            if ld is not None:
                total += ld
            _add(c, "llc_accesses", w_tiles.size * lines)
            _add(c, "l1_accesses", w_tiles.size * lines)   # the block read out of L1
        h = cfg.noc.hop_latency
        latency = (hops_llc * h + cfg.llc.latency if any_llc else 0) + \
            (hops_l2 * h + cfg.l2.latency if any_l2 else 0)
        mesh = self._mesh_cycles(total, latency)
        _add(c, "byte_hops", total.byte_hops())
        _add(c, "max_link_bytes", total.max_link())
        c["peak_link_bytes"] = max(c.get("peak_link_bytes", 0.0), total.max_link())
        _add(c, "steps", 1)
        return mesh

    def _mesh_cycles(self, total: LinkLoads, latency: float) -> float:
        """The step's fetch time: the most-loaded link's bytes at link speed, plus latency."""
        return total.max_link() / self.cfg.noc.link_bytes_per_cycle + latency

    # -------------------------------------------------------------------- one op
    def _run_once(self, op: MeshOp, op_id: int, rep: int = 0) -> OpTiming:
        geom, shape = self.geom, self.shape
        T = geom.tiles
        c: dict = {}
        fetched: dict = {}
        fetch, comp = [], []
        item = item_cycles(shape, op.vector_ops, op.l1_line_reads)
        # a later repetition reads new activations (an LSTM's h_t is not h_t-1): operands that
        # are not weights get fresh block keys, so only weights can hit in the caches
        roles = {name: role for name, _, role in op.reads}
        fresh = lambda t: rep > 0 and roles.get(t) != "param"  # noqa: E731
        self._roles = ("X" if fresh(op.a_tensor) else "A",
                       "Y" if op.b_tensor and fresh(op.b_tensor) else "B")
        ib, jb, kbn = op.i_blocks, op.j_blocks, op.k_blocks
        n_a = op.G * ib * (kbn if op.a_follows_k else 1)
        n_b = (1 if op.b_shared else op.G) * kbn * jb
        n_out = op.G * ib * jb * op.splitk
        out_bytes = op.out_bytes if op.splitk == 1 else op.mb * op.nb * ACC_BYTES
        for wave in range(op.waves(T)):
            g, bi, bj, part = wave_items(op, wave, T)
            tiles = place(g.size, geom.rows, geom.cols, self.cfg.lowering.placement)
            out_key = ((g * ib + bi) * jb + bj) * op.splitk + part
            for ks in range(op.k_steps):
                kk = part * op.k_steps + ks
                valid = kk < kbn
                if not valid.any():
                    continue
                t = tiles[valid]
                a_keys = (g * ib + bi)[valid] * (kbn if op.a_follows_k else 1) + \
                    (kk[valid] if op.a_follows_k else 0)
                b_keys = None
                if op.b_tensor is not None and op.b_bytes:
                    gb = 0 if op.b_shared else g[valid]
                    b_keys = (gb * kbn + kk[valid]) * jb + bj[valid]
                done = valid & ((ks == op.k_steps - 1) | (kk == kbn - 1))
                n = int(valid.sum())
                _add(c, "work_items", n)
                _add(c, "macs", n * op.macs)
                _add(c, "vector_ops", n * op.vector_ops)
                _add(c, "l1_accesses", n * op.l1_line_reads)
                f = self._step(op, op_id, t, a_keys, b_keys, n_a, n_b, tiles[done],
                               out_key[done], out_bytes, n_out, item, c, fetched)
                fetch.append(f)
                comp.append(item)
            if op.splitk > 1:   # reduction: part-0 tiles read the other parts' partial sums
                owners = part == 0
                red_tiles = tiles[owners]
                red_keys = ((g * ib + bi) * jb + bj)[owners]
                sub = _ReductionOp(op)
                V = max(1, shape.vector_bytes // ACC_BYTES)
                red_item = op.splitk * math.ceil(op.mb * op.nb / V)
                keys = red_keys * op.splitk
                f = self._step(sub, op_id, red_tiles, keys, None, n_out, 0, red_tiles, red_keys,
                               op.out_bytes, n_out // op.splitk, red_item, c, fetched)
                _add(c, "vector_ops", red_tiles.size * red_item)
                fetch.append(f)
                comp.append(red_item)
        onchip = (fetch[0] if fetch else 0.0) + sum(
            max(comp[s], fetch[s + 1] if s + 1 < len(fetch) else 0.0) for s in range(len(comp)))
        res = OpTiming(onchip_cycles=onchip, compute_cycles=float(sum(comp)),
                       fetch_cycles=float(sum(fetch)), steps=len(comp), counters=c)
        res.counters["fetched"] = fetched
        return res

    def run_op(self, op: MeshOp, op_id: int) -> OpTiming:
        cfg = self.cfg
        llc = self.state.llc
        off_r = off_w = 0
        for name, nbytes, _role in op.reads:
            miss, dirty = llc.read(name, nbytes)
            off_r += miss
            off_w += dirty
        first = self._run_once(op, op_id)
        # a tensor larger than the LLC is streamed from HBM every time its blocks are fetched
        for role, name in (("A", op.a_tensor), ("B", op.b_tensor)):
            size = next((r[1] for r in op.reads if r[0] == name), 0)
            if name and size > cfg.llc.size:
                off_r += max(0, first.counters["fetched"].get(role, 0) - size)
        for name, nbytes in op.writes:
            spill, dirty = llc.write(name, nbytes)
            off_w += spill + dirty
        steady = self._run_once(op, op_id, rep=1) if op.repeat > 1 else first
        n = op.repeat - 1
        c = {k: v + n * steady.counters.get(k, 0) for k, v in first.counters.items()
             if k not in ("fetched", "peak_link_bytes")}
        c["peak_link_bytes"] = first.counters.get("peak_link_bytes", 0.0)
        clock = cfg.tiles.clock
        onchip = first.onchip_cycles + n * steady.onchip_cycles
        off_bytes = off_r + off_w
        c["hbm_read_bytes"] = off_r
        c["hbm_write_bytes"] = off_w
        c["hbm_bytes"] = off_bytes
        offchip = off_bytes / cfg.hbm.bandwidth * clock
        if off_bytes:
            offchip += cfg.hbm.latency * clock
        # every repetition ends in a barrier: done-signals gathered to a corner along XY and
        # the release sent back, 2 x (rows - 1 + cols - 1) hops
        barrier = 2 * (self.geom.rows - 1 + self.geom.cols - 1) * cfg.noc.hop_latency
        onchip += op.repeat * barrier
        c["barrier_cycles"] = op.repeat * barrier
        cycles = max(onchip, offchip)
        compute = first.compute_cycles + n * steady.compute_cycles
        fetch = first.fetch_cycles + n * steady.fetch_cycles
        if offchip >= onchip:
            bound = "hbm"
        else:
            bound = "compute" if compute >= fetch else "mesh"
        return OpTiming(cycles=cycles, onchip_cycles=onchip, offchip_cycles=offchip,
                        compute_cycles=compute, fetch_cycles=fetch,
                        steps=first.steps + n * steady.steps, bound=bound, counters=c)


class _ReductionOp:
    """The split-K reduction step seen as an op: A blocks are the partial sums."""

    def __init__(self, op: MeshOp) -> None:
        self.a_bytes = op.mb * op.nb * ACC_BYTES * (op.splitk - 1)
        self.b_bytes = 0
        self.b_tensor = None
        self.a_role = "R"
