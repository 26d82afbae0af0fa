"""Matplotlib figures of one Report (energy, traffic, roofline, timeline) and of a sweep
(Pareto fronts, small multiples). Each function returns a Figure; `png_base64` embeds it.

Reads only the Report schema (archsim.report/1) and sweep records (dicts with `params`,
`values`, `report`); never imports archsim. Agg backend: no display needed.
"""
from __future__ import annotations

import base64
import io
import math
from collections import defaultdict

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from analytics.pareto import pareto_front  # noqa: E402

DPI = 96
_CMAP = plt.get_cmap("tab20")


def png_base64(fig: Figure) -> str:
    """The figure as a base64 PNG (and closes it)."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=DPI, metadata={"Software": None})
    plt.close(fig)
    return base64.b64encode(buf.getvalue()).decode("ascii")


def _kind_colors(kinds) -> dict[str, tuple]:
    return {k: _CMAP(i % 20) for i, k in enumerate(sorted(set(kinds)))}


def _barh(ax, items: list[tuple[str, float]], xlabel: str, title: str, top: int = 14) -> None:
    items = sorted(items, key=lambda kv: -kv[1])[:top][::-1]
    if not items:
        ax.text(0.5, 0.5, "nothing reported", ha="center", va="center", transform=ax.transAxes)
        ax.set_axis_off()
        return
    ax.barh([k for k, _ in items], [v for _, v in items], color="#4c72b0")
    ax.set_xlabel(xlabel)
    ax.set_title(title, fontsize=10)
    ax.tick_params(axis="y", labelsize=8)


# ------------------------------------------------------------------------------- one run

def energy_figure(report: dict) -> Figure:
    """Energy by component and by action (J)."""
    e = report.get("energy") or {}
    fig, (a, b) = plt.subplots(1, 2, figsize=(10, 3.6))
    _barh(a, list((e.get("by_component") or {}).items()), "energy (J)", "energy by component")
    _barh(b, list((e.get("by_action") or {}).items()), "energy (J)", "energy by action")
    fig.tight_layout()
    return fig


def traffic_by_kind(report: dict) -> dict[str, dict[str, float]]:
    """Bytes per op kind: DRAM read, DRAM write, L2 hit."""
    out: dict[str, dict[str, float]] = defaultdict(lambda: {"dram_read": 0.0, "dram_write": 0.0,
                                                            "l2_hit": 0.0})
    for op in report.get("ops", []):
        d = out[op["kind"]]
        d["dram_read"] += op.get("dram_read_bytes", 0) or 0
        d["dram_write"] += op.get("dram_write_bytes", 0) or 0
        d["l2_hit"] += op.get("l2_hit_bytes", 0) or 0
    return dict(out)


def traffic_figure(report: dict) -> Figure:
    """Bytes at each memory level, bytes by op kind, and the ops that move the most DRAM bytes."""
    fig, (a, b, c) = plt.subplots(1, 3, figsize=(13, 3.8), gridspec_kw={"width_ratios": [2, 3, 3]})
    l2 = report.get("l2") or {}
    levels = [("DRAM read", report.get("dram_read_bytes", 0)),
              ("DRAM write", report.get("dram_write_bytes", 0)),
              ("L2 hit", l2.get("hit_bytes", 0)), ("L2 miss", l2.get("miss_bytes", 0))]
    a.bar([k for k, _ in levels], [v / 1e6 for _, v in levels],
          color=["#4c72b0", "#55a868", "#c44e52", "#8172b2"])
    a.set_ylabel("MB")
    a.set_title("traffic by memory level", fontsize=10)
    a.tick_params(axis="x", labelsize=8, rotation=20)
    kinds = traffic_by_kind(report)
    order = sorted(kinds, key=lambda k: -sum(kinds[k].values()))[:12]
    bottom = [0.0] * len(order)
    for part, color in (("dram_read", "#4c72b0"), ("dram_write", "#55a868"), ("l2_hit", "#c44e52")):
        vals = [kinds[k][part] / 1e6 for k in order]
        b.bar(order, vals, bottom=bottom, label=part.replace("_", " "), color=color)
        bottom = [x + y for x, y in zip(bottom, vals)]
    b.set_ylabel("MB")
    b.set_title("traffic by op kind", fontsize=10)
    b.tick_params(axis="x", labelsize=8, rotation=30)
    if order:
        b.legend(fontsize=7)
    ops = sorted(report.get("ops", []), key=lambda o: -((o.get("dram_read_bytes") or 0)
                                                         + (o.get("dram_write_bytes") or 0)))[:12]
    _barh(c, [(o["name"][:28], ((o.get("dram_read_bytes") or 0) + (o.get("dram_write_bytes") or 0)) / 1e6)
              for o in ops], "DRAM MB", "ops moving the most DRAM bytes", top=12)
    fig.tight_layout()
    return fig


def machine_peaks(report: dict) -> tuple[float | None, float | None, str]:
    """(peak FLOP/s, DRAM bytes/s, where they came from) from the config the report embeds.

    Knows the two config layouts archsim ships (gpu: sm.*, hbm.bandwidth; cpu: cores.*,
    dram.bandwidth); for anything else returns (None, None, reason) and the roofline is drawn
    without roofs.
    """
    cfg = report.get("config") or {}
    clock = report.get("clock_hz")
    try:
        if "sm" in cfg and "hbm" in cfg:
            per = max((cfg["sm"].get("tensor_flops_per_cycle") or {}).values() or [0])
            per = max(per, max((cfg["sm"].get("simt_flops_per_cycle") or {}).values() or [0]))
            flops = cfg["sm"]["count"] * per * (clock or cfg["clocks"]["boost"])
            return float(flops), float(cfg["hbm"]["bandwidth"]), \
                "roofs: sm.count x max flops/cycle x clock; hbm.bandwidth"
        if "cores" in cfg and "dram" in cfg:
            c = cfg["cores"]
            per = max(list((c.get("matrix_flops_per_cycle") or {}).values())
                      + list((c.get("simd_flops_per_cycle") or {}).values()) or [0])
            flops = c["count"] * per * (clock or c["clock"])
            return float(flops), float(cfg["dram"]["bandwidth"]), \
                "roofs: cores.count x max flops/cycle x clock; dram.bandwidth"
    except (KeyError, TypeError, ValueError):
        pass
    return None, None, "no roofs: the machine's peaks are not in a layout this plot knows"


def roofline_figure(report: dict) -> Figure:
    """Each op at (FLOP per DRAM byte, achieved FLOP/s), under the machine's roofs."""
    peak, bw, source = machine_peaks(report)
    ops = [o for o in report.get("ops", []) if (o.get("flops") or 0) > 0 and (o.get("time_s") or 0) > 0]
    colors = _kind_colors(o["kind"] for o in ops)
    total = sum(o["time_s"] for o in ops) or 1.0
    fig, ax = plt.subplots(figsize=(8, 5))
    xs = []
    for o in ops:
        dram = (o.get("dram_read_bytes") or 0) + (o.get("dram_write_bytes") or 0)
        x = o["flops"] / dram if dram > 0 else None
        xs.append(x)
    finite = [x for x in xs if x]
    x_right = max(finite) * 4 if finite else 1e4
    seen = sorted({o["kind"] for o in ops})
    for kind in seen:  # one scatter call per kind: hundreds of ops stay fast
        sel = [(o, x or x_right) for o, x in zip(ops, xs) if o["kind"] == kind]  # no DRAM: right edge
        ax.scatter([x for _, x in sel], [o["flops"] / o["time_s"] for o, _ in sel],
                   s=[12 + 400 * o["time_s"] / total for o, _ in sel], color=colors[kind],
                   alpha=0.75, edgecolors="none", label=kind)
    lo = min(finite + [1.0]) / 4
    if peak and bw:
        xr = sorted([lo, peak / bw, x_right * 2])
        ax.plot(xr, [min(peak, x * bw) for x in xr], color="black", lw=1.5, label="roofline")
        ax.axvline(peak / bw, color="grey", lw=0.6, ls=":")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("arithmetic intensity (FLOP per DRAM byte)")
    ax.set_ylabel("achieved FLOP/s")
    skipped = len(report.get("ops", [])) - len(ops)
    ax.set_title(f"roofline: {len(ops)} ops (size = time share; {skipped} ops without FLOPs "
                 f"not shown)\n{source}", fontsize=9)
    ax.grid(True, which="both", alpha=0.2)
    if seen:
        ax.legend(fontsize=7, ncol=2, loc="lower right")
    fig.tight_layout()
    return fig


