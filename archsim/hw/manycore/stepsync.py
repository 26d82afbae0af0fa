"""Step-synchronous execution of a MeshProgram (UPCYCLE's own method, papers.md section 2).

Per op (a layer), every step gives each active tile one work item. For each step the model:
1. reads each tile's A and B blocks through its L1 (`caches.ChipCaches`: line-granular
   instances of archsim.hw.cache); the lines missed are grouped by L2 group and read through
   the group's L2, whose misses come from the LLC, whose misses come from HBM;
2. routes the step's traffic on the mesh (`traffic`: L2 -> L1 multicast within groups, LLC -> L2
   multicast across groups, finished outputs to the LLC) and takes the load of the most-loaded
   link or local port;
3. fetch time = most-loaded link bytes / link bytes per cycle + the longest route's hops x hop
   latency (LLC leg, then L2 leg) + the bank latencies; compute time = the work item's vector
   MAC instructions (or L1 line reads over the read ports, if more).

Step s's operands are prefetched during step s-1, so the op's on-chip time is
`fetch[0] + sum_s max(compute[s], fetch[s+1])`. Off-chip: the LLC's line misses (HBM reads) and
dirty evictions (HBM writes) during the op; the op's time is max(on-chip, off-chip bytes / HBM
bandwidth) plus one HBM latency when it touches HBM. Ops run one after another (a barrier per
layer, costed as a gather-and-release round trip across the mesh). An op repeated n times (an LSTM's recurrent GEMM) runs twice — the second time with the
caches the first left — and counts n-1 times the second.
"""
from __future__ import annotations

import math
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field

import numpy as np

from archsim.hw.manycore import traffic
from archsim.hw.manycore.caches import AddressMap, ChipCaches, lines_of
from archsim.hw.manycore.geometry import MeshGeometry
from archsim.hw.manycore.routing import LinkLoads, link_loads
from archsim.lower.mesh import ACC_BYTES, MachineShape, MeshOp, item_cycles, place, wave_items

DEFAULT_CACHE_SAMPLE = 1   # lines simulated in the caches: 1 in this many (caches.py)
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
    """Runtime state of the chip between ops: its caches and where tensors live."""

    def __init__(self, cfg, geom: MeshGeometry, cache_sample: int = 1,
                 log_hbm: bool = False) -> None:
        self.caches = ChipCaches(cfg, geom, sample=cache_sample, log_hbm=log_hbm)
        self.addrs = AddressMap()


def _add(c: dict, k: str, v: float) -> None:
    c[k] = c.get(k, 0) + v


