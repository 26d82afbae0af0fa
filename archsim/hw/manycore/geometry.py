"""Where things are on the mesh: tiles, L2 groups and banks, LLC slices, memory controllers.

Tile `t` sits at x = t % cols, y = t // cols (x grows east, y grows south). A group is a
`group_rows x group_cols` rectangle of tiles sharing one L2, interleaved line by line over the
group's tiles (bank b of a group is the tile at (b % group_cols, b // group_cols) inside it). The
LLC is interleaved line by line over every tile: line address `a` lives in the slice of tile
`a % tiles`. HBM stacks attach to routers on the west and east edges (stack i on the west edge
for even i, east for odd), spread evenly along y.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class MeshGeometry:
    rows: int
    cols: int
    group_rows: int = 1
    group_cols: int = 1
    hbm_stacks: int = 0

    def __post_init__(self):
        if self.rows < 1 or self.cols < 1:
            raise ValueError(f"a mesh needs at least one tile, found {self.rows}x{self.cols}")
        if self.rows % self.group_rows or self.cols % self.group_cols:
            raise ValueError("the mesh is not a whole number of groups")

    @classmethod
    def from_config(cls, cfg) -> "MeshGeometry":
        return cls(cfg.tiles.rows, cfg.tiles.cols, cfg.l2.group_rows, cfg.l2.group_cols,
                   cfg.hbm.stacks)

    @property
    def tiles(self) -> int:
        return self.rows * self.cols

    @property
    def group_size(self) -> int:
        return self.group_rows * self.group_cols

    @property
    def groups(self) -> int:
        return self.tiles // self.group_size

    @property
    def groups_x(self) -> int:
        return self.cols // self.group_cols

    def xy(self, tile):
        """(x, y) of a tile id (or arrays of them)."""
        return tile % self.cols, tile // self.cols

    def tile(self, x, y):
        return y * self.cols + x

    def group_of(self, tile):
        x, y = self.xy(tile)
        return (y // self.group_rows) * self.groups_x + x // self.group_cols

    def group_origin(self, group):
        """Tile id of the north-west tile of a group (or arrays)."""
        gx, gy = group % self.groups_x, group // self.groups_x
        return self.tile(gx * self.group_cols, gy * self.group_rows)

    def bank_tile(self, group, line_addr):
        """The tile holding line `line_addr` in `group`'s L2 (line-interleaved over the group)."""
        b = line_addr % self.group_size
        return self.group_origin(group) + (b // self.group_cols) * self.cols + b % self.group_cols

    def slice_tile(self, line_addr):
        """The tile whose LLC slice holds line `line_addr`."""
        return line_addr % self.tiles

    def group_tiles(self, group) -> np.ndarray:
        o = int(self.group_origin(group))
        return np.array([o + r * self.cols + c for r in range(self.group_rows)
                         for c in range(self.group_cols)], dtype=np.int64)

    def hbm_tile(self, stack: int) -> int:
        """The edge router HBM stack `stack` attaches to."""
        per_side = (self.hbm_stacks + 1) // 2
        side = stack % 2
        k = stack // 2
        y = min(self.rows - 1, (2 * k + 1) * self.rows // (2 * per_side))
        return int(self.tile(0 if side == 0 else self.cols - 1, y))

    def hops(self, a, b):
        ax, ay = self.xy(a)
        bx, by = self.xy(b)
        return np.abs(ax - bx) + np.abs(ay - by)