def timeline_figure(report: dict) -> Figure:
    """Op intervals by kind over time, and compute / DRAM utilisation over time (per op)."""
    ops = sorted(report.get("ops", []), key=lambda o: o.get("start_s", 0))
    kinds = sorted({o["kind"] for o in ops})
    colors = _kind_colors(kinds)
    peak, bw, _ = machine_peaks(report)
    fig, (a, b) = plt.subplots(2, 1, figsize=(11, 2.0 + 0.28 * max(len(kinds), 4)), sharex=True,
                               gridspec_kw={"height_ratios": [max(len(kinds), 3), 3]})
    scale, unit = _time_unit(report.get("time_s") or 0)
    for i, k in enumerate(kinds):
        spans = [(o["start_s"] * scale, o["time_s"] * scale) for o in ops if o["kind"] == k]
        a.broken_barh(spans, (i - 0.4, 0.8), color=colors[k])
    a.set_yticks(range(len(kinds)), kinds, fontsize=8)
    a.set_title("ops over time (lanes by op kind)", fontsize=10)
    ts, comp, mem = [], [], []
    for o in ops:
        t = o.get("time_s") or 0
        if t <= 0:
            continue
        dram = (o.get("dram_read_bytes") or 0) + (o.get("dram_write_bytes") or 0)
        ts += [o["start_s"] * scale, (o["start_s"] + t) * scale]
        c = (o.get("flops") or 0) / t
        m = dram / t
        c, m = (c / peak * 100, m / bw * 100) if peak and bw else (c / 1e12, m / 1e9)
        comp += [c, c]
        mem += [m, m]
    if ts:
        b.fill_between(ts, comp, step=None, alpha=0.5, label="compute", color="#c44e52")
        b.plot(ts, mem, lw=1, label="DRAM bandwidth", color="#4c72b0")
        b.legend(fontsize=7, loc="upper right")
    b.set_ylabel("% of peak" if peak and bw else "TFLOP/s, GB/s", fontsize=8)
    b.set_xlabel(f"time ({unit})")
    b.set_title("utilisation over time (each op's average)", fontsize=10)
    fig.tight_layout()
    return fig


