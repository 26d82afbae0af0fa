"""XY routes and multicast trees on the mesh, and the vectorised link loads against them."""
from collections import Counter

import numpy as np
from hypothesis import given, settings, strategies as st

from archsim.hw.manycore.geometry import MeshGeometry
from archsim.hw.manycore.routing import (link_loads, multicast_links, next_tile, split_by_port,
                                         xy_route)

meshes = st.tuples(st.integers(1, 6), st.integers(1, 7)).map(lambda rc: MeshGeometry(*rc))


@st.composite
def mesh_and_flows(draw, max_flows=6):
    g = draw(meshes)
    flows = []
    for _ in range(draw(st.integers(0, max_flows))):
        src = draw(st.integers(0, g.tiles - 1))
        dests = draw(st.sets(st.integers(0, g.tiles - 1), min_size=1, max_size=min(6, g.tiles)))
        flows.append((src, sorted(dests), draw(st.integers(1, 1000))))
    return g, flows


def _csr(flows):
    src = [f[0] for f in flows]
    indptr = np.cumsum([0] + [len(f[1]) for f in flows])
    dst = [d for f in flows for d in f[1]]
    return src, indptr, dst, [f[2] for f in flows]


def _walk(route, g, src):
    """The tiles a route visits, checking that consecutive links are adjacent."""
    here = src
    for name, x, y in route:
        hx, hy = g.xy(here)
        port = {"E": "E", "W": "W", "S": "S", "N": "N"}[name]
        if name in ("E", "S"):
            assert (x, y) == (hx, hy)
        else:
            nx, ny = g.xy(next_tile(g, here, port))
            assert (x, y) == (nx, ny)
        here = next_tile(g, here, port)
    return here


@given(meshes, st.data())
def test_xy_route_is_minimal_and_reaches_the_destination(g, data):
    a = data.draw(st.integers(0, g.tiles - 1))
    b = data.draw(st.integers(0, g.tiles - 1))
    route = xy_route(g, a, b)
    assert len(route) == int(g.hops(a, b))          # minimal: Manhattan distance
    assert _walk(route, g, a) == b
    kinds = [r[0] for r in route]                   # all x moves before any y move
    assert kinds == sorted(kinds, key=lambda k: k in ("S", "N"))


@given(meshes, st.data())
def test_multicast_tree_is_a_tree_and_forks_deliver_each_destination_once(g, data):
    src = data.draw(st.integers(0, g.tiles - 1))
    dests = data.draw(st.sets(st.integers(0, g.tiles - 1), min_size=1, max_size=g.tiles))
    links = multicast_links(g, src, dests)
    # a tree: one upstream link per router reached, so links = routers reached - 1
    reached = {src}
    for name, x, y in links:
        a = g.tile(x, y)
        reached.add(int({"E": a + 1, "W": a, "S": a + g.cols, "N": a}[name]))
        reached.add(int({"E": a, "W": a + 1, "S": a, "N": a + g.cols}[name]))
    assert len(links) == len(reached) - 1
    # forking hop by hop with split_by_port delivers every destination exactly once,
    # over exactly the tree's links
    delivered, used, frontier = Counter(), Counter(), [(src, tuple(dests))]
    while frontier:
        here, ds = frontier.pop()
        for port, sub in split_by_port(g, here, ds).items():
            if port == "L":
                delivered.update(sub)
                continue
            nxt = next_tile(g, here, port)
            x, y = g.xy(min(here, nxt))
            used[(port, int(x), int(y))] += 1
            frontier.append((nxt, sub))
    assert delivered == Counter(dests)
    assert set(used) == links and max(used.values(), default=1) == 1


@given(mesh_and_flows(), st.booleans())
def test_link_loads_match_the_route_by_route_reference(gf, multicast):
    g, flows = gf
    ref = Counter()
    for src, dests, b in flows:
        if multicast:
            for link in multicast_links(g, src, dests):
                ref[link] += b
            if any(d != src for d in dests):
                ref[("I", src)] += b
        else:
            for d in dests:
                for link in xy_route(g, src, d):
                    ref[link] += b
                if d != src:
                    ref[("I", src)] += b
        for d in dests:
            if d != src:
                ref[("O", d)] += b
    loads = link_loads(g, *_csr(flows), multicast=multicast)
    assert loads.as_dict(g) == {k: float(v) for k, v in ref.items()}


@given(mesh_and_flows())
def test_bytes_are_conserved_and_multicast_never_costs_more(gf):
    g, flows = gf
    uni = link_loads(g, *_csr(flows), multicast=False)
    multi = link_loads(g, *_csr(flows), multicast=True)
    delivered = sum(b * sum(d != s for d in ds) for s, ds, b in flows)
    assert uni.eject.sum() == multi.eject.sum() == delivered
    unicast_hops = sum(b * int(g.hops(s, d)) for s, ds, b in flows for d in ds)
    assert uni.byte_hops() == unicast_hops
    assert multi.byte_hops() <= uni.byte_hops()


def test_a_broadcast_row_uses_each_link_once():
    g = MeshGeometry(1, 8)
    loads = link_loads(g, [0], [0, 7], list(range(1, 8)), [32])
    assert loads.east.tolist() == [[32.0] * 7]
    assert loads.inject[0] == 32 and loads.eject[1:].tolist() == [32.0] * 7
