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


def mean_std(values, fmt="{:.2f}") -> str:
    """'mean ± sample std' over seeds; non-finite values are counted, not averaged."""
    import numpy as np
    v = np.asarray(values, dtype=float)
    ok = v[np.isfinite(v)]
    if len(ok) == 0:
        return f"diverged {len(v)}/{len(v)}"
    text = fmt.format(ok.mean()) + " ± " + fmt.format(ok.std(ddof=1) if len(ok) > 1 else 0.0)
    return text if len(ok) == len(v) else f"{text} (diverged {len(v) - len(ok)}/{len(v)})"


def seed_rows(per_seed_rows, n_label_cols: int, fmt="{:.2f}"):
    """Rows of mean ± std: per_seed_rows[s][i] is seed s's row i; the first n_label_cols cells
    are labels (equal across seeds), the rest numbers."""
    out = []
    for i, row in enumerate(per_seed_rows[0]):
        cells = list(row[:n_label_cols])
        for j in range(n_label_cols, len(row)):
            if isinstance(row[j], str):      # a text cell ("-"): as seed 0 has it
                cells.append(row[j])
            else:
                cells.append(mean_std([rows[i][j] for rows in per_seed_rows], fmt))
        out.append(cells)
    return out
