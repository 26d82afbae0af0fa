"""Self-contained HTML pages (and a Markdown summary) for one Report or a sweep's records.

No network: figures are base64 PNGs inside the page, the style sheet is inline. A short inline
script records, once the page has loaded, how many figures decoded (`data-figures-loaded` on
<body>), which is how the headless-browser test checks every figure loaded.

Reads only Reports and sweep records; never imports archsim.
"""
from __future__ import annotations

import html
import json
from typing import Any, Callable

from analytics import figures
from analytics.pareto import pareto_front

CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Helvetica,Arial,sans-serif;margin:24px auto;
max-width:1180px;color:#1d2330;background:#fff}
h1{font-size:22px;margin:0 0 4px} h2{font-size:17px;margin:28px 0 8px;border-bottom:1px solid #dde}
table{border-collapse:collapse;font-size:13px;margin:6px 0} td,th{padding:3px 9px;border-bottom:1px solid #eef}
th{background:#f3f5f9;text-align:left} td.n{text-align:right;font-variant-numeric:tabular-nums}
figure{margin:10px 0} figure img{max-width:100%;border:1px solid #e4e7ee}
figcaption{font-size:12px;color:#556} .muted{color:#667;font-size:12px}
.better{color:#17803d} .worse{color:#b42318} .fail{color:#b42318}
"""

SCRIPT = """
window.addEventListener('load', function () {
  var imgs = document.images, ok = 0;
  for (var i = 0; i < imgs.length; i++) {
    if (imgs[i].complete && imgs[i].naturalWidth > 0) ok++;
  }
  document.body.setAttribute('data-figures', String(imgs.length));
  document.body.setAttribute('data-figures-loaded', String(ok));
});
"""


def esc(x: Any) -> str:
    return html.escape(str(x), quote=True)


def si(x: float | None, unit: str) -> str:
    if x is None:
        return "-"
    for scale, prefix in ((1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "k"), (1, ""),
                          (1e-3, "m"), (1e-6, "µ"), (1e-9, "n")):
        if abs(x) >= scale:
            return f"{x / scale:.3f} {prefix}{unit}"
    return f"{x:.3g} {unit}"


def table(header: list[str], rows: list[list[Any]], numeric: set[int] | None = None) -> str:
    numeric = numeric or set()
    out = ["<table><tr>" + "".join(f"<th>{esc(h)}</th>" for h in header) + "</tr>"]
    for r in rows:
        out.append("<tr>" + "".join(
            f"<td class=n>{c}</td>" if i in numeric else f"<td>{c}</td>"
            for i, c in enumerate(r)) + "</tr>")
    out.append("</table>")
    return "\n".join(out)


def figure(fig_fn: Callable[[], Any], caption: str) -> str:
    b64 = figures.png_base64(fig_fn())
    return (f'<figure><img alt="{esc(caption)}" src="data:image/png;base64,{b64}">'
            f"<figcaption>{esc(caption)}</figcaption></figure>")


def page(title: str, body: list[str]) -> str:
    return ("<!DOCTYPE html>\n<html lang=en><head><meta charset=utf-8>"
            f"<meta name=viewport content='width=device-width'><title>{esc(title)}</title>"
            f"<style>{CSS}</style></head>\n<body>\n" + "\n".join(body)
            + f"\n<script>{SCRIPT}</script>\n</body></html>\n")


# ------------------------------------------------------------------------------- one run

def summary_rows(rep: dict) -> list[tuple[str, str]]:
    l2 = rep.get("l2") or {}
    return [
        ("machine", rep.get("machine", "?")),
        ("workload", f"{rep.get('workload')} [{rep.get('mode')}, {rep.get('exec_mode')}]"),
        ("time", f"{si(rep.get('time_s'), 's')} ({rep.get('cycles', 0):,} cycles)"),
        ("energy", f"{si(rep.get('energy_j'), 'J')} (avg {rep.get('avg_power_w', 0):.0f} W)"),
        ("DRAM read / write", f"{si(rep.get('dram_read_bytes'), 'B')} / "
                              f"{si(rep.get('dram_write_bytes'), 'B')}"),
        ("L2 hit rate", f"{100 * (l2.get('hit_rate') or 0):.1f}%"),
        ("throughput", si(rep.get("achieved_flops_per_s"), "FLOP/s")),
        ("ops", str(len(rep.get("ops", [])))),
    ]


def run_page(rep: dict, title: str | None = None) -> str:
    title = title or f"archsim: {rep.get('workload')} on {rep.get('machine')}"
    e_total = rep.get("energy_j") or 1.0
    comp = sorted((rep.get("energy") or {}).get("by_component", {}).items(), key=lambda kv: -kv[1])
    top = sorted(rep.get("ops", []), key=lambda o: -o.get("time_s", 0))[:15]
    t_total = rep.get("time_s") or 1.0
    util = rep.get("utilization") or {}
    body = [f"<h1>{esc(title)}</h1>",
            f"<p class=muted>schema {esc(rep.get('schema'))}, archsim "
            f"{esc(rep.get('archsim_version'))}</p>",
            table(["quantity", "value"], [[esc(k), esc(v)] for k, v in summary_rows(rep)]),
            "<h2>Energy</h2>",
            table(["component", "J", "share"],
                  [[esc(k), f"{v:.4g}", f"{100 * v / e_total:.1f}%"] for k, v in comp], {1, 2}),
            figure(lambda: figures.energy_figure(rep), "energy by component and by action"),
            "<h2>Traffic</h2>",
            figure(lambda: figures.traffic_figure(rep),
                   "bytes at each memory level, by op kind, and the top DRAM ops"),
            "<h2>Roofline</h2>",
            figure(lambda: figures.roofline_figure(rep), "each op placed on the machine's roofline"),
            "<h2>Utilisation</h2>",
            table(["unit", "average utilisation"], [[esc(k), f"{100 * v:.1f}%"]
                                                    for k, v in util.items()], {1}) if util else "",
            figure(lambda: figures.timeline_figure(rep), "ops over time and utilisation timeline"),
            "<h2>Slowest ops</h2>",
            table(["op", "kind", "time", "share", "DRAM", "energy", "bound"],
                  [[esc(o["name"]), esc(o["kind"]), si(o.get("time_s"), "s"),
                    f"{100 * o.get('time_s', 0) / t_total:.1f}%",
                    si((o.get("dram_read_bytes") or 0) + (o.get("dram_write_bytes") or 0), "B"),
                    si(o.get("energy_j"), "J"), esc(o.get("bound", ""))] for o in top], {2, 3, 4, 5})]
    return page(title, body)


def run_markdown(rep: dict) -> str:
    out = [f"# archsim: {rep.get('workload')} on {rep.get('machine')}", "",
           "| quantity | value |", "|---|---|"]
    out += [f"| {k} | {v} |" for k, v in summary_rows(rep)]
    total = rep.get("energy_j") or 1.0
    out += ["", "## Energy by component", "", "| component | J | share |", "|---|---|---|"]
    for k, v in sorted((rep.get("energy") or {}).get("by_component", {}).items(), key=lambda kv: -kv[1]):
        out.append(f"| {k} | {v:.4g} | {100 * v / total:.1f}% |")
    out += ["", "## Traffic by op kind (MB)", "", "| kind | DRAM read | DRAM write | L2 hit |",
            "|---|---|---|---|"]
    for k, d in sorted(figures.traffic_by_kind(rep).items(), key=lambda kv: -sum(kv[1].values())):
        out.append(f"| {k} | {d['dram_read'] / 1e6:.3f} | {d['dram_write'] / 1e6:.3f} | "
                   f"{d['l2_hit'] / 1e6:.3f} |")
    out += ["", "Figures: see the HTML page beside this file.", ""]
    return "\n".join(out)


# ------------------------------------------------------------------------------- sweeps

def _front_rows(records: list[dict]) -> list[tuple[dict, int]]:
    """The Pareto-optimal (time, energy) records of each workload, fastest first; points with
    exactly the same time and energy are one row: (first record, how many more share it)."""
    ok = [r for r in records if r.get("status") == "ok" and r.get("report")]
    out = []
    for wl in sorted({r["report"]["workload"] for r in ok}):
        rs = [r for r in ok if r["report"]["workload"] == wl]
        idx = pareto_front([(r["report"]["time_s"], r["report"]["energy_j"]) for r in rs])
        groups: dict[tuple, list[dict]] = {}
        for i in idx:
            groups.setdefault((rs[i]["report"]["time_s"], rs[i]["report"]["energy_j"]), []).append(rs[i])
        out += [(g[0], len(g) - 1) for _, g in sorted(groups.items())]
    return out


def _more(n: int) -> str:
    return f" (and {n} more point{'s' if n > 1 else ''} with the same time and energy)" if n else ""


def _param_text(r: dict, axes: list[str]) -> str:
    return ", ".join(f"{a}={r['params'].get(a)}" for a in axes)


def sweep_page(records: list[dict], title: str = "archsim sweep", max_rows: int = 400) -> str:
    ok = [r for r in records if r.get("status") == "ok" and r.get("report")]
    failed = [r for r in records if r.get("status") != "ok"]
    axes = figures.axis_values(records)
    walls = sorted(r.get("wall_s") or 0 for r in records)
    body = [f"<h1>{esc(title)}</h1>",
            f"<p>{len(records)} points: {len(ok)} ok, <span class=fail>{len(failed)} failed</span>; "
            f"swept: {esc(', '.join(axes) or '-')}; per-point wall time median "
            f"{walls[len(walls) // 2] if walls else 0:.2f} s.</p>"]
    body += ["<h2>Pareto fronts</h2>",
             figure(lambda: figures.pareto_figure(records),
                    "time vs energy per workload (and vs area where reported); red: Pareto front")]
    front = _front_rows(records)
    body.append(table(["workload", "point", "time", "energy", "DRAM"],
                      [[esc(r["report"]["workload"]), esc(_param_text(r, axes) + _more(n)),
                        si(r["report"]["time_s"], "s"), si(r["report"]["energy_j"], "J"),
                        si(r["report"]["dram_read_bytes"] + r["report"]["dram_write_bytes"], "B")]
                       for r, n in front], {2, 3, 4}))
    body += ["<h2>Small multiples</h2>",
             figure(lambda: figures.small_multiples_figure(records, "time_s"),
                    "time against each swept axis"),
             figure(lambda: figures.small_multiples_figure(records, "energy_j"),
                    "energy against each swept axis"),
             "<h2>Which axes matter</h2>",
             table(["workload", "axis", "time max/min of medians"],
                   [[esc(w), esc(a), f"{x:.3f}x"] for w, a, x in figures.sensitivity(records)], {2})]
    if failed:
        body += ["<h2>Failed points</h2>",
                 table(["point", "error"], [[esc(_param_text(r, ["machine", "workload"] + axes)),
                                             f"<span class=fail>{esc(r.get('error'))}</span>"]
                                            for r in failed[:max_rows]])]
    body += [f"<h2>All points{' (first %d)' % max_rows if len(ok) > max_rows else ''}</h2>",
             table(["key", "workload"] + axes + ["time", "energy", "DRAM", "wall"],
                   [[esc(r["key"][:10]), esc(r["report"]["workload"])]
                    + [esc(r["params"].get(a)) for a in axes]
                    + [si(r["report"]["time_s"], "s"), si(r["report"]["energy_j"], "J"),
                       si(r["report"]["dram_read_bytes"] + r["report"]["dram_write_bytes"], "B"),
                       f"{r.get('wall_s') or 0:.2f} s"] for r in ok[:max_rows]],
                   set(range(2 + len(axes), 6 + len(axes))))]
    return page(title, body)


def sweep_markdown(records: list[dict], title: str = "archsim sweep") -> str:
    ok = [r for r in records if r.get("status") == "ok" and r.get("report")]
    axes = figures.axis_values(records)
    out = [f"# {title}", "", f"{len(records)} points: {len(ok)} ok, "
           f"{len(records) - len(ok)} failed. Swept: {', '.join(axes) or '-'}.", "",
           "## Pareto front (time vs energy) per workload", "",
           "| workload | point | time (s) | energy (J) |", "|---|---|---|---|"]
    for r, n in _front_rows(records):
        out.append(f"| {r['report']['workload']} | {_param_text(r, axes)}{_more(n)} | "
                   f"{r['report']['time_s']:.6g} | {r['report']['energy_j']:.6g} |")
    out += ["", "## Sensitivity (time: max/min of per-value medians)", "",
            "| workload | axis | ratio |", "|---|---|---|"]
    out += [f"| {w} | {a} | {x:.3f} |" for w, a, x in figures.sensitivity(records)]
    failed = [r for r in records if r.get("status") != "ok"]
    if failed:
        out += ["", "## Failed points", ""]
        out += [f"- {json.dumps(r['params'])}: {r.get('error')}" for r in failed]
    out += ["", "Figures: see the HTML page beside this file.", ""]
    return "\n".join(out)
