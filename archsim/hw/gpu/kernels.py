"""Kernel models: how one kind of GPU kernel (Kernel.model) is replayed and timed.

Each model registers itself by name, next to its definition (`@register_kernel_model(...)`);
`model.py` and `machine.py` look a kernel's model up instead of branching on its name. A model
answers, for one chunk of a kernel (see model.py):

- `replay(gm, k, run, bufs)`: the functional pass through the L2 (chunks with hits/misses);
- `sm_terms(gm, run, ch, f, u_sm, share)`: the SM-internal time terms of the busiest SM
  (seconds, by name: tensor, simt, sm_load, sm_miss, cta_launch);
- `coeffs(gm, run, ch)`: the same per unit on one SM: (pipe, pipe cycles, load-path cycles,
  load-path seconds); `pipe_cycles(sm, run, ch, u, per)` for u units (non-linear models
  override it and set `nonlinear`);
- `l2_bytes`, `ce_bytes`: bytes through the L2 and the copy engine;
- `latency(gm, run, ch)`: (seconds added after the body, seconds the chunk lasts at least);
- `head(gm, k, run)`: the kernel's fixed time (its fill latency from the run's first chunk); `volume(k)`: its L2 request volume (for sampling);
- `uses_sms`: False for copy-engine kernels.

A new kernel kind (a dataflow queue kernel, say) is one more class here or in its own module.
"""
from __future__ import annotations

import math

from archsim.errors import UserError
from archsim.lower.vendor import MTA_DRAM_EFFICIENCY, simt_gemm_efficiency

KERNEL_MODELS: dict[str, "KernelModel"] = {}


def register_kernel_model(*names: str):
    def deco(cls):
        inst = cls()
        for n in names:
            KERNEL_MODELS[n] = inst
        return cls
    return deco


def kernel_model(k) -> "KernelModel":
    try:
        return KERNEL_MODELS[k.model]
    except KeyError:
        raise UserError(f"kernel {k.name}: no GPU kernel model {k.model!r}; registered: "
                        f"{sorted(KERNEL_MODELS)}") from None


def read_share(k) -> float:
    """Share of a kernel's requested bytes that are loads (from its `Access` volumes)."""
    rd = wr = 0
    for a in k.accesses:
        v = a.nbytes * a.passes + a.count * a.row_bytes
        if a.write:
            wr += v
        else:
            rd += v
    return rd / (rd + wr) if rd + wr else 1.0


def load_miss_frac(k, ch) -> float:
    """Fraction of a chunk's LOADS that miss to DRAM: a dependent round waits on its loads, never
    on its stores, so the DRAM misses are shared over the bytes read, not over everything requested."""
    if not ch.req:
        return 0.0
    return min(1.0, ch.miss / max(ch.req * read_share(k), 1e-30))


def fill_latency(gm, run) -> float:
    """The DRAM round trip that fills a kernel's pipes before its first results: paid by the
    share of its first chunk's L2 requests that miss (a kernel whose inputs the previous kernel
    left in L2 -- small-batch inference -- starts on L2 hits); the full DRAM latency when the
    run is not known."""
    lat = gm.cfg.hbm.latency
    if run is None or not run.chunks:
        return lat
    ch = run.chunks[0]
    if not ch.req:
        return lat
    if run.kernel.tile is not None:
        # tiled kernels: their first K-step's panels are shared by many CTAs (re-reads hit
        # behind one miss), so the request miss share does not say whether the fill waits on
        # DRAM; they keep the full round trip (calibrated so)
        return lat
    # the share of the chunk's requests that are first loads of a line (stores allocate in L2
    # without a fetch; a row kernel's later passes re-read what its first pass brought in)
    acc = [a for a in run.kernel.accesses if a.kind == "stream"]
    total = sum(a.nbytes * a.passes for a in acc)
    reads = sum(a.nbytes for a in acc if not a.write)
    share = reads / total if total and reads else 1.0
    return lat * min(1.0, ch.miss / (ch.req * share))


