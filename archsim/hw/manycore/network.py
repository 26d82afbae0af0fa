"""The mesh as components: one router per tile, links as bounded channels, XY multicast.

A `Router` is an engine `Component` with five input buffers (E, W, S, N from its neighbours,
each a `Channel` of `buffer_packets` packets and `hop_latency` cycles of latency, and L, its
tile's injection queue) and five output ports (the four links and the ejection port to its
tile). Every cycle, each free output port takes the packet at the head of one input (round
robin over the inputs) that has destinations behind that port, if the next router's buffer has
room; the port is then busy for ceil(bytes / link width) cycles (serialisation). A multicast
packet is forked at the router by `routing.split_by_port`: each output port gets a copy with
the destinations behind it, and the input buffer frees the packet once every copy has left —
so each link carries a multicast packet once and each destination receives it once.

Message granularity is a packet of up to `noc.packet_bytes` (a bundle of lines), not a flit;
contention, back-pressure (a full buffer holds the upstream port) and serialisation are
modelled, virtual channels and deadlock-avoidance are not (XY routing on a mesh is deadlock
free without them).
"""
from __future__ import annotations

import math
from collections import deque
from typing import Callable

from archsim.engine import Channel, Clock, Component, Simulator
from archsim.hw.manycore.geometry import MeshGeometry
from archsim.hw.manycore.routing import next_tile, split_by_port

DIRS = ("E", "W", "S", "N")
OPPOSITE = {"E": "W", "W": "E", "S": "N", "N": "S"}


class Packet:
    __slots__ = ("pid", "dests", "nbytes", "tag", "src", "born")

    def __init__(self, pid: int, src: int, dests: tuple, nbytes: int, tag=None, born: int = 0):
        self.pid, self.src, self.dests, self.nbytes, self.tag, self.born = \
            pid, src, dests, nbytes, tag, born


class Router(Component):
    def __init__(self, net: "MeshNetwork", tile: int) -> None:
        super().__init__(net.sim, f"router{tile}", net.clock)
        self.net = net
        self.tile = tile
        self.inputs: dict[str, Channel] = {}      # filled by MeshNetwork: port -> channel
        self.outputs: dict[str, Channel] = {}     # port -> the neighbour's input channel
        self.local: deque = deque()               # injection queue (the tile's NI)
        self.busy_until = {p: 0 for p in DIRS + ("L",)}
        self._pending: dict[int, dict] = {}       # id(packet at an input head) -> port -> dests
        self._rr = 0

    def _heads(self):
        """(input name, packet) of every input with a packet ready, in round-robin order."""
        names = ("L",) + DIRS
        n = len(names)
        out = []
        for i in range(n):
            name = names[(self._rr + i) % n]
            if name == "L":
                if self.local:
                    out.append((name, self.local[0]))
            else:
                ch = self.inputs.get(name)
                if ch is not None and ch.can_get():
                    out.append((name, ch.peek()))
        return out

    def tick(self) -> bool:
        net = self.net
        now = self.sim.now
        period = self.period
        heads = self._heads()
        if not heads:
            return False
        progressed = False
        wait_until = None
        for name, pkt in heads:
            split = self._pending.get(id(pkt))
            if split is None:
                split = dict(split_by_port(net.geom, self.tile, pkt.dests))
                self._pending[id(pkt)] = split
            for port in list(split):
                if self.busy_until[port] > now:
                    wait_until = self.busy_until[port] if wait_until is None \
                        else min(wait_until, self.busy_until[port])
                    continue
                dests = split[port]
                ser = math.ceil(pkt.nbytes / net.link_bytes) * period
                if port == "L":
                    self.busy_until["L"] = now + ser
                    net._deliver_at(now + ser, self.tile, pkt, dests)
                else:
                    ch = self.outputs[port]
                    if not ch.can_put():
                        continue               # back-pressure: woken when the buffer drains
                    ch.put(Packet(pkt.pid, pkt.src, dests, pkt.nbytes, pkt.tag, pkt.born))
                    self.busy_until[port] = now + ser
                    net.link_bytes_moved += pkt.nbytes
                    net.link_load[(self.tile, port)] = \
                        net.link_load.get((self.tile, port), 0) + pkt.nbytes
                del split[port]
                progressed = True
            if not split:
                del self._pending[id(pkt)]
                if name == "L":
                    self.local.popleft()
                else:
                    self.inputs[name].get()
                progressed = True
        self._rr = (self._rr + 1) % 5
        if progressed:
            return True
        if wait_until is not None:
            self.sim.schedule(max(0, wait_until - now), self.wake)
        return False


class MeshNetwork:
    """Routers for every tile of `geom`, joined by bounded channels. `inject` a packet at its
    source; `on_deliver(tile, packet)` is called once per destination when the packet's last
    byte has left the destination router's ejection port."""

    def __init__(self, sim: Simulator, geom: MeshGeometry, clock: Clock, *, link_bytes: int,
                 hop_latency: int, buffer_packets: int,
                 on_deliver: Callable[[int, Packet], None] | None = None) -> None:
        self.sim, self.geom, self.clock = sim, geom, clock
        self.link_bytes = link_bytes
        self.on_deliver = on_deliver
        self.routers = [Router(self, t) for t in range(geom.tiles)]
        self.link_bytes_moved = 0
        self.link_load: dict[tuple, int] = {}
        self.delivered = 0
        self._pid = 0
        lat = hop_latency * clock.period
        for t, r in enumerate(self.routers):
            x, y = (int(v) for v in geom.xy(t))
            for port in DIRS:
                if (port == "E" and x == geom.cols - 1) or (port == "W" and x == 0) or \
                        (port == "S" and y == geom.rows - 1) or (port == "N" and y == 0):
                    continue
                nb = self.routers[next_tile(geom, t, port)]
                ch = Channel(sim, f"link{t}{port}", buffer_packets, lat)
                ch.producer = r
                ch.consumer = nb
                r.outputs[port] = ch
                nb.inputs[OPPOSITE[port]] = ch

    def inject(self, src: int, dests, nbytes: int, tag=None) -> Packet:
        pkt = Packet(self._pid, src, tuple(int(d) for d in dests), int(nbytes), tag, self.sim.now)
        self._pid += 1
        r = self.routers[src]
        r.local.append(pkt)
        r.wake()
        return pkt

    def _deliver_at(self, when: int, tile: int, pkt: Packet, dests) -> None:
        def done():
            self.delivered += 1
            if self.on_deliver is not None:
                self.on_deliver(tile, pkt)
        self.sim.schedule_at(when, done)
