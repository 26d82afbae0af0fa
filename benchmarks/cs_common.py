"""Shared helpers for the cs_*.py benchmarks (tables, plot folder).  Run from the repo root:
``PYTHONPATH=. python benchmarks/cs_<name>.py``."""
from __future__ import annotations

import os
import pathlib

import matplotlib

matplotlib.use("Agg")

PLOTS = pathlib.Path(__file__).resolve().parent / "plots"


def md_table(headers, rows, fmt="{:.2f}") -> str:
    def cell(v):
        return fmt.format(v) if isinstance(v, float) else str(v)

    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in rows]
    return "\n".join(lines)


def savefig(fig, name: str) -> str:
    PLOTS.mkdir(exist_ok=True)
    path = PLOTS / name
    fig.savefig(path, dpi=110, bbox_inches="tight")
    return os.path.relpath(path, pathlib.Path.cwd())