class StepSyncModel:
    def __init__(self, cfg, samples: int = DEFAULT_SAMPLES,
                 write_samples: int = WRITE_SAMPLES, seed: int = 0,
                 cache_sample: int = DEFAULT_CACHE_SAMPLE, log_hbm: bool = False) -> None:
        self.cfg = cfg
        self.geom = MeshGeometry.from_config(cfg)
        self.shape = MachineShape.from_config(cfg)
        self.state = ManycoreState(cfg, self.geom, cache_sample, log_hbm)
        self.samples = samples
        self.write_samples = write_samples
        self.rng = np.random.default_rng(seed)
        self.line = cfg.line
        self._roles = ("A", "B")
        self._op: MeshOp | None = None
        self.plan: list | None = None      # the event mode collects each step's work here
        self._rec: dict | None = None
        # with several threads (caches.THREADS_ENV) a step's routing runs on a thread of its
        # own while the next steps' caches are walked; its results are added in step order
        threads = self.state.caches.threads
        self._route_pool = ThreadPoolExecutor(max(1, threads // 4)) if threads > 1 else None

    def set_program(self, ops) -> None:
        """Note each tensor's last reader (for `lowering.invalidate_dead`)."""
        self._last_read = {}
        for i, op in enumerate(ops):
            for name, _, role in op.reads:
                if role != "param":
                    self._last_read[name] = i

    def _drop_dead(self, op_id: int) -> None:
        amap, caches, line = self.state.addrs, self.state.caches, self.line
        for name, _, role in self._op.reads:
            r = amap.get(name)
            if role != "param" and r and getattr(self, "_last_read", {}).get(name) == op_id:
                caches.llc.invalidate(r[0] * line, r[1] * line)

    # -------------------------------------------------------------------- where blocks live
    def _pieces(self, op_id: int, role: str, keys: np.ndarray, nbytes: int,
                nblocks: int) -> list[tuple[np.ndarray, int]]:
        """(first line of each block, lines) for every piece of the blocks `keys` of `role`.

        A and B blocks live in their tensor (a stream's A block is a share of every tensor it
        reads); a repetition's fresh activations (X, Y) and split-K partial sums (R, written as
        `partial`) live in regions of their own."""
        op, line, amap = self._op, self.line, self.state.addrs
        lines = lines_of(nbytes, line)
        if role == "R":       # parts 1..splitk-1 of an output block, after part 0's slot
            part = lines_of(op.mb * op.nb * ACC_BYTES, line)
            base, span = amap.region((op_id, "partial"), op.out_blocks * part)
            return [(AddressMap.block_lines(base, span, keys + 1, part), lines)]
        if role in ("out", "partial"):
            if role == "partial":
                base, span = amap.region((op_id, "partial"), nblocks * lines)
            else:
                total = sum(w[1] for w in op.writes) or nblocks * nbytes
                base, span = amap.region(op.out_tensor, lines_of(total, line))
            return [(AddressMap.block_lines(base, span, keys, lines), lines)]
        sizes = {name: nb for name, nb, _ in op.reads}
        if role.startswith("E:"):   # a fused epilogue's input (lowering: `MeshOp.epilogue`)
            base, span = amap.region(role[2:], lines_of(sizes[role[2:]], line))
            return [(AddressMap.block_lines(base, span, keys, lines), lines)]
        if role in ("X", "Y"):
            base, span = amap.region((op_id, role), nblocks * lines)
            return [(AddressMap.block_lines(base, span, keys, lines), lines)]
        if role == "A" and op.cls == "stream" and len(op.reads) > 1:
            total = sum(sizes.values()) or 1
            out = []
            for name, nb, _ in op.reads:
                base, span = amap.region(name, lines_of(nb, line))
                n = lines_of(math.ceil(nbytes * nb / total), line)
                out.append((AddressMap.block_lines(base, span, keys, n), n))
            return out
        name = op.a_tensor if role == "A" else op.b_tensor
        base, span = amap.region(name, lines_of(sizes.get(name, nblocks * nbytes), line))
        if role == "A" and op.a_conv is not None:   # patches at their input position
            first = base + np.minimum(op.a_offsets(keys) // line, max(0, span - lines))
            return [(first, lines)]
        return [(AddressMap.block_lines(base, span, keys, lines), lines)]

    # -------------------------------------------------------------------- one step's fetch
    def _fetch(self, op_id: int, role: str, tiles: np.ndarray, keys: np.ndarray, nbytes: int,
               nblocks: int, c: dict):
        """Look blocks up in the L1s, then the L2s (misses fetched from the LLC, its misses
        from HBM); return the (L2->L1, LLC->L2) flows and bytes fetched from the LLC."""
        geom, caches, line = self.geom, self.state.caches, self.line
        pieces = self._pieces(op_id, role, keys, nbytes, nblocks)
        lines = sum(n for _, n in pieces)
        missed = np.minimum(caches.l1_misses(tiles, pieces), lines)
        miss = missed > 0
        n_miss = int(miss.sum())
        _add(c, "l1_block_hits", tiles.size - n_miss)
        _add(c, "l1_block_misses", n_miss)
        if not n_miss:
            return None, None, 0
        mt = tiles[miss]
        mk = keys[miss]
        ml = missed[miss]
        mg = geom.group_of(mt)
        pair_key = mk * geom.groups + mg
        uniq, inv = np.unique(pair_key, return_inverse=True)
        order = np.argsort(inv, kind="stable")
        ptr = np.zeros(uniq.size + 1, np.int64)
        np.cumsum(np.bincount(inv, minlength=uniq.size), out=ptr[1:])
        dst = mt[order]
        p_key = uniq // geom.groups
        p_grp = uniq % geom.groups
        # the multicast to a group's tiles carries the lines the neediest of them missed
        p_lines = np.zeros(uniq.size, np.int64)
        np.maximum.at(p_lines, inv, ml)
        mi = np.nonzero(miss)[0]
        idx = np.zeros(uniq.size, np.int64)
        idx[inv[::-1]] = mi[::-1]          # a tile of each pair (the first): its block's lines
        p_base = pieces[0][0][idx]
        _add(c, "l1_fill_lines", int(ml.sum()))
        _add(c, "l2_accesses", int(p_lines.sum()))
        l2_missed = np.minimum(caches.l2_misses(p_grp.tolist(), pieces, idx.tolist()), lines)
        hr, hw = caches.l2_to_llc()
        _add(c, "hbm_read_lines", hr)
        _add(c, "hbm_write_lines", hw)
        l2_miss = np.nonzero(l2_missed)[0]
        _add(c, "l2_block_hits", uniq.size - l2_miss.size)
        _add(c, "l2_block_misses", l2_miss.size)
        f_l2 = traffic.l2_to_l1(geom, p_grp, p_base, p_lines, ptr, dst, line)   # routed in _step
        rec = self._rec
        if rec is not None:     # the event mode's plan: who waits for which lines
            for i in range(uniq.size):
                rec["pairs"].append((role, int(p_key[i]), int(p_grp[i]), dst[ptr[i]:ptr[i + 1]],
                                     int(p_base[i]), int(p_lines[i]), bool(l2_missed[i])))
        if not l2_miss.size:
            return f_l2, None, 0
        mk2 = p_key[l2_miss]
        mg2 = p_grp[l2_miss]
        ukeys, kinv = np.unique(mk2, return_inverse=True)
        korder = np.argsort(kinv, kind="stable")
        kptr = np.zeros(ukeys.size + 1, np.int64)
        np.cumsum(np.bincount(kinv, minlength=ukeys.size), out=kptr[1:])
        k_lines = np.zeros(ukeys.size, np.int64)
        np.maximum.at(k_lines, kinv, l2_missed[l2_miss])
        k_base = np.zeros(ukeys.size, np.int64)
        k_base[kinv] = p_base[l2_miss]
        if rec is not None:
            gs = mg2[korder]
            for j in range(ukeys.size):
                rec["blocks"].append((role, int(ukeys[j]), int(k_base[j]), int(k_lines[j]),
                                      gs[kptr[j]:kptr[j + 1]]))
        _add(c, "l2_accesses", int(l2_missed.sum()))       # fills
        _add(c, "llc_accesses", int(k_lines.sum()))        # one read per line, multicast
        f_llc = traffic.llc_to_l2(geom, k_base, k_lines, kptr, mg2[korder], line, self.samples,
                                  self.rng)
        return f_l2, f_llc, int(k_lines.sum()) * line

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
              w_tiles, w_keys, w_bytes, n_out_blocks, compute: float, c: dict, fetched: dict,
              w_role: str = "out"):
        """Fetch time (cycles) of one step; updates counters."""
        cfg, geom = self.cfg, self.geom
        mc = cfg.noc.multicast
        if self.plan is not None:
            self._rec = {"tiles": tiles, "compute": compute, "pairs": [], "blocks": [],
                         "writes": None}
            self.plan.append(self._rec)
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
        epi = self._op.epilogue if w_role == "out" and w_tiles is not None else ()
        for name, nbytes, per_channel in epi:     # fused inputs, read as a block is finished
            jb = self._op.j_blocks
            f_l2, f_llc, _ = self._fetch(op_id, "E:" + name, w_tiles,
                                         w_keys % jb if per_channel else w_keys, nbytes,
                                         jb if per_channel else n_out_blocks, c)
            l2_flows.append(f_l2)
            llc_flows.append(f_llc)
        w_flow = None
        if w_tiles is not None and w_tiles.size:
            lines = lines_of(w_bytes, self.line)
            (first, _), = self._pieces(op_id, w_role, w_keys, w_bytes, n_out_blocks)
            _add(c, "hbm_write_lines", self.state.caches.llc_write(first, lines))
            if self._rec is not None:
                self._rec["writes"] = (w_tiles, first, lines)
            w_flow = traffic.writes_to_llc(geom, w_tiles, first, np.full(w_tiles.size, lines),
                                           self.line, self.write_samples, self.rng)
            _add(c, "llc_accesses", w_tiles.size * lines)
            _add(c, "l1_accesses", w_tiles.size * lines)   # the block read out of L1
        if self._rec is None and self._route_pool is not None:
            # routed on the routing thread; _settle adds its counters in step order (the keys
            # are made here, where the serial order makes them)
            for k in ("byte_hops", "max_link_bytes", "peak_link_bytes"):
                c.setdefault(k, 0.0 if k == "peak_link_bytes" else 0)
            _add(c, "steps", 1)
            fut = self._route_pool.submit(self._mesh_of, l2_flows, llc_flows, w_flow)
            self._pending.append((fut, c))
            return fut
        mesh, byte_hops, max_link = self._mesh_of(l2_flows, llc_flows, w_flow)
        if self._rec is not None:
            self._rec["hbm"] = self.state.caches.take_hbm()
            self._rec["estimate"] = mesh
            self._rec = None
        _add(c, "byte_hops", byte_hops)
        _add(c, "max_link_bytes", max_link)
        c["peak_link_bytes"] = max(c.get("peak_link_bytes", 0.0), max_link)
        _add(c, "steps", 1)
        return mesh

    def _mesh_of(self, l2_flows: list, llc_flows: list, w_flow) -> tuple[float, float, float]:
        """Route a step's flows (L2 -> L1 per operand, LLC -> L2, writes to the LLC) and sum
        their link loads: (fetch cycles, byte-hops, most-loaded link bytes)."""
        cfg = self.cfg
        mc = cfg.noc.multicast
        total = LinkLoads.zeros(self.geom)
        hops_l2 = hops_llc = 0
        any_l2 = False
        for f in l2_flows:
            ld = self._route([f], mc, "l2")
            if ld is not None:
                total += ld
                hops_l2 = max(hops_l2, ld.max_hops)
                any_l2 = True
        ld = self._route(llc_flows, mc, "llc")
        any_llc = ld is not None
        if any_llc:
            total += ld
            hops_llc = ld.max_hops
        if w_flow is not None:
            ld = self._route([w_flow], False, "write")
            if ld is not None:
                total += ld
        h = cfg.noc.hop_latency
        latency = (hops_llc * h + cfg.llc.latency if any_llc else 0) + \
            (hops_l2 * h + cfg.l2.latency if any_l2 else 0)
        return self._mesh_cycles(total, latency), total.byte_hops(), total.max_link()

    def _settle(self, fetch: list) -> list:
        """Wait for the steps routed on the routing thread; their counters, in step order."""
        out = []
        pend = iter(self._pending)
        for f in fetch:
            if isinstance(f, Future):
                fut, c = next(pend)
                mesh, byte_hops, max_link = fut.result()
                _add(c, "byte_hops", byte_hops)
                _add(c, "max_link_bytes", max_link)
                c["peak_link_bytes"] = max(c["peak_link_bytes"], max_link)
                f = mesh
            out.append(f)
        self._pending = []
        return out

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
        self._pending: list = []
        item = item_cycles(shape, op.vector_ops, op.l1_line_reads)
        # a later repetition reads new activations (an LSTM's h_t is not h_t-1): operands that
        # are not weights get fresh block keys, so only weights can hit in the caches
        roles = {name: role for name, _, role in op.reads}
        fresh = lambda t: rep > 0 and roles.get(t) != "param"  # noqa: E731
        self._roles = ("X" if fresh(op.a_tensor) else "A",
                       "Y" if op.b_tensor and fresh(op.b_tensor) else "B")
        if rep > 0:   # the fresh activations were just written on chip by the previous repetition
            for role, nbytes, nblocks in (
                    (self._roles[0], op.a_bytes, op.G * op.i_blocks * op.k_blocks),
                    (self._roles[1], op.b_bytes, op.G * op.k_blocks * op.j_blocks)):
                if role in ("X", "Y") and nbytes:
                    lines = lines_of(nbytes, self.line)
                    base, span = self.state.addrs.region((op_id, role), nblocks * lines)
                    _add(c, "hbm_write_lines",
                         self.state.caches.llc_write(np.array([base]), span))
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
                               out_key[done], out_bytes, n_out, item, c, fetched,
                               "partial" if op.splitk > 1 else "out")
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
        fetch = self._settle(fetch)
        onchip = (fetch[0] if fetch else 0.0) + sum(
            max(comp[s], fetch[s + 1] if s + 1 < len(fetch) else 0.0) for s in range(len(comp)))
        res = OpTiming(onchip_cycles=onchip, compute_cycles=float(sum(comp)),
                       fetch_cycles=float(sum(fetch)), steps=len(comp), counters=c)
        res.counters["fetched"] = fetched
        res.counters["first_fetch_cycles"] = fetch[0] if fetch else 0.0
        return res

    def run_op(self, op: MeshOp, op_id: int) -> OpTiming:
        cfg = self.cfg
        self._op = op
        first = self._run_once(op, op_id)
        steady = self._run_once(op, op_id, rep=1) if op.repeat > 1 else first
        if op.splitk > 1:
            # split-K partial sums are dead once reduced: dropped from the LLC without a write
            # back (an invalidate, as the kernel's last read of them would issue)
            base, span = self.state.addrs.region((op_id, "partial"), 1)
            self.state.caches.llc.invalidate(base * self.line, span * self.line)
        if cfg.lowering.invalidate_dead:
            self._drop_dead(op_id)
        n = op.repeat - 1
        c = {k: v + n * steady.counters.get(k, 0) for k, v in first.counters.items()
             if k not in ("fetched", "peak_link_bytes")}
        c["peak_link_bytes"] = first.counters.get("peak_link_bytes", 0.0)
        # off-chip traffic is what the LLC missed and evicted dirty
        off_r = c.get("hbm_read_lines", 0) * self.line
        off_w = c.get("hbm_write_lines", 0) * self.line
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
        # the event mode has HBM among its components: its on-chip time already waited for it
        cycles = onchip if getattr(self, "hbm_in_components", False) else max(onchip, offchip)
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
