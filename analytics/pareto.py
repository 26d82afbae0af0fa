"""Pareto fronts: the points no other point beats on every objective (all minimised)."""
from __future__ import annotations

from typing import Sequence


def dominates(a: Sequence[float], b: Sequence[float]) -> bool:
    """a is no worse than b everywhere and better somewhere (minimising every coordinate)."""
    return all(x <= y for x, y in zip(a, b)) and any(x < y for x, y in zip(a, b))


def pareto_front(points: Sequence[Sequence[float]]) -> list[int]:
    """Indices of the non-dominated points, in input order. Duplicates of a front point are
    all on the front. Two objectives take a sort and one pass; more use the pairwise check."""
    n = len(points)
    if n == 0:
        return []
    if all(len(p) == 2 for p in points):
        order = sorted(range(n), key=lambda i: (points[i][0], points[i][1]))
        front, best_y, best_x = [], float("inf"), None
        for i in order:
            x, y = points[i]
            if y < best_y or (y == best_y and x == best_x):
                front.append(i)
                if y < best_y:
                    best_y, best_x = y, x
        return sorted(front)
    return [i for i in range(n) if not any(dominates(points[j], points[i]) for j in range(n) if j != i)]
