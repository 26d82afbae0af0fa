"""XY routing on the mesh: routes, multicast trees and link loads.

A packet goes along x first (east or west) to its destination's column, then along y. A multicast
packet to a set of tiles follows the union of the XY routes to each of them; that union is a tree
(every router on it has exactly one upstream link), so a router forks the packet by output port
(`split_by_port`) and each link carries it once. Without multicast, every destination gets its
own unicast copy.

Links are named by direction and the lower coordinate of the two routers they join:
`("E", x, y)` carries (x, y) -> (x+1, y), `("W", x, y)` carries (x+1, y) -> (x, y),
`("S", x, y)` carries (x, y) -> (x, y+1), `("N", x, y)` carries (x, y+1) -> (x, y). The local
injection and ejection ports of tile t are `("I", t)` and `("O", t)`.

`link_loads` computes the bytes on every link for a batch of (multicast) flows at once, with
difference arrays along each row and column, so a step of a layer with 10^5 flows costs
milliseconds. `xy_route` and `multicast_links` are the slow, obvious definitions it is tested
against.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from archsim.hw.manycore.geometry import MeshGeometry

PORTS = ("E", "W", "S", "N", "L")


def xy_route(geom: MeshGeometry, src: int, dst: int) -> list[tuple]:
    """The links of the XY route from src to dst, in order."""
    x, y = geom.xy(src)
    dx, dy = geom.xy(dst)
    links = []
    while x != dx:
        if dx > x:
            links.append(("E", x, y))
            x += 1
        else:
            links.append(("W", x - 1, y))
            x -= 1
    while y != dy:
        if dy > y:
            links.append(("S", x, y))
            y += 1
        else:
            links.append(("N", x, y - 1))
            y -= 1
    return links


def multicast_links(geom: MeshGeometry, src: int, dests) -> set[tuple]:
    """The links of the multicast tree from src to dests: the union of their XY routes."""
    out: set[tuple] = set()
    for d in dests:
        out.update(xy_route(geom, src, int(d)))
    return out


def split_by_port(geom: MeshGeometry, here: int, dests) -> dict[str, tuple]:
    """What a router at `here` does with a packet for `dests`: the output port of each
    destination under XY routing ('L' = eject here), destinations grouped by port."""
    x, y = geom.xy(here)
    out: dict[str, list] = {}
    for d in dests:
        dx, dy = geom.xy(int(d))
        if dx > x:
            p = "E"
        elif dx < x:
            p = "W"
        elif dy > y:
            p = "S"
        elif dy < y:
            p = "N"
        else:
            p = "L"
        out.setdefault(p, []).append(int(d))
    return {p: tuple(v) for p, v in out.items()}


def next_tile(geom: MeshGeometry, here: int, port: str) -> int:
    return here + {"E": 1, "W": -1, "S": geom.cols, "N": -geom.cols}[port]


@dataclass
class LinkLoads:
    """Bytes on every link of the mesh (arrays indexed [y, x] as in the module doc)."""
    east: np.ndarray       # [rows, cols-1]
    west: np.ndarray       # [rows, cols-1]
    south: np.ndarray      # [rows-1, cols]
    north: np.ndarray      # [rows-1, cols]
    inject: np.ndarray     # [tiles]
    eject: np.ndarray      # [tiles]
    max_hops: int = 0

    @classmethod
    def zeros(cls, geom: MeshGeometry) -> "LinkLoads":
        r, c = geom.rows, geom.cols
        return cls(np.zeros((r, c - 1)), np.zeros((r, c - 1)), np.zeros((r - 1, c)),
                   np.zeros((r - 1, c)), np.zeros(r * c), np.zeros(r * c))

    def __iadd__(self, other: "LinkLoads") -> "LinkLoads":
        for f in ("east", "west", "south", "north", "inject", "eject"):
            getattr(self, f).__iadd__(getattr(other, f))
        self.max_hops = max(self.max_hops, other.max_hops)
        return self

    def max_link(self) -> float:
        """The most-loaded link or local port, in bytes."""
        return float(max((a.max() if a.size else 0.0) for a in
                         (self.east, self.west, self.south, self.north, self.inject, self.eject)))

    def byte_hops(self) -> float:
        """Bytes summed over the mesh links (local ports excluded)."""
        return float(self.east.sum() + self.west.sum() + self.south.sum() + self.north.sum())

    def as_dict(self, geom: MeshGeometry) -> dict[tuple, float]:
        """Nonzero loads keyed by link name (for tests and small meshes)."""
        out: dict[tuple, float] = {}
        for name, arr in (("E", self.east), ("W", self.west), ("S", self.south), ("N", self.north)):
            for (y, x), v in np.ndenumerate(arr):
                if v:
                    out[(name, x, y)] = float(v)
        for name, arr in (("I", self.inject), ("O", self.eject)):
            for t, v in enumerate(arr):
                if v:
                    out[(name, t)] = float(v)
        return out


def _spans(acc: list, width: int, line: np.ndarray, lo: np.ndarray, hi: np.ndarray,
           b: np.ndarray) -> None:
    """Queue +b on positions lo..hi-1 of row `line` of a difference array `width` wide."""
    keep = hi > lo
    if keep.any():
        acc.append((line[keep] * width + lo[keep], b[keep]))
        acc.append((line[keep] * width + hi[keep], -b[keep]))


def _cumulate(acc: list, lines: int, width: int) -> np.ndarray:
    """Sum the queued difference entries (one bincount) and integrate along each row."""
    if not acc:
        return np.zeros((lines, width))
    idx = np.concatenate([a[0] for a in acc])
    w = np.concatenate([a[1] for a in acc])
    diff = np.bincount(idx, weights=w, minlength=lines * width).reshape(lines, width)
    return np.cumsum(diff, axis=1)


def link_loads(geom: MeshGeometry, src, indptr, dst, nbytes, multicast: bool = True) -> LinkLoads:
    """Bytes per link for flows f = 0..F-1: flow f carries nbytes[f] from tile src[f] to the
    distinct tiles dst[indptr[f]:indptr[f+1]] (CSR). With multicast each flow is one XY tree;
    without, one unicast per destination. A destination equal to the source never enters the
    network and is not counted."""
    src = np.asarray(src, dtype=np.int64)
    indptr = np.asarray(indptr, dtype=np.int64)
    dst = np.asarray(dst, dtype=np.int64)
    nbytes = np.asarray(nbytes, dtype=np.float64)
    R, C = geom.rows, geom.cols
    T = R * C
    loads = LinkLoads.zeros(geom)
    if dst.size == 0:
        return loads
    counts = np.diff(indptr)
    fid = np.repeat(np.arange(src.size), counts)
    s = src[fid]
    remote = dst != s
    if not remote.all():
        fid, s, d = fid[remote], s[remote], dst[remote]
    else:
        d = dst
    if d.size == 0:
        return loads
    b = nbytes[fid]
    xs, ys = s % C, s // C
    xd, yd = d % C, d // C
    loads.max_hops = int((np.abs(xd - xs) + np.abs(yd - ys)).max())
    loads.eject += np.bincount(d, weights=b, minlength=T)
    east: list = []
    west: list = []
    south: list = []
    north: list = []
    if multicast:
        # flows whose remote destinations are one tile are plain unicasts
        rc = np.bincount(fid, minlength=src.size)
        single = (rc == 1)[fid]
        if single.any():
            fs, ss, bs = fid[single], s[single], b[single]
            xs1, ys1, xd1, yd1 = xs[single], ys[single], xd[single], yd[single]
            loads.inject += np.bincount(ss, weights=bs, minlength=T)
            _spans(east, C + 1, ys1, xs1, np.maximum(xd1, xs1), bs)
            _spans(west, C + 1, ys1, np.minimum(xd1, xs1), xs1, bs)
            _spans(south, R + 1, xd1, ys1, np.maximum(yd1, ys1), bs)
            _spans(north, R + 1, xd1, np.minimum(yd1, ys1), ys1, bs)
        multi = ~single
        if multi.any():
            fid, xd, yd = fid[multi], xd[multi], yd[multi]
            fl = np.flatnonzero(rc > 1)
            loads.inject += np.bincount(src[fl], weights=nbytes[fl], minlength=T)
            # horizontal: along the source row to the farthest destination column each way
            # (fid is sorted: CSR order survives the filtering above)
            seg = np.flatnonzero(np.r_[True, fid[1:] != fid[:-1]])
            fx_max = np.maximum.reduceat(xd, seg)
            fx_min = np.minimum.reduceat(xd, seg)
            fxs, fys = src[fl] % C, src[fl] // C
            _spans(east, C + 1, fys, fxs, np.maximum(fx_max, fxs), nbytes[fl])
            _spans(west, C + 1, fys, np.minimum(fx_min, fxs), fxs, nbytes[fl])
            # vertical: in each destination column, from the source row to the farthest row
            key = fid * C + xd
            order = np.argsort(key, kind="stable")
            ks = key[order]
            starts = np.flatnonzero(np.r_[True, ks[1:] != ks[:-1]])
            ysorted = yd[order]
            ymax = np.maximum.reduceat(ysorted, starts)
            ymin = np.minimum.reduceat(ysorted, starts)
            uk = ks[starts]
            kf, kc = uk // C, uk % C
            kys = src[kf] // C
            kb = nbytes[kf]
            _spans(south, R + 1, kc, kys, np.maximum(ymax, kys), kb)
            _spans(north, R + 1, kc, np.minimum(ymin, kys), kys, kb)
    else:
        loads.inject += np.bincount(s, weights=b, minlength=T)
        _spans(east, C + 1, ys, xs, np.maximum(xd, xs), b)
        _spans(west, C + 1, ys, np.minimum(xd, xs), xs, b)
        _spans(south, R + 1, xd, ys, np.maximum(yd, ys), b)
        _spans(north, R + 1, xd, np.minimum(yd, ys), ys, b)
    loads.east += _cumulate(east, R, C + 1)[:, :C - 1]
    loads.west += _cumulate(west, R, C + 1)[:, :C - 1]
    loads.south += _cumulate(south, C, R + 1)[:, :R - 1].T
    loads.north += _cumulate(north, C, R + 1)[:, :R - 1].T
    return loads