class KernelModel:
    """Defaults: a streaming kernel on the SIMT pipe (row, gather, roofline kernels too).

    SIMT cycles of u units (CTAs) on one SM: the larger of issue throughput (lane-instructions /
    lanes) and the dependent-issue chain of one warp (`sm.dependent_issue_cycles` per warp
    instruction) times the rounds of co-resident CTAs: few long rows per SM are latency-bound."""

    uses_sms = True

    def nonlinear(self, k) -> bool:
        """Whether an SM's pipe time is not units x per-unit cycles (see pipe_cycles)."""
        return False

    def chain_cycles(self, sm, run) -> float:
        """Cycles of one CTA's dependent warp chain (its lane-instructions per warp x
        `sm.dependent_issue_cycles`): u CTAs on an SM take at least ceil(u / occupancy) x this.
        Only row kernels have one (RowModel); streaming kernels' threads are independent."""
        k = run.kernel
        if type(self) is KernelModel or not sm.dependent_issue_cycles:
            return 0.0
        if k.dep_chain:
            return k.dep_chain * sm.dependent_issue_cycles
        warps = max(1, k.block // 32)
        return k.simt_ops / max(k.units, 1) / warps / 32 * sm.dependent_issue_cycles

    def replay(self, gm, k, run, bufs) -> None:
        gm._replay_stream(k, run, bufs)

    @staticmethod
    def miss_rate(sm, k) -> float:
        """DRAM-missing load bytes an SM receives per cycle (Little's law): the outstanding
        requests it holds are its threads' independent read streams (at most 4) x the bytes
        each thread keeps in flight per stream (`Kernel.load_inflight`), over the loaded
        latency; `sm.miss_bytes_per_cycle` is that rate for one stream of 16-B loads."""
        streams = max(1, min(4, sum(1 for a in k.accesses if not a.write)))
        return sm.miss_bytes_per_cycle * streams * k.load_inflight / 16.0

    def sm_terms(self, gm, run, ch, f, u_sm, share) -> dict:
        cfg, k = gm.cfg, run.kernel
        sm = cfg.sm
        ops = k.simt_ops / max(k.units, 1)
        return {"simt": self.pipe_cycles(sm, run, ch, u_sm, ops / sm.simt_lanes) / f,
                "sm_load": ch.req * share / (sm.lsu_bytes_per_cycle * f),
                # loads that miss to DRAM: limited by the requests an SM keeps in flight
                "sm_miss": ch.miss * share / (self.miss_rate(sm, k) * f),
                "cta_launch": u_sm * cfg.launch.cta_launch}

    def coeffs(self, gm, run, ch):
        cfg, k = gm.cfg, run.kernel
        sm = cfg.sm
        units = max(ch.units, 1)
        ops = k.simt_ops / max(k.units, 1)
        lsu = max(ch.req / units / sm.lsu_bytes_per_cycle,
                  ch.miss / units / self.miss_rate(sm, k))
        return "simt", ops / sm.simt_lanes, lsu, cfg.launch.cta_launch

    def pipe_cycles(self, sm, run, ch, u, per) -> float:
        chain = self.chain_cycles(sm, run)
        if chain <= 0.0 or u <= 0:
            return u * per
        return max(u * per, math.ceil(u / max(run.occ, 1)) * chain)

    def l2_bytes(self, gm, run, ch) -> float:
        return ch.req * run.kernel.l2_scale

    def ce_bytes(self, gm, run, ch) -> float:
        return 0.0

    def latency(self, gm, run, ch):
        cfg = gm.cfg
        miss_frac = ch.miss / ch.req if ch.req else 0.0
        return 0.0, ch.latency_rounds * (cfg.l2.latency + miss_frac * cfg.hbm.latency)

    def head(self, gm, k, run=None) -> float:
        return gm.cfg.launch.kernel_fixed + fill_latency(gm, run)

    def volume(self, k) -> int:
        return sum(a.nbytes * a.passes + a.count * a.row_bytes for a in k.accesses)


register_kernel_model("gather", "roofline")(KernelModel)


@register_kernel_model("stream")
class StreamModel(KernelModel):
    """Streaming kernels (elementwise, copies, casts): each thread loads its elements, computes,
    then stores them, so on an SM a unit's store phase follows its load phase instead of
    overlapping it (CTAs of a grid start together and stay in step). Per unit on the busiest SM,
    load-path cycles = load phase (the slowest of: its loads through the LSU, its DRAM misses at
    the outstanding-request limit, its share of the chunk's DRAM reads at the HBM rate, in cycles
    at the boost clock) + store phase (its stores through the LSU). The DRAM total (reads and
    write-backs) stays a separate bound."""

    def chain_cycles(self, sm, run) -> float:
        return 0.0

    def _lsu_cycles(self, gm, run, ch) -> float:
        cfg, k = gm.cfg, run.kernel
        sm = cfg.sm
        units = max(ch.units, 1)
        u_sm = math.ceil(units / sm.count)
        rd = ch.req * read_share(k)
        dram_rd = ch.miss / (cfg.hbm.bandwidth * gm.channel_share(ch.miss + ch.wb))
        load = max(rd / units / sm.lsu_bytes_per_cycle, ch.miss / units / self.miss_rate(sm, k),
                   dram_rd * cfg.clocks.boost / u_sm)
        return load + (ch.req - rd) / units / sm.lsu_bytes_per_cycle

    def sm_terms(self, gm, run, ch, f, u_sm, share) -> dict:
        cfg, k = gm.cfg, run.kernel
        sm = cfg.sm
        ops = k.simt_ops / max(k.units, 1)
        return {"simt": self.pipe_cycles(sm, run, ch, u_sm, ops / sm.simt_lanes) / f,
                "sm_load": u_sm * self._lsu_cycles(gm, run, ch) / f,
                "cta_launch": u_sm * cfg.launch.cta_launch}

    def coeffs(self, gm, run, ch):
        cfg, k = gm.cfg, run.kernel
        ops = k.simt_ops / max(k.units, 1)
        return "simt", ops / cfg.sm.simt_lanes, self._lsu_cycles(gm, run, ch), cfg.launch.cta_launch


@register_kernel_model("multi_tensor")
class MultiTensorModel(StreamModel):
    """PyTorch's multi_tensor_apply_kernel (fused optimizers; archsim.lower.bsp.multi_tensor_kernels):
    a streaming kernel whose CTA walks its 65536-element chunk in `dep_rounds` rounds of
    load-all-lists, update, store, each round waiting on its own loads. A launch of few chunks
    (a list of many small tensors: 36 tensors a launch) leaves one CTA on an SM, and nothing
    hides a round: each lasts a load round trip (L2, plus DRAM for the share that misses) plus
    the time the SM takes to bring its resident CTAs' round of loads in at its outstanding-miss
    rate (`miss_rate`). Launches of many chunks are bound by DRAM, at vendor.MTA_DRAM_EFFICIENCY
    of its bandwidth (in-place read-modify-write streams; fitted, see there)."""

    def latency(self, gm, run, ch):
        cfg, k = gm.cfg, run.kernel
        sm = cfg.sm
        if not ch.units or not k.dep_rounds:
            return 0.0, 0.0
        resident = min(max(run.occ, 1), math.ceil(ch.units / sm.count))
        miss_round = ch.miss / ch.units / k.dep_rounds   # DRAM bytes one CTA loads in a round
        transfer = resident * miss_round / (self.miss_rate(sm, k) * cfg.clocks.boost)
        rtt = cfg.l2.latency + load_miss_frac(k, ch) * cfg.hbm.latency
        dram = ch.miss + ch.wb   # in-place read-modify-write streams: vendor.MTA_DRAM_EFFICIENCY
        dram_s = dram / (cfg.hbm.bandwidth * gm.channel_share(dram) * MTA_DRAM_EFFICIENCY) if dram else 0.0
        return 0.0, max(ch.latency_rounds * (rtt + transfer), dram_s)


@register_kernel_model("row")
class RowModel(KernelModel):
    """Row kernels (softmax, layernorm, reductions, pooling windows): a CTA's warps reduce
    along their rows, so one warp's dependent chain bounds a round of resident CTAs."""

    def chain_cycles(self, sm, run) -> float:
        return KernelModel.chain_cycles(self, sm, run)

    def latency(self, gm, run, ch):
        """A kernel with an explicit per-thread chain (`Kernel.dep_chain`: Welford loops) issues
        its row's loads inside the chain: its dependent memory rounds add to the chain's time."""
        cfg, k = gm.cfg, run.kernel
        # a row's dependent rounds wait on its loads (a load-then-reduce chain), never on its stores
        add, floor = 0.0, ch.latency_rounds * (cfg.l2.latency + load_miss_frac(k, ch) * cfg.hbm.latency)
        if k.tail_rounds and run.chunks and ch is run.chunks[-1]:
            # the epilogue of the last CTAs: nothing of the kernel is left to overlap it
            cfg = gm.cfg
            add += k.tail_rounds * (cfg.l2.latency + cfg.hbm.latency)
        if run.kernel.dep_chain and gm.cfg.sm.dependent_issue_cycles and run.chunks and \
                ch is run.chunks[0]:
            # the first wave's rounds come before its chain; later waves' overlap earlier work
            # (returned as added time only: a chunk has either kind, as the machine expects)
            return add + floor / max(1, math.ceil(ch.waves - 1e-9)), 0.0
        return add, floor


class _TileModel(KernelModel):
    """Tiled tensor-core kernels: TMA loads, one L2+HBM round trip at a wave's start."""

    def chain_cycles(self, sm, run) -> float:
        return 0.0

    def latency(self, gm, run, ch):
        cfg = gm.cfg
        return ch.latency_rounds * (cfg.l2.latency + cfg.hbm.latency), 0.0

    def head(self, gm, k, run=None) -> float:
        extra = gm.cfg.launch.tma_setup if k.pipe == "tensor" else 0.0
        return gm.cfg.launch.kernel_fixed + fill_latency(gm, run) + extra


@register_kernel_model("gemm")
class GemmModel(_TileModel):
    """cuBLAS/cuDNN GEMMs and implicit-GEMM convolutions (tensor pipe, or SIMT for fp32)."""

    def replay(self, gm, k, run, bufs) -> None:
        gm._replay_gemm(k, run, bufs)

    def _tensor_step(self, sm, k) -> float:
        t = k.tile
        rate = sm.tensor_flops_per_cycle.get(k.dtype, 4096)
        return 2.0 * t.tm * t.tn * t.tk / rate + t.step_extra + (
            sm.single_warpgroup_step_overhead if t.single_warpgroup else sm.mma_step_overhead)

    def _store_cycles(self, sm, k, ch) -> float:
        """Cycles one unit's output-tile store takes on its SM (`sm.tile_store_bytes_per_cycle`),
        spread over the tile's K-steps: the store of one tile overlaps the next tile's main loop,
        so it binds only when a tile has few K-steps (K = 64 batched GEMMs, 1x1 convolutions of
        64 channels)."""
        if k.pipe != "tensor" or not sm.tile_store_bytes_per_cycle:
            return 0.0
        t = k.tile
        return t.tm * t.tn * t.c_esize * ch.steps / max(k.steps, 1) / sm.tile_store_bytes_per_cycle

    def sm_terms(self, gm, run, ch, f, u_sm, share) -> dict:
        sm, k = gm.cfg.sm, run.kernel
        pipe = "tensor" if k.pipe == "tensor" else "simt"
        terms = {pipe: self.pipe_cycles(sm, run, ch, u_sm, None) / f,
                 "sm_load": ch.req * share / (sm.tma_bytes_per_cycle * f)}
        store = self._store_cycles(sm, k, ch)
        if store:
            terms["sm_store"] = u_sm * store / f
        return terms

    def coeffs(self, gm, run, ch):
        sm, k = gm.cfg.sm, run.kernel
        units = max(ch.units, 1)
        load = max(ch.req / units / sm.tma_bytes_per_cycle, self._store_cycles(sm, k, ch))
        if k.pipe == "tensor":
            per = ch.steps * self._tensor_step(sm, k) + (
                sm.gemm_tile_overhead if ch.last_step else 0.0)
            return "tensor", per, load, 0.0
        return "simt", 0.0, load, 0.0

    def nonlinear(self, k) -> bool:   # the SIMT GEMM's warp efficiency depends on units
        return k.pipe != "tensor"

    def pipe_cycles(self, sm, run, ch, u, per) -> float:
        k = run.kernel
        t = k.tile
        if k.pipe == "tensor":
            if per is not None:
                return u * per
            step = self._tensor_step(sm, k)
        else:
            warps = k.block // 32 * max(1, min(run.occ, u))
            step = t.tm * t.tn * t.tk / (sm.simt_lanes * simt_gemm_efficiency(warps))
        # the tile epilogue (C via SMEM + TMA store), not overlapped in cooperative kernels
        return ch.steps * u * step + (u * sm.gemm_tile_overhead if ch.last_step else 0.0)

    def l2_bytes(self, gm, run, ch) -> float:
        k = run.kernel
        if k.pipe == "tensor" and ch.units >= 2:
            # CTA pairs (clusters of 2) multicast the larger operand tile with TMA: it
            # crosses the L2 once per pair
            t = k.tile
            big, small = max(t.tm, t.tn), min(t.tm, t.tn)
            return ch.req * (big / 2 + small) / (big + small)
        return ch.req

    def volume(self, k) -> int:
        t = k.tile
        return k.units * k.steps * (t.tm + t.tn) * t.tk * t.esize


@register_kernel_model("attention")
class AttentionModel(_TileModel):
    """cuDNN flash attention: QK^T and PV on the tensor pipe, softmax work per score."""

    def replay(self, gm, k, run, bufs) -> None:
        gm._replay_attention(k, run, bufs)

    def _per_step(self, sm, k) -> float:
        t = k.tile
        rate = sm.tensor_flops_per_cycle.get(k.dtype, 4096)
        mma = 4.0 * t.mma_factor * t.bq * t.bkv * t.D / rate + 2 * sm.mma_step_overhead
        smx = k.simt_ops / max(t.total_steps or k.units * k.steps, 1) / sm.simt_lanes
        return mma + smx

    def sm_terms(self, gm, run, ch, f, u_sm, share) -> dict:
        sm, k = gm.cfg.sm, run.kernel
        return {"tensor": u_sm * (ch.steps * self._per_step(sm, k) + k.tile.unit_extra) / f,
                "sm_load": ch.req * share / (sm.tma_bytes_per_cycle * f)}

    def coeffs(self, gm, run, ch):
        sm, k = gm.cfg.sm, run.kernel
        return ("tensor", ch.steps * self._per_step(sm, k) + k.tile.unit_extra,
                ch.req / max(ch.units, 1) / sm.tma_bytes_per_cycle, 0.0)


@register_kernel_model("dma")
class DmaModel(KernelModel):
    """cudaMemcpy device to device: the copy engine, no SMs."""

    uses_sms = False

    def chain_cycles(self, sm, run) -> float:
        return 0.0

    def sm_terms(self, gm, run, ch, f, u_sm, share) -> dict:
        return {}

    def coeffs(self, gm, run, ch):
        return "simt", 0.0, 0.0, 0.0

    def ce_bytes(self, gm, run, ch) -> float:
        """Bytes at the engine's DRAM-side rate (`launch.copy_engine_bandwidth`) that take as long
        as the chunk's transfer: its DRAM reads and write-backs, or all it moves at the engine's
        own rate when both sides stay in L2 (`launch.copy_engine_l2_bandwidth`)."""
        la = gm.cfg.launch
        own = ch.req * la.copy_engine_bandwidth / la.copy_engine_l2_bandwidth \
            if la.copy_engine_l2_bandwidth else ch.req
        return max(ch.miss + ch.wb, own)

    def head(self, gm, k, run=None) -> float:
        return gm.cfg.hbm.latency
