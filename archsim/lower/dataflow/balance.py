"""Load balance of a spatial pipeline: CTAs per stage by the paper's integer program.

    maximise T  subject to, for every stage i,
        T <= t_i * r_i(a_i) * s_i          (stage i's throughput with a_i CTAs)
        T * DRAM_bytes <= DRAM_BW,  T * L2_bytes <= L2_BW
        1 <= a_i <= #SMs,  sum of a_i over SIMT stages <= #SMs,  same over TENSOR stages
        a_i integer
        (ours: a_i <= the stage's tiles when it has fewer than #SMs: a CTA works on a tile)

with t_i = the stage's BSP throughput (its tiles over its BSP kernels' time on the whole GPU),
r_i(a_i) = a_i / #SMs (the share of the GPU its CTAs hold, one CTA per SM and pipe type) and
s_i = 1 / u_i, u_i its BSP kernels' highest pipe utilisation (a stage that kept its pipe busy
only u_i of the time on its own runs 1/u_i faster once queues feed it; the caller,
archsim.hw.dataflow.profile, takes u_i = the stage's work priced tile by tile on one SM over
t_i x #SMs, so t_i u_i #SMs, one CTA's time for the stage's run, does not depend on the SM
count). T is in pipeline runs
per second (every stage processes all its tiles once per run), so stages with different tile
counts compare. Solved by HiGHS through scipy.optimize.milp; among the allocations reaching
the best T, a second solve takes the one with the fewest CTAs.

Ours, not the paper's: the rings' L2 footprint. Every CTA of a queue's producer or consumer
owns a ring of the queue's entries (the executor's rings: one per CTA of whichever side has
more), so the queues' footprint is sum_q B_q * max(a_i over q's stages), B_q = entries x
payload. Past the persisting-L2 region the entries spill to HBM and every CTA slows down;
an allocation that spills can be slower than a smaller one that does not (GraphCast
training on twice the SMs: 31 % slower before this constraint). So, with `rings` given:

        r_q >= B_q * a_i  for every stage i of queue q,   sum_q r_q <= C

(r_q continuous; C = the region, or the smallest footprint any allocation has, when even that
does not fit). With it, twice the SMs never gives a worse plan: the allocation found on
#SMs is still feasible on 2 #SMs. (The paper writes
sum a_i = #SMs per type; CTAs beyond those the best T needs add no throughput in this
program, and every CTA adds a ring of queue entries to the L2 footprint, so we leave them
out: the difference is ours.)

Pure: numbers in, Allocation out. Nothing here knows about time beyond these rates.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.optimize import Bounds, LinearConstraint, milp

from archsim.errors import UserError
from archsim.lower.dataflow.plan import PIPE_TYPES, Allocation


@dataclass(frozen=True)
class StageDemand:
    """What the balancer knows of one stage (from the BSP model of its ops)."""
    kind: str             # "tensor" | "simt"
    tiles: int
    bsp_time_s: float     # its ops' BSP kernel time on the whole GPU
    pipe_util: float      # u_i: highest pipe utilisation of those kernels, in (0, 1]
    transfer_s: float = 0.0   # one CTA moving all the stage's queue entries in and out
    sync_s: float = 0.0       # one CTA's handoffs (acquire/release) over the run
    max_ctas: int = 0         # CTAs that can have work at once (its tiles); 0: no limit

    def rate_per_cta(self, sms: int) -> float:
        """Pipeline runs per second one CTA of the stage sustains: t_i * s_i / (#SMs * tiles),
        in runs (t_i = tiles / bsp_time). Our addition to the paper's r_i: a CTA cannot go
        faster than it moves its queue entries (transfer_s, overlapping compute) plus its
        handoffs (sync_s); both are zero unless given."""
        u = min(1.0, max(self.pipe_util, 1e-6))
        return 1.0 / (max(max(self.bsp_time_s, 1e-15) * u * sms, self.transfer_s) + self.sync_s)


def stage_rates(demands, sms: int) -> np.ndarray:
    return np.array([d.rate_per_cta(sms) for d in demands])


def ring_footprint(rings, a) -> float:
    """Bytes of queue rings allocation a puts in L2: sum over queues of B_q x the most CTAs of
    any of its stages. rings: (B_q, stage indices) per queue."""
    return float(sum(b * max(a[i] for i in ends) for b, ends in rings))


def balance(name: str, demands, *, sms: int, dram_bytes: float, dram_bw: float,
            l2_bytes: float, l2_bw: float, rings=(), l2_capacity: float = np.inf) -> Allocation:
    """CTAs per stage maximising the pipeline's throughput (see the module docstring).
    dram_bytes / l2_bytes: the pipeline's traffic per run; *_bw in bytes per second.
    rings: (bytes per CTA ring, stage indices) per queue; l2_capacity: the region they may
    fill (the footprint constraint; off unless both are given)."""
    n = len(demands)
    if n == 0:
        raise UserError(f"pipeline {name}: no stages to balance")
    for t in PIPE_TYPES:
        k = sum(d.kind == t for d in demands)
        if k > sms:
            raise UserError(f"pipeline {name}: {k} {t} stages need one CTA each but the GPU "
                            f"has {sms} SMs")
    c = stage_rates(demands, sms)
    cap = [np.inf]
    if dram_bytes > 0:
        cap.append(dram_bw / dram_bytes)
    if l2_bytes > 0:
        cap.append(l2_bw / l2_bytes)
    mem_cap = min(cap)
    ref = float(c.max() * sms)           # scale T to O(1) for the solver
    rings = [(float(b), tuple(ends)) for b, ends in rings if b > 0 and ends] \
        if np.isfinite(l2_capacity) else []
    nq = len(rings)
    nv = n + 1 + nq
    # variables: x = T / ref, a_1..a_n, r_1..r_nq (ring bytes per queue / cap scale)
    A, lo, hi = [], [], []
    for i in range(n):                   # x*ref - c_i a_i <= 0
        row = np.zeros(nv)
        row[0] = ref
        row[1 + i] = -c[i]
        A.append(row / ref)
        lo.append(-np.inf)
        hi.append(0.0)
    for t in PIPE_TYPES:
        row = np.zeros(nv)
        row[1:n + 1] = [d.kind == t for d in demands]
        if row.any():
            A.append(row)
            lo.append(-np.inf)
            hi.append(float(sms))
    rmax = []
    if nq:
        least = ring_footprint(rings, [1] * n)
        cap = max(float(l2_capacity), least)
        for q, (b, ends) in enumerate(rings):     # r_q >= (B_q / cap) a_i
            for i in ends:
                row = np.zeros(nv)
                row[1 + n + q] = 1.0
                row[1 + i] = -b / cap
                A.append(row)
                lo.append(0.0)
                hi.append(np.inf)
        row = np.zeros(nv)                        # sum_q r_q <= 1 (the region)
        row[1 + n:] = 1.0
        A.append(row)
        lo.append(-np.inf)
        hi.append(1.0 + 1e-9)
        rmax = [np.inf] * nq
    xmax = mem_cap / ref if np.isfinite(mem_cap) else np.inf
    # a stage with fewer tiles than SMs can keep at most one CTA per tile busy
    amax = [float(min(sms, d.max_ctas) if d.max_ctas > 0 else sms) for d in demands]
    bounds = Bounds([0.0] + [1.0] * n + [0.0] * nq, [xmax] + amax + rmax)
    integ = np.array([0] + [1] * n + [0] * nq)
    cons = LinearConstraint(np.array(A), lo, hi)
    obj = np.zeros(nv)
    obj[0] = -1.0
    r = milp(obj, constraints=cons, integrality=integ, bounds=bounds)
    if not r.success:
        raise UserError(f"pipeline {name}: the load-balance program has no solution "
                        f"({r.message})")
    best = r.x[0]
    # second solve: the same throughput with as few CTAs as reach it
    bounds2 = Bounds([best * (1 - 1e-9)] + [1.0] * n + [0.0] * nq, [xmax] + amax + rmax)
    obj2 = np.concatenate([[0.0], np.ones(n), np.zeros(nq)])
    r2 = milp(obj2, constraints=cons, integrality=integ, bounds=bounds2)
    x = r2.x if r2.success else r.x
    a = tuple(int(round(v)) for v in x[1:n + 1])
    T = throughput(demands, a, sms=sms, mem_cap=mem_cap)
    # report tiles per second of the binding stage (Allocation.throughput)
    i_bind = int(np.argmin(c * np.array(a)))
    return Allocation(name, a, T * demands[i_bind].tiles)


def throughput(demands, a, *, sms: int, mem_cap: float = np.inf) -> float:
    """Pipeline runs per second of allocation a (the ILP's objective, evaluated directly)."""
    c = stage_rates(demands, sms)
    return float(min(float(np.min(c * np.array(a, float))), mem_cap))
