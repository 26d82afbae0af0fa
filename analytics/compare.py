"""Compare archsim reports: totals side by side with ratios to the first, a time-by-op-kind plot,
and an HTML diff view (`archsim compare A B ... --html diff.html`).

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


MORE = ("cycles", "avg_power_w", "achieved_flops_per_s", "l2.hit_bytes", "l2.miss_bytes")


def _get(rep: dict, key: str):
    if key.startswith("l2."):
        return (rep.get("l2") or {}).get(key[3:])
    return rep.get(key)


def ratio_rows(reports: list[dict], keys) -> list[tuple[str, list, list]]:
    """(key, values, ratios to the first report) for each key any report has."""
    out = []
    for key in keys:
        vals = [_get(r, key) for r in reports]
        if all(v is None for v in vals):
            continue
        base = vals[0]
        ratios = [(v / base if isinstance(v, (int, float)) and isinstance(base, (int, float))
                   and base else None) for v in vals]
        out.append((key, vals, ratios))
    return out


def _breakdown(reports: list[dict], get) -> list[tuple[str, list, list]]:
    names = sorted({k for r in reports for k in get(r)})
    out = []
    for n in names:
        vals = [get(r).get(n, 0.0) for r in reports]
        out.append((n, vals, [v / vals[0] if vals[0] else None for v in vals]))
    return out


def format_text(reports: list[dict], labels: list[str]) -> str:
    """The totals table with ratios to the first report, then the labels."""
    rows = ratio_rows(reports, TOTALS + ("l2.hit_rate",) + MORE)
    header = ["total", "#0"] + [h for i in range(1, len(reports)) for h in (f"#{i}", "ratio")]
    body = []
    for key, vals, ratios in rows:
        r = [key, _fmt(vals[0])]
        for v, q in zip(vals[1:], ratios[1:]):
            r += [_fmt(v), f"{q:.3f}x" if q is not None else "-"]
        body.append(r)
    widths = [max(len(x) for x in col) for col in zip(header, *body)]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in [header] + body]
    lines += [f"#{i}: {lab}" for i, lab in enumerate(labels)]
    return "\n".join(lines)


def _fmt(v) -> str:
    return "-" if v is None else f"{v:.6g}" if isinstance(v, (int, float)) else str(v)


def html_diff(reports: list[dict], labels: list[str]) -> str:
    """A self-contained HTML page: totals, energy by component and time by op kind side by side,
    each with its ratio to the first report (green: smaller, red: larger), and the kinds plot."""
    import base64
    import html as _html
    import io
    import tempfile

    def cell_ratio(q):
        if q is None:
            return "<td>-</td>"
        cls = "better" if q < 0.995 else "worse" if q > 1.005 else ""
        return f"<td class='n {cls}'>{q:.3f}x</td>"

    def block(title, rows):
        head = "<tr><th></th>" + "".join(
            f"<th>#{i}</th>" + ("<th>ratio</th>" if i else "") for i in range(len(reports))) + "</tr>"
        trs = []
        for key, vals, ratios in rows:
            tds = "".join(f"<td class=n>{_fmt(v)}</td>" + (cell_ratio(q) if i else "")
                          for i, (v, q) in enumerate(zip(vals, ratios)))
            trs.append(f"<tr><th>{_html.escape(str(key))}</th>{tds}</tr>")
        return f"<h2>{title}</h2><table>{head}{''.join(trs)}</table>"

    with tempfile.TemporaryDirectory() as tmp:
        png = f"{tmp}/kinds.png"
        plot_kinds(reports, [f"#{i}" for i in range(len(reports))], png)
        with open(png, "rb") as fh:
            b64 = base64.b64encode(fh.read()).decode("ascii")
    from analytics.html import CSS, SCRIPT
    legend = "".join(f"<li>#{i}: {_html.escape(lab)}</li>" for i, lab in enumerate(labels))
    body = (f"<h1>archsim compare</h1><ul>{legend}</ul>"
            + block("Totals", ratio_rows(reports, TOTALS + ("l2.hit_rate",) + MORE))
            + block("Energy by component (J)", _breakdown(
                reports, lambda r: (r.get("energy") or {}).get("by_component", {})))
            + block("Time by op kind (s)", _breakdown(reports, time_by_kind))
            + f"<h2>Device time by op kind</h2><figure><img alt='time by op kind' "
              f"src='data:image/png;base64,{b64}'></figure>")
    return ("<!DOCTYPE html><html lang=en><head><meta charset=utf-8><title>archsim compare</title>"
            f"<style>{CSS}</style></head><body>{body}<script>{SCRIPT}</script></body></html>\n")


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
