"""Compare archsim reports: totals side by side with ratios to the first, and a time-by-op-kind plot.

    python -m analytics.compare base/report.json other/report.json [--plot kinds.png]

Reads only the Report schema (archsim.report/1); never imports simulator internals.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

TOTALS = ("time_s", "energy_j", "dram_read_bytes", "dram_write_bytes", "flops")


def load(path: str | Path) -> dict:
    rep = json.loads(Path(path).read_text())
    if not str(rep.get("schema", "")).startswith("archsim.report/"):
        raise ValueError(f"{path}: not an archsim report (schema {rep.get('schema')!r})")
    return rep


def time_by_kind(report: dict) -> dict[str, float]:
    out: dict[str, float] = {}
    for op in report["ops"]:
        out[op["kind"]] = out.get(op["kind"], 0.0) + op["time_s"]
    return dict(sorted(out.items()))


def compare_rows(reports: list[dict]) -> list[list[str]]:
    base = reports[0]
    rows = []
    for key in TOTALS:
        row = [key, f"{base[key]:.6g}"]
        for rep in reports[1:]:
            ratio = rep[key] / base[key] if base[key] else float("nan")
            row += [f"{rep[key]:.6g}", f"{ratio:.3f}x"]
        rows.append(row)
    return rows


def plot_kinds(reports: list[dict], labels: list[str], path: str | Path) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    kinds = sorted({k for r in reports for k in time_by_kind(r)})
    fig, ax = plt.subplots(figsize=(1.6 + 1.4 * len(reports), 4))
    bottom = [0.0] * len(reports)
    for kind in kinds:
        vals = [time_by_kind(r).get(kind, 0.0) * 1e6 for r in reports]
        ax.bar(labels, vals, bottom=bottom, label=kind)
        bottom = [b + v for b, v in zip(bottom, vals)]
    ax.set_ylabel("device time (us)")
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("reports", nargs="+")
    p.add_argument("--plot", help="write a PNG of device time by op kind")
    args = p.parse_args(argv)
    try:
        reports = [load(r) for r in args.reports]
    except (OSError, ValueError, KeyError) as exc:
        print(f"analytics.compare: error: {exc}", file=sys.stderr)
        return 2
    labels = [f"{r['workload']} @ {r['machine']}" for r in reports]
    header = ["total", "base"] + [h for i in range(1, len(reports)) for h in (f"#{i}", "ratio")]
    rows = compare_rows(reports)
    widths = [max(len(x) for x in col) for col in zip(header, *rows)]
    for r in [header] + rows:
        print("  ".join(c.ljust(w) for c, w in zip(r, widths)))
    for i, lab in enumerate(labels):
        print(f"#{i}: {lab}")
    if args.plot:
        plot_kinds(reports, [f"#{i}" for i in range(len(reports))], args.plot)
    return 0


if __name__ == "__main__":
    sys.exit(main())
