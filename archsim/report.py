"""The Report: the versioned JSON every downstream tool reads (CLI tables, Markdown, sweeps).

Totals sit at the top level under fixed names (`time_s`, `cycles`, `energy_j`,
`dram_read_bytes`, `dram_write_bytes`) so scripts read them without knowing the model. All
simulator-speed fields live under "simulator": two runs with the same inputs give reports that
are identical apart from that block.
"""
from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

from archsim import __version__
from archsim.hw.result import SimResult

SCHEMA = "archsim.report/1"


def _num(x: Any) -> Any:
    """Plain JSON numbers (numpy scalars in, Python numbers out)."""
    if hasattr(x, "item"):
        return x.item()
    return x


def _clean(obj: Any) -> Any:
    if isinstance(obj, dict):
        return {str(k): _clean(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_clean(v) for v in obj]
    return _num(obj)


def build_report(result: SimResult, *, config: dict, graph, workload: str, mode: str,
                 exec_mode: str, options: dict, simulator: dict) -> dict:
    """Assemble the report dict from a SimResult, the resolved config and the graph."""
    ops = []
    for op in result.ops:
        ops.append({
            "name": op.name, "kind": op.kind, "start_s": op.start_s, "time_s": op.time_s,
            "flops": op.flops, "dram_read_bytes": op.dram_read_bytes,
            "dram_write_bytes": op.dram_write_bytes, "l2_hit_bytes": op.l2_hit_bytes,
            "l2_miss_bytes": op.l2_miss_bytes, "energy_j": op.energy_j, "bound": op.bound,
            "kernels": op.kernels,
        })
    flops = int(graph.flops)
    l2_total = result.l2_hit_bytes + result.l2_miss_bytes
    report = {
        "schema": SCHEMA,
        "archsim_version": __version__,
        "machine": result.machine,
        "workload": workload,
        "mode": mode,
        "exec_mode": exec_mode,
        "options": options,
        "time_s": result.time_s,
        "cycles": int(result.cycles),
        "clock_hz": result.clock_hz,
        "energy_j": result.energy_j,
        "dram_read_bytes": int(result.dram_read_bytes),
        "dram_write_bytes": int(result.dram_write_bytes),
        "flops": flops,
        "achieved_flops_per_s": flops / result.time_s if result.time_s > 0 else 0.0,
        "avg_power_w": result.energy_j / result.time_s if result.time_s > 0 else 0.0,
        "l2": {"hit_bytes": int(result.l2_hit_bytes), "miss_bytes": int(result.l2_miss_bytes),
               "hit_rate": result.l2_hit_bytes / l2_total if l2_total else 0.0},
        "energy": {"by_component": dict(sorted(result.energy_by_component.items())),
                   "by_action": dict(sorted(result.energy_by_action.items()))},
        "utilization": dict(sorted(result.utilization.items())),
        "graph": {"name": graph.name, "ops": len(graph), "flops": flops,
                  "compulsory_bytes": int(graph.bytes), "by_kind": graph.count_by_kind()},
        "ops": ops,
        "counters": dict(sorted(result.counters.items())),
        "extra": result.extra,
        "config": config,
        "simulator": simulator,
    }
    return _clean(report)


def _umask() -> int:
    mask = os.umask(0o022)  # the only portable way to read it is to set it and put it back
    os.umask(mask)
    return mask


def write_atomic(path: Path, text: str) -> None:
    """Write via a temporary file and rename, so a reader never sees half a file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name + ".", suffix=".tmp")
    try:
        os.fchmod(fd, 0o666 & ~_umask())  # mkstemp makes 0600; a report gets the user's umask
        with os.fdopen(fd, "w") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def to_json(report: dict) -> str:
    return json.dumps(report, indent=1, sort_keys=False) + "\n"


def _si(x: float, unit: str) -> str:
    for scale, prefix in ((1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "k"), (1, ""),
                          (1e-3, "m"), (1e-6, "u"), (1e-9, "n")):
        if abs(x) >= scale:
            return f"{x / scale:.3f} {prefix}{unit}"
    return f"{x:.3g} {unit}"


def summary_rows(report: dict) -> list[tuple[str, str]]:
    return [
        ("machine", report["machine"]),
        ("workload", f"{report['workload']} [{report['mode']}, {report['exec_mode']}]"),
        ("time", f"{_si(report['time_s'], 's')} ({report['cycles']:,} cycles @ "
                 f"{report['clock_hz'] / 1e9:.2f} GHz)"),
        ("energy", f"{_si(report['energy_j'], 'J')} (avg {report['avg_power_w']:.0f} W)"),
        ("DRAM read", _si(report["dram_read_bytes"], "B")),
        ("DRAM write", _si(report["dram_write_bytes"], "B")),
        ("L2 hit rate", f"{100 * report['l2']['hit_rate']:.1f}%"),
        ("throughput", _si(report["achieved_flops_per_s"], "FLOP/s")),
        ("ops / kernels", f"{report['graph']['ops']} / "
                          f"{sum(len(o['kernels']) for o in report['ops'])}"),
    ]


def top_ops(report: dict, n: int = 10) -> list[dict]:
    return sorted(report["ops"], key=lambda o: -o["time_s"])[:n]


def format_table(rows: list[list[str]], header: list[str], numbers_right: bool = True) -> str:
    """Plain-text table: text left-aligned, numbers right-aligned (unless numbers_right=False)."""
    widths = [max(len(str(r[i])) for r in rows + [header]) for i in range(len(header))]

    def cell(c, w):
        s = str(c)
        num = s[:1].isdigit() or s[:1] in "-+." and s[1:2].isdigit()
        return s.rjust(w) if num and numbers_right else s.ljust(w)

    def line(r):
        return "  ".join(cell(c, w) for c, w in zip(r, widths)).rstrip()

    return "\n".join([line(header), line(["-" * w for w in widths])] + [line(r) for r in rows])


def op_rows(ops: list[dict], total_time: float) -> list[list[str]]:
    return [[o["name"], o["kind"], _si(o["time_s"], "s"),
             f"{100 * o['time_s'] / total_time:.1f}%" if total_time else "-",
             _si(o["dram_read_bytes"] + o["dram_write_bytes"], "B"), _si(o["energy_j"], "J"),
             o.get("bound", "")] for o in ops]


OP_HEADER = ["op", "kind", "time", "share", "DRAM", "energy", "bound"]


def to_markdown(report: dict) -> str:
    out = [f"# archsim report: {report['workload']} on {report['machine']}", ""]
    out += ["| quantity | value |", "|---|---|"]
    out += [f"| {k} | {v} |" for k, v in summary_rows(report)]
    out += ["", "## Energy by component", "", "| component | J | share |", "|---|---|---|"]
    total = report["energy_j"] or 1.0
    for k, v in sorted(report["energy"]["by_component"].items(), key=lambda kv: -kv[1]):
        out.append(f"| {k} | {v:.6g} | {100 * v / total:.1f}% |")
    out += ["", "## Ops", "", "| " + " | ".join(OP_HEADER) + " |",
            "|" + "---|" * len(OP_HEADER)]
    for r in op_rows(report["ops"], report["time_s"]):
        out.append("| " + " | ".join(r) + " |")
    sim = report["simulator"]
    out += ["", f"Simulated by archsim {report['archsim_version']} ({sim.get('backend')} engine) "
                f"in {sim.get('wall_s', 0):.2f} s, {sim.get('events', 0):,} events.", ""]
    return "\n".join(out)


def write_report(report: dict, out_dir: Path) -> tuple[Path, Path]:
    out_dir = Path(out_dir)
    js, md = out_dir / "report.json", out_dir / "report.md"
    write_atomic(js, to_json(report))
    write_atomic(md, to_markdown(report))
    return js, md
