"""The mesh as components on the engine's message layer (`archsim.engine.component`).

One `RouterNode` per tile. Neighbouring routers are joined by one `Link` per direction
(latency `noc.hop_latency` cycles, bandwidth `noc.link_bytes_per_cycle`, depth
`noc.buffer_packets` messages: the credits of the next router's input buffer). Each tile's
network interface is a `Port` node joined to its router by an injection link and an ejection
link of the same width (its local port). A packet is one engine `Message`; its destination set
lives in the network's packet table under the message's `tag` (a `Message` carries one
destination name, a multicast packet has several).

A router keeps one FIFO per input (E, W, S, N from its neighbours, L from its tile). When a
message arrives, or an output link frees a credit, it serves its inputs round robin: the head
packet is split by `routing.split_by_port` (XY routing; a multicast packet is forked, each
output port getting the destinations behind it), each part is sent on its output link when
that link has a credit (`Link.send`; a refusal is back-pressure and the router resumes in
`on_link_free`), and once every part has left the head is dropped and its input link
released (giving the upstream router its credit back). So a link carries a multicast packet
once and every destination receives it once (tested). A link serialises its messages at its
bandwidth and delivers each after its latency (store and forward per hop: with one-line
packets, a flit, that is cut-through). Head-of-line blocking at an input is modelled; virtual
channels are not (XY routing on a mesh needs none to be deadlock free).
"""
from __future__ import annotations

from collections import deque
from typing import Callable

from archsim.engine import Clock
from archsim.engine.component import Link, Machine, Message, Node
from archsim.hw.manycore.geometry import MeshGeometry
from archsim.hw.manycore.routing import next_tile, split_by_port

DIRS = ("E", "W", "S", "N")
OPPOSITE = {"E": "W", "W": "E", "S": "N", "N": "S"}
PORTS = ("L",) + DIRS


class RouterNode(Node):
    def __init__(self, net: "MeshNetwork", tile: int) -> None:
        super().__init__(net.machine, f"router{tile}")
        self.net = net
        self.tile = tile
        self.in_port: dict[str, str] = {}         # input link name -> port
        self.out: dict[str, Link] = {}            # port -> output link
        self.q = {p: deque() for p in PORTS}      # port -> (input link, message)
        self._split: dict[int, dict] = {}         # tag of an input head -> port -> dests
        self._rr = 0
        self.hops = 0

    def on_message(self, link: str, msg: Message) -> None:
        self.q[self.in_port[link]].append((link, msg))
        self._serve()

    def on_link_free(self, link: str) -> None:
        self._serve()

    def _route(self, dests: tuple) -> dict:
        """Output port -> destinations of a packet for `dests` here (`split_by_port`; a unicast
        packet, most of them, without the general grouping)."""
        if len(dests) == 1:
            d = dests[0]
            cols = self.net.geom.cols
            x, y = self.tile % cols, self.tile // cols
            dx, dy = d % cols, d // cols
            p = "E" if dx > x else "W" if dx < x else "S" if dy > y else "N" if dy < y else "L"
            return {p: dests}
        return split_by_port(self.net.geom, self.tile, dests)

    def _serve(self) -> None:
        net = self.net
        queues, outs, splits = self.q, self.out, self._split
        progress = True
        while progress:
            progress = False
            rr = self._rr
            for i in range(5):
                port = PORTS[(rr + i) % 5]
                q = queues[port]
                if not q:
                    continue
                link, msg = q[0]
                split = splits.get(msg.tag)
                if split is None:
                    split = self._route(net.dests[msg.tag])
                    splits[msg.tag] = split
                for out in list(split):
                    olink = outs[out]
                    st = olink.state
                    if st.occupancy >= olink.spec.depth:
                        st.blocked = True            # as a refused send: on_link_free follows
                        continue
                    part = split[out]
                    if len(split) == 1:              # the rest of the packet goes one way
                        fwd = msg
                        if out != "L":
                            net.dests[msg.tag] = part
                    else:
                        tag = net.fork(msg.tag, part)
                        if out != "L":
                            net.dests[tag] = part
                        fwd = Message(msg.kind, msg.nbytes, msg.addr, src=msg.src, tag=tag)
                    olink.send(fwd)
                    del split[out]
                    if out != "L":
                        net.link_bytes_moved += msg.nbytes
                        key = (self.tile, out)
                        net.link_load[key] = net.link_load.get(key, 0) + msg.nbytes
                if not split:
                    del splits[msg.tag]
                    q.popleft()
                    net.machine.links[link].release()
                    progress = True
            self._rr = (self._rr + 1) % 5


