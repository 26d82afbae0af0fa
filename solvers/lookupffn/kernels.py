"""Gather-add kernels in two loop orders, and statistics of the rows a set of codes draws.

- token-major ("naive"): each token fetches its h rows, one from every table, and sums them.
  In numpy: chunks of tokens, rows gathered into a [chunk, h, d] buffer, reduced by a batched
  product with the scores.
- table-major tiled: a tile of `tile` tokens sweeps one table at a time, accumulating into a
  [tile, d] buffer that stays in the core's private cache while the table's rows are read;
  the reference CPU kernel of the LookupFFN paper tiles 64 tokens this way.
Both compute the same y (tested); they differ in memory order only. Codes are in range by
construction, so the takes use mode="clip": numpy's default mode="raise" with `out=` gathers
into a hidden temporary and copies it (an extra pass over every row), which is numpy's
bounds-checking, not the loop order being compared.
"""
from __future__ import annotations

import numpy as np


def gather_add_token_major(tables: np.ndarray, codes: np.ndarray, scores: np.ndarray,
                           chunk: int = 64) -> np.ndarray:
    h, _, d = tables.shape
    n = codes.shape[0]
    out = np.empty((n, d), dtype=tables.dtype)
    hidx = np.arange(h)[None, :]
    buf = np.empty((chunk, h, d), dtype=tables.dtype)
    for s in range(0, n, chunk):  # chunks bound the gathered buffer; work inside is vectorised
        e = min(s + chunk, n)
        rows = buf[:e - s]
        np.take(tables.reshape(-1, d), (hidx * tables.shape[1] + codes[s:e]).ravel(),
                axis=0, out=rows.reshape(-1, d), mode="clip")
        np.matmul(scores[s:e, None, :].astype(tables.dtype), rows, out=out[s:e, None, :])
    return out


def gather_add_table_major(tables: np.ndarray, codes: np.ndarray, scores: np.ndarray,
                           tile: int = 64) -> np.ndarray:
    h, _, d = tables.shape
    n = codes.shape[0]
    out = np.empty((n, d), dtype=tables.dtype)
    sc = scores.astype(tables.dtype)
    buf = np.empty((tile, d), dtype=tables.dtype)
    for s in range(0, n, tile):
        e = min(s + tile, n)
        acc = out[s:e]
        acc[:] = 0
        rows = buf[:e - s]
        for k in range(h):        # one table at a time: its rows stay cached for the tile
            np.take(tables[k], codes[s:e, k], axis=0, out=rows, mode="clip")
            rows *= sc[s:e, k, None]
            acc += rows
    return out


def row_stats(codes: np.ndarray, rows_per_table: int, tile: int = 64) -> dict[str, int]:
    """Rows a set of codes [n, h] draws: `lookups` (n·h), `distinct` (distinct (table, row)
    pairs over all tokens), `tile_distinct` (Σ over tiles of `tile` tokens and tables of the
    distinct rows the tile draws from the table: what a tiled kernel fetches once per tile)."""
    n, h = codes.shape
    key = codes.astype(np.int64) + rows_per_table * np.arange(h, dtype=np.int64)[None, :]
    distinct = int(np.count_nonzero(np.bincount(key.ravel(), minlength=h * rows_per_table)))
    full, rest = divmod(n, tile)
    tile_distinct = 0
    for part in ([codes[:full * tile].reshape(full, tile, h)] if full else []) + \
            ([codes[full * tile:].reshape(1, rest, h)] if rest else []):
        srt = np.sort(part, axis=1)                 # each tile's codes, per table, sorted
        tile_distinct += part.shape[0] * h + int(np.count_nonzero(np.diff(srt, axis=1)))
    return {"lookups": n * h, "distinct": distinct, "tile_distinct": tile_distinct}
