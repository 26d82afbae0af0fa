"""Event-driven execution: each step's traffic as packets through the mesh components.

The work items, cache look-ups and flows are those of the step-synchronous model (the same
`StepSyncModel` code decides hits, misses and who sends what to whom). What changes is how a
step's fetch time is found: instead of "most-loaded link bytes / link width + longest route x
hop latency", the step's flows are cut into packets of `noc.packet_bytes` and sent through
`network.MeshNetwork` — routers with finite buffers, serialisation, back-pressure and multicast
forking — in two dependent phases: the LLC -> L2 packets, then (after the LLC latency) the
L2 -> L1 packets and the output write-backs; the step's fetch time is the cycle the last
packet of the second phase is delivered, plus the L2 latency. Compute, prefetch overlap and
off-chip time are then combined exactly as in the step-synchronous model.

So the two modes differ exactly by what the max-link bound leaves out: packets on different
links that wait for each other (a multicast fork waits for its slowest branch, a full buffer
stalls the link before it), and pipelining along a route that the bound counts once. This
stage does not yet put the caches' ports and HBM stacks into components (the next stage, with
the shared cache component); its cost is one Python router tick per busy router per cycle, so
it is meant for single layers and small meshes.
"""
from __future__ import annotations

import math

import numpy as np

from archsim.engine import Clock, Simulator
from archsim.hw.manycore.network import MeshNetwork
from archsim.hw.manycore.routing import LinkLoads
from archsim.hw.manycore.stepsync import StepSyncModel


class EventModel(StepSyncModel):
    def __init__(self, cfg, seed: int = 0, **kw) -> None:
        super().__init__(cfg, seed=seed, **kw)
        self.events = 0
        self._flows: dict[str, list] = {}
        self.step_log: list[tuple[float, float]] = []   # (max-link estimate, event-driven)

    def _route(self, flows, multicast, phase=""):
        for f in flows:
            if f is not None and f[0].size:
                self._flows.setdefault(phase, []).append((f, multicast))
        return super()._route(flows, multicast, phase)

    def _mesh_cycles(self, total: LinkLoads, latency: float) -> float:
        estimate = super()._mesh_cycles(total, latency)
        flows, self._flows = self._flows, {}
        if not flows:
            self.step_log.append((estimate, 0.0))
            return 0.0
        cfg = self.cfg
        clock = Clock(cfg.tiles.clock)
        t = 0
        if flows.get("llc"):
            t = self._drain(flows["llc"], clock) + cfg.llc.latency
        second = flows.get("l2", []) + flows.get("write", [])
        if second:
            t += self._drain(second, clock) + (cfg.l2.latency if flows.get("l2") else 0)
        self.step_log.append((estimate, float(t)))
        return float(t)

    def _drain(self, batches, clock: Clock) -> int:
        """Cycles until every packet of the flows is delivered on an idle mesh."""
        cfg = self.cfg
        sim = Simulator(0)
        net = MeshNetwork(sim, self.geom, clock, link_bytes=cfg.noc.link_bytes_per_cycle,
                          hop_latency=cfg.noc.hop_latency, buffer_packets=cfg.noc.buffer_packets)
        pkt = cfg.noc.packet_bytes
        for (src, ptr, dst, nbytes), multicast in batches:
            for f in range(src.size):
                ds = dst[ptr[f]:ptr[f + 1]]
                ds = ds[ds != src[f]]
                if ds.size == 0:
                    continue
                total = int(round(float(nbytes[f])))
                groups = [ds] if multicast else [np.array([d]) for d in ds]
                for g in groups:
                    left = total
                    while left > 0:
                        net.inject(int(src[f]), g, min(pkt, left))
                        left -= pkt
        sim.run()
        self.events += sim.events_processed
        return math.ceil(sim.now / clock.period)