class Port(Node):
    """A tile's network interface: a queue of packets to inject, and the ejection sink."""

    def __init__(self, net: "MeshNetwork", tile: int) -> None:
        super().__init__(net.machine, f"port{tile}")
        self.net = net
        self.tile = tile
        self.queue: deque = deque()
        self.link: Link | None = None

    def send(self, msg: Message) -> None:
        self.queue.append(msg)
        self._push()

    def _push(self) -> None:
        while self.queue and self.link.send(self.queue[0]):
            self.queue.popleft()

    def on_link_free(self, link: str) -> None:
        self._push()

    def on_message(self, link: str, msg: Message) -> None:
        self.net.machine.links[link].release()
        self.net._arrive(self.tile, msg)


class MeshNetwork:
    """Routers and ports for every tile of `geom` on `machine`. `inject(src, dests, nbytes,
    kind, tag)` queues a packet at its source's port; `on_deliver(tile, packet_id, kind,
    nbytes)` runs once per destination when the packet's last byte has left that tile's
    ejection link. `packet_id` is what `inject` returned."""

    def __init__(self, machine: Machine, geom: MeshGeometry, clock: Clock, *, link_bytes: int,
                 hop_latency: int, buffer_packets: int,
                 on_deliver: Callable[[int, int, str, int], None] | None = None) -> None:
        self.machine, self.geom, self.clock = machine, geom, clock
        self.on_deliver = on_deliver
        self.dests: dict[int, tuple] = {}       # tag -> destinations still ahead
        self.origin: dict[int, int] = {}        # tag of a fork -> packet id
        self.link_bytes_moved = 0
        self.link_load: dict[tuple, int] = {}
        self.delivered = 0
        self._tag = 0
        per = clock.period
        bw = link_bytes / per
        lat = hop_latency * per
        self.routers = [RouterNode(self, t) for t in range(geom.tiles)]
        self.ports = [Port(self, t) for t in range(geom.tiles)]
        for t, r in enumerate(self.routers):
            x, y = (int(v) for v in geom.xy(t))
            for port in DIRS:
                if (port == "E" and x == geom.cols - 1) or (port == "W" and x == 0) or \
                        (port == "S" and y == geom.rows - 1) or (port == "N" and y == 0):
                    continue
                nb = next_tile(geom, t, port)
                name = f"link{t}{port}"
                r.out[port] = Link(machine, name, r.name, f"router{nb}", latency=lat,
                                   bandwidth=bw, depth=buffer_packets)
                self.routers[nb].in_port[name] = OPPOSITE[port]
            p = self.ports[t]
            p.link = Link(machine, f"inject{t}", p.name, r.name, latency=0, bandwidth=bw,
                          depth=buffer_packets)
            r.in_port[f"inject{t}"] = "L"
            r.out["L"] = Link(machine, f"eject{t}", r.name, p.name, latency=0, bandwidth=bw)

    def inject(self, src: int, dests, nbytes: int, kind: str = "data") -> int:
        tag = self._tag
        self._tag += 1
        self.dests[tag] = tuple(int(d) for d in dests)
        self.origin[tag] = tag
        self.ports[src].send(Message(kind, int(nbytes), 0, src=str(src), tag=tag))
        return tag

    def fork(self, tag: int, part) -> int:
        t = self._tag
        self._tag += 1
        self.origin[t] = self.origin[tag]
        return t

    def unfork(self, tag: int) -> None:
        self.dests.pop(tag, None)
        self.origin.pop(tag, None)

    def _arrive(self, tile: int, msg: Message) -> None:
        self.delivered += 1
        if self.on_deliver is not None:
            self.on_deliver(tile, self.origin[msg.tag], msg.kind, msg.nbytes)
