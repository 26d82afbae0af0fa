"""The mesh as components: every packet is delivered, once per destination, over XY routes."""
from collections import Counter

from hypothesis import given, settings, strategies as st

from archsim.engine import Clock, Simulator
from archsim.hw.manycore.geometry import MeshGeometry
from archsim.hw.manycore.network import MeshNetwork
from archsim.hw.manycore.routing import multicast_links, xy_route


def _net(rows, cols, buffer=2, link=32, hop=2, seed=0):
    sim = Simulator(seed)
    got = []
    net = MeshNetwork(sim, MeshGeometry(rows, cols), Clock(1e9), link_bytes=link,
                      hop_latency=hop, buffer_packets=buffer,
                      on_deliver=lambda t, p: got.append((t, p.tag, sim.now)))
    return sim, net, got


@st.composite
def traffic(draw):
    rows, cols = draw(st.integers(1, 4)), draw(st.integers(1, 5))
    n = rows * cols
    pkts = []
    for _ in range(draw(st.integers(1, 25))):
        src = draw(st.integers(0, n - 1))
        dests = draw(st.sets(st.integers(0, n - 1), min_size=1, max_size=n))
        pkts.append((src, sorted(dests), draw(st.integers(1, 200)), draw(st.integers(0, 30))))
    return rows, cols, pkts, draw(st.integers(1, 3)), draw(st.booleans())


@settings(max_examples=40)
@given(traffic())
def test_every_packet_reaches_every_destination_exactly_once(case):
    rows, cols, pkts, buffer, _ = case
    sim, net, got = _net(rows, cols, buffer)
    for i, (src, dests, nbytes, at) in enumerate(pkts):
        sim.schedule(at * 1000, net.inject, src, dests, nbytes, i)
    sim.run()
    want = Counter((d, i) for i, (_, dests, _, _) in enumerate(pkts) for d in dests)
    assert Counter((t, pid) for t, pid, _ in got) == want
    # bytes on links = each packet's bytes times the links of its multicast tree
    g = net.geom
    tree = sum(nb * len(multicast_links(g, s, ds)) for s, ds, nb, _ in pkts)
    assert net.link_bytes_moved == tree
    assert all(not r.local and not r._pending for r in net.routers)


@given(st.integers(1, 5), st.integers(1, 6), st.data())
def test_an_idle_mesh_delivers_after_hops_times_latency_plus_serialisation(rows, cols, data):
    """Virtual cut-through: the head moves one hop per hop latency, the tail follows it by the
    packet's serialisation time."""
    sim, net, got = _net(rows, cols, hop=3, link=32)
    src = data.draw(st.integers(0, rows * cols - 1))
    dst = data.draw(st.integers(0, rows * cols - 1))
    nbytes = data.draw(st.integers(1, 256))
    net.inject(src, [dst], nbytes)
    sim.run()
    (tile, _, t), = got
    hops = len(xy_route(net.geom, src, dst))
    ser = -(-nbytes // 32)
    assert t == (hops * 3 + ser) * 1000


def test_a_shared_link_serialises_two_streams():
    sim, net, got = _net(1, 3, buffer=8, link=32, hop=1)
    for _ in range(4):
        net.inject(0, [2], 64)     # both streams cross the link 1 -> 2
        net.inject(1, [2], 64)
    sim.run()
    # eight 2-cycle packets through one ejection port need at least 16 cycles
    assert max(t for *_, t in got) >= 16 * 1000
    assert net.link_load[(1, "E")] == 8 * 64 and net.link_load[(0, "E")] == 4 * 64


def test_same_inputs_same_delivery_order():
    def run():
        sim, net, got = _net(3, 3, buffer=1)
        for i in range(30):
            net.inject(i % 9, [(i * 5) % 9, (i * 7 + 1) % 9], 40 + i, i)
        sim.run()
        return got
    assert run() == run()
