"""Decoders of the case-study programs' output records (the format each .s file documents)."""
from __future__ import annotations

import numpy as np

BIN_NAMES = ("all-low", "1-high", ">=2-high")
STATES = ("idle", "compute", "stall_l1", "stall_l2", "stall_llc", "stall_dram", "sync")


def sm_util(words) -> np.ndarray:
    """sm_util.s: one row per window: active cycles of IN0, IN1, IN2 and the window's bin."""
    w = np.asarray(words, dtype=np.int64)
    return np.stack([w & 511, (w >> 9) & 511, (w >> 18) & 511, (w >> 27) & 3], 1)


def bin_fractions(rows: np.ndarray) -> np.ndarray:
    """Fraction of windows in each bin (all-low, 1-high, >=2-high)."""
    if len(rows) == 0:
        return np.zeros(3)
    return np.bincount(rows[:, 3], minlength=3)[:3] / len(rows)


def cycle_stack(words) -> dict:
    """cycle_stack.s: {(op, state): cycles} summed over every record."""
    out: dict = {}
    for key, cyc in zip(words[0::2], words[1::2]):
        k = (key >> 3, key & 7)
        out[k] = out.get(k, 0) + cyc
    return out


def nextline(words) -> np.ndarray:
    """nextline.s: rows of (misses, useful, issued) per record."""
    return np.asarray(words, dtype=np.int64).reshape(-1, 3)


def value_hist(words) -> dict:
    """value_hist.s: {tensor id: counts[512]} (bin = fp32 sign and exponent bits)."""
    out: dict = {}
    for key, cnt in zip(words[0::2], words[1::2]):
        h = out.setdefault(key >> 16, np.zeros(512, dtype=np.int64))
        h[key & 0xFFFF] += cnt
    return out
