"""The caches of the step-synchronous model, behind a small interface.

`BlockCache` is what a tile's L1 and a group's L2 are to that model: a fully associative LRU
over *operand blocks* (a lowering's A/B blocks, keyed by integers), sized in bytes. It is a
stand-in: the line-granular set-associative Cython cache component being built for the shared
component layer (issue "Machines as components") will replace it behind the same two calls,
`access(key, nbytes) -> hit` and `flush()`. Block granularity ignores set conflicts and partial
hits: a block is wholly present or wholly fetched.

`TensorLlc` is the chip-wide LLC at tensor granularity (an op's operands and results by name,
LRU, partial residency for tensors larger than it), which decides off-chip traffic: bytes read
that are not resident come from HBM, dirty bytes evicted go back to it.
"""
from __future__ import annotations

from collections import OrderedDict

import numpy as np


class BlockCache:
    """Fully associative LRU of blocks; `capacity` in bytes."""

    __slots__ = ("capacity", "used", "_blocks", "hits", "misses")

    def __init__(self, capacity: int) -> None:
        self.capacity = int(capacity)
        self.used = 0
        self._blocks: OrderedDict[int, int] = OrderedDict()
        self.hits = 0
        self.misses = 0

    def access(self, key: int, nbytes: int) -> bool:
        """Touch block `key` of `nbytes`; True on a hit. A miss allocates it (LRU eviction);
        a block larger than the cache is fetched but not kept."""
        blocks = self._blocks
        if key in blocks:
            blocks.move_to_end(key)
            self.hits += 1
            return True
        self.misses += 1
        if nbytes > self.capacity:
            return False
        while self.used + nbytes > self.capacity:
            _, size = blocks.popitem(last=False)
            self.used -= size
        blocks[key] = nbytes
        self.used += nbytes
        return False

    def __contains__(self, key: int) -> bool:
        return key in self._blocks

    def flush(self) -> None:
        self._blocks.clear()
        self.used = 0


class TensorLlc:
    """LRU over tensors (bytes resident and whether dirty); `capacity` in bytes."""

    def __init__(self, capacity: int) -> None:
        self.capacity = int(capacity)
        self._t: OrderedDict[str, list] = OrderedDict()   # name -> [resident bytes, dirty]
        self.used = 0

    def _make_room(self, nbytes: int, keep: str) -> int:
        """Evict LRU tensors (not `keep`) until nbytes fit; returns dirty bytes evicted."""
        dirty = 0
        while self.used + nbytes > self.capacity and self._t:
            name = next(iter(self._t))
            if name == keep:
                if len(self._t) == 1:
                    break
                self._t.move_to_end(name)
                continue
            size, d = self._t.pop(name)
            self.used -= size
            if d:
                dirty += size
        return dirty

    def read(self, name: str, nbytes: int) -> tuple[int, int]:
        """Read a tensor of nbytes: (bytes missed -> read from HBM, dirty bytes written back)."""
        entry = self._t.get(name)
        have = entry[0] if entry else 0
        want = min(nbytes, self.capacity)
        miss = nbytes - min(have, nbytes)
        dirty = 0
        if want > have:
            dirty = self._make_room(want - have, name)
            grow = min(want - have, self.capacity - self.used)
            if entry is None:
                entry = self._t[name] = [0, False]
            entry[0] += grow
            self.used += grow
        if entry is not None:
            self._t.move_to_end(name)
        return miss, dirty

    def write(self, name: str, nbytes: int) -> tuple[int, int]:
        """Write a tensor of nbytes: (bytes that do not fit and go straight to HBM, dirty
        bytes of other tensors written back to make room)."""
        entry = self._t.pop(name, None)
        if entry:
            self.used -= entry[0]
        keep = min(nbytes, self.capacity)
        dirty = self._make_room(keep, name)
        keep = min(keep, self.capacity - self.used)
        self._t[name] = [keep, True]
        self.used += keep
        return nbytes - keep, dirty

    def resident(self, name: str) -> int:
        e = self._t.get(name)
        return e[0] if e else 0


class TileLrus:
    """The L1s of every tile at once: per tile a fully associative LRU of up to `slots` blocks
    within `capacity` bytes, looked up for many tiles in one vectorised call (one block per
    tile per call, as in a step). With blocks no smaller than capacity / slots it behaves
    exactly like one `BlockCache` per tile (tested); smaller blocks are also evicted when the
    slots run out."""

    def __init__(self, tiles: int, capacity: int, slots: int = 16) -> None:
        self.capacity = int(capacity)
        self.keys = np.full((tiles, slots), -1, dtype=np.int64)
        self.size = np.zeros((tiles, slots), dtype=np.int64)
        self.stamp = np.zeros((tiles, slots), dtype=np.int64)
        self.clock = 0

    def access(self, tiles: np.ndarray, keys: np.ndarray, nbytes: int) -> np.ndarray:
        """Touch block keys[i] (nbytes each) in tile tiles[i] (tiles distinct); hit mask."""
        self.clock += 1
        K = self.keys[tiles]
        match = K == keys[:, None]
        hit = match.any(axis=1)
        if hit.any():
            rows, cols = np.nonzero(match)
            self.stamp[tiles[rows], cols] = self.clock
        miss = ~hit
        if nbytes > self.capacity or not miss.any():
            return hit
        mt = tiles[miss]
        # evict least recently used blocks until the new one fits and a slot is free
        while True:
            used = self.size[mt].sum(axis=1)
            full = (self.keys[mt] >= 0).all(axis=1)
            need = (used + nbytes > self.capacity) | full
            if not need.any():
                break
            nt = mt[need]
            st = np.where(self.keys[nt] >= 0, self.stamp[nt], np.iinfo(np.int64).max)
            victim = st.argmin(axis=1)
            self.keys[nt, victim] = -1
            self.size[nt, victim] = 0
        free = (self.keys[mt] < 0).argmax(axis=1)
        self.keys[mt, free] = keys[miss]
        self.size[mt, free] = nbytes
        self.stamp[mt, free] = self.clock
        return hit
