"""The mesh flows of one step, as CSR arrays for `routing.link_loads`.

Three kinds of traffic move in a step:
- L2 -> L1: a block that missed in the L1s of some tiles of a group is read from the group's L2
  banks (line-interleaved over the group) and multicast to those tiles; each bank sends the
  lines it holds, so a block is up to `group_size` flows (exact).
- LLC -> L2: a block that missed in the L2s of some groups is read from the LLC slices (line
  interleaved over every tile) and multicast to the bank of each of those groups that holds the
  line. Every line has its own source slice and destination banks; a block of more than
  `samples` lines is represented by `samples` lines, one drawn at random in each of `samples`
  equal strata of the block (a seeded generator: runs reproduce), each carrying L / samples
  lines' bytes. Bytes are conserved exactly; link loads are an unbiased estimate.
- writes: a tile's finished output block goes to the LLC slices of its lines (unicast), sampled
  the same way.
"""
from __future__ import annotations

import numpy as np

from archsim.hw.manycore.geometry import MeshGeometry

_EMPTY = (np.zeros(0, np.int64), np.zeros(1, np.int64), np.zeros(0, np.int64), np.zeros(0))


def _replicate(indptr: np.ndarray, dst: np.ndarray, parent: np.ndarray):
    """CSR of flows whose destination sets are those of their parent rows."""
    counts = (indptr[1:] - indptr[:-1])[parent]
    new_ptr = np.zeros(parent.size + 1, np.int64)
    np.cumsum(counts, out=new_ptr[1:])
    if new_ptr[-1] == 0:
        return new_ptr, np.zeros(0, np.int64)
    offs = np.repeat(indptr[:-1][parent] - new_ptr[:-1], counts)
    return new_ptr, dst[offs + np.arange(new_ptr[-1])]


def bank_position(geom: MeshGeometry, bank: np.ndarray) -> np.ndarray:
    """Tile offset (from the group origin) of bank index `bank` within a group."""
    return (bank // geom.group_cols) * geom.cols + bank % geom.group_cols


def l2_to_l1(geom: MeshGeometry, group: np.ndarray, base: np.ndarray, lines: np.ndarray,
             indptr: np.ndarray, dst: np.ndarray, line_bytes: int):
    """Flows for pairs p (a block `base[p]`, `lines[p]` lines, in group `group[p]`) to the tiles
    dst[indptr[p]:indptr[p+1]]."""
    P = group.size
    if P == 0:
        return _EMPTY
    B = geom.group_size
    pb = np.repeat(np.arange(P), B)
    b = np.tile(np.arange(B), P)
    L = lines[pb]
    cnt = L // B + (((b - base[pb]) % B) < (L % B))
    keep = cnt > 0
    pb, b, cnt = pb[keep], b[keep], cnt[keep]
    src = geom.group_origin(group[pb]) + bank_position(geom, b)
    ptr, d = _replicate(indptr, dst, pb)
    return src, ptr, d, cnt.astype(np.float64) * line_bytes


def _sample(base: np.ndarray, lines: np.ndarray, samples: int, rng: np.random.Generator | None):
    """(parent row, line address, weight in lines) of the sampled lines of each block.

    A block of L > samples lines is cut into `samples` equal strata and one line is drawn at
    random in each (jittered stratified sampling: a fixed stride would alias with the
    interleaving, e.g. stride 2 would put every sample in an even slice)."""
    n = np.minimum(lines, samples)
    parent = np.repeat(np.arange(base.size), n)
    start = np.zeros(base.size + 1, np.int64)
    np.cumsum(n, out=start[1:])
    j = np.arange(start[-1]) - start[:-1][parent]
    L = lines[parent]
    k = n[parent]
    if rng is None or (L == k).all():
        idx = (j * L) // k
    else:
        u = rng.random(j.size)
        idx = np.minimum(((j + u) * L / k).astype(np.int64), L - 1)
    return parent, base[parent] + idx, L / k


def llc_to_l2(geom: MeshGeometry, base: np.ndarray, lines: np.ndarray, indptr: np.ndarray,
              groups: np.ndarray, line_bytes: int, samples: int,
              rng: np.random.Generator | None = None):
    """Flows for blocks k (base[k], lines[k]) that missed in the groups
    groups[indptr[k]:indptr[k+1]]."""
    if base.size == 0:
        return _EMPTY
    parent, addr, w = _sample(base, lines, samples, rng)
    src = geom.slice_tile(addr)
    ptr, g = _replicate(indptr, groups, parent)
    counts = ptr[1:] - ptr[:-1]
    off = np.repeat(bank_position(geom, addr % geom.group_size), counts)
    d = geom.group_origin(g) + off
    return src, ptr, d, w * line_bytes


def writes_to_llc(geom: MeshGeometry, tiles: np.ndarray, base: np.ndarray, lines: np.ndarray,
                  line_bytes: int, samples: int, rng: np.random.Generator | None = None):
    """Unicast flows of output blocks from `tiles` to the LLC slices of their lines."""
    if tiles.size == 0:
        return _EMPTY
    parent, addr, w = _sample(base, lines, samples, rng)
    src = tiles[parent]
    d = geom.slice_tile(addr)
    ptr = np.arange(d.size + 1, dtype=np.int64)
    return src, ptr, d, w * line_bytes