def median(xs: list[float]) -> float:
    s = sorted(xs)
    n = len(s)
    return s[n // 2] if n % 2 else (s[n // 2 - 1] + s[n // 2]) / 2


def _time_unit(t: float) -> tuple[float, str]:
    for scale, unit in ((1, "s"), (1e3, "ms"), (1e6, "us")):
        if t * scale >= 1:
            return scale, unit
    return 1e9, "ns"


# ------------------------------------------------------------------------------- sweeps

def _ok(records: list[dict]) -> list[dict]:
    return [r for r in records if r.get("status") == "ok" and r.get("report")]


def _area(rep: dict) -> float | None:
    a = rep.get("area_mm2", (rep.get("extra") or {}).get("area_mm2"))
    return float(a) if isinstance(a, (int, float)) else None


def pareto_figure(records: list[dict]) -> Figure:
    """Per workload: time vs energy of every point, the Pareto front joined (and time vs area
    where the reports carry an area)."""
    ok = _ok(records)
    groups: dict[str, list[dict]] = defaultdict(list)
    for r in ok:
        groups[r["report"]["workload"]].append(r)
    names = sorted(groups)
    has_area = any(_area(r["report"]) is not None for r in ok)
    rows = 2 if has_area else 1
    fig, axes = plt.subplots(rows, max(len(names), 1), figsize=(4.2 * max(len(names), 1), 3.6 * rows),
                             squeeze=False)
    for j, name in enumerate(names):
        rs = groups[name]
        for i, (yname, yget) in enumerate([("energy (J)", lambda rep: rep["energy_j"]),
                                           ("area (mm²)", _area)][:rows]):
            ax = axes[i][j]
            pts = [(r["report"]["time_s"], yget(r["report"])) for r in rs]
            pts = [(x, y) for x, y in pts if y is not None]
            if not pts:
                ax.set_axis_off()
                continue
            front = pareto_front(pts)
            ax.scatter([p[0] * 1e3 for p in pts], [p[1] for p in pts], s=12, color="#9aa6b8",
                       label=f"{len(pts)} points")
            fx = sorted(pts[k] for k in front)
            ax.plot([p[0] * 1e3 for p in fx], [p[1] for p in fx], "-o", color="#c44e52", ms=4,
                    label=f"Pareto front ({len(front)})")
            ax.set_xlabel("time (ms)")
            ax.set_ylabel(yname)
            ax.set_title(name[:48], fontsize=9)
            ax.legend(fontsize=7)
            ax.grid(alpha=0.2)
    if not names:
        axes[0][0].text(0.5, 0.5, "no finished points", ha="center", transform=axes[0][0].transAxes)
    fig.tight_layout()
    return fig


def axis_values(records: list[dict]) -> list[str]:
    """The swept axes (override keys, and machine / mode when they vary), in a stable order."""
    keys: list[str] = []
    for r in records:
        for k in r.get("params", {}):
            if k not in keys and k not in ("workload", "seed"):
                keys.append(k)
    return [k for k in keys if len({str(r["params"].get(k)) for r in records}) > 1]


def small_multiples_figure(records: list[dict], metric: str = "time_s") -> Figure:
    """Rows: workloads; columns: swept axes. Each panel: the metric against that axis over all
    points (dots) and its median at each axis value (line)."""
    ok = _ok(records)
    axes_names = axis_values(ok) or ["machine"]
    names = sorted({r["report"]["workload"] for r in ok}) or ["-"]
    fig, axs = plt.subplots(len(names), len(axes_names),
                            figsize=(3.2 * len(axes_names), 2.6 * len(names)), squeeze=False)
    for i, name in enumerate(names):
        rs = [r for r in ok if r["report"]["workload"] == name]
        for j, axis in enumerate(axes_names):
            ax = axs[i][j]
            xs = []
            for r in rs:
                num = (r.get("values") or {}).get(axis)
                xs.append(num if isinstance(num, (int, float)) else str(r["params"].get(axis)))
            numeric = all(isinstance(x, (int, float)) for x in xs)
            cats = sorted(set(xs), key=lambda v: (isinstance(v, str), v))
            pos = (lambda v: v) if numeric else (lambda v: cats.index(v))
            ys = [r["report"][metric] for r in rs]
            ax.scatter([pos(x) for x in xs], ys, s=6, alpha=0.5, color="#4c72b0")
            med = [median([y for x, y in zip(xs, ys) if x == c]) for c in cats]
            ax.plot([pos(c) for c in cats], med, "-", color="#c44e52", lw=1.2)
            if not numeric:
                ax.set_xticks(range(len(cats)), [str(c)[:10] for c in cats], fontsize=7)
            elif cats and min(cats) > 0 and max(cats) / min(cats) > 50:
                ax.set_xscale("log")
            ax.tick_params(labelsize=7)
            if i == len(names) - 1:
                ax.set_xlabel(axis, fontsize=8)
            if j == 0:
                ax.set_ylabel(f"{metric}\n{name[:24]}", fontsize=7)
    fig.suptitle(f"{metric} against each swept axis (line: median over the other axes)", fontsize=10)
    fig.tight_layout()
    return fig


def sensitivity(records: list[dict], metric: str = "time_s") -> list[tuple[str, str, float]]:
    """(workload, axis, max/min of the per-value median of `metric`): which axes matter."""
    ok = _ok(records)
    out = []
    for name in sorted({r["report"]["workload"] for r in ok}):
        rs = [r for r in ok if r["report"]["workload"] == name]
        for axis in axis_values(rs):
            by: dict[str, list[float]] = defaultdict(list)
            for r in rs:
                by[str(r["params"].get(axis))].append(r["report"][metric])
            meds = [median(v) for v in by.values()]
            lo = min(meds)
            out.append((name, axis, max(meds) / lo if lo > 0 else math.inf))
    return out
