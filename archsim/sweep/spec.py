"""Sweep files: YAML naming machines, override grids, workloads and modes -> a list of Points.

    name: l2-vs-hbm                 # optional (default: the file's stem)
    db: l2-vs-hbm.db                # optional (default: FILE.db beside the sweep file)
    machines: [h200]                # shipped names or YAML paths (relative to this file)
    workloads: ["bert-base(batch=1, seq=128, layers=1)", "resnet50(batch=1)"]
    modes: [inference]              # optional: inference, training
    exec: [bsp]                     # optional: execution modes (default: the machine's own)
    seeds: [0]                      # optional
    l2: cold                        # optional: cold | warm;  repeat: 1 likewise
    set: {power.cap: 700 W}         # fixed overrides for every point
    grid:                           # cartesian axes: every combination
      l2.size: [20 MiB, 40 MiB, 60 MiB]
      hbm.bandwidth: {from: 2 TB/s, to: 6 TB/s, num: 5}   # also step: (arithmetic), factor: (geometric)
    zip:                            # zipped axes: the lists of one group vary together
      - {clocks.boost: [1.5 GHz, 1.98 GHz], power.cap: [500 W, 700 W]}

Points = machines x workloads x modes x exec x seeds x grid axes x zip groups, in that order.
Line numbers come from archsim.config's located YAML reader, so a bad sweep file is reported as
`file:line: key: message`, the same way a bad machine file is.
"""
from __future__ import annotations

import difflib
import itertools
import math
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from archsim.config.loader import _Node, _parse_yaml  # the located YAML tree (line numbers)
from archsim.errors import ConfigError

TOP_KEYS = ("name", "db", "machines", "workloads", "modes", "exec", "seeds", "l2", "repeat",
            "set", "grid", "zip")
MODES = ("inference", "training")
_QUANTITY = re.compile(r"^\s*([-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)\s*([A-Za-zµ/]*)\s*$")
MAX_POINTS = 1_000_000
SHIPPED = Path(__file__).resolve().parents[2] / "hwconfigs"   # as archsim.cli.resolve_hw


@dataclass(frozen=True)
class Axis:
    """One swept override key and the values it takes, each with the line it came from."""
    key: str
    values: tuple
    lines: tuple


@dataclass(frozen=True)
class Point:
    """One design point: a machine, its overrides, a workload, a mode, a seed."""
    machine: str                    # as written in the sweep file (a name or a path)
    hw: str                         # the resolved YAML path
    overrides: tuple                # ((key, value), ...): fixed `set` first, then the axes
    workload: str
    mode: str = "inference"
    exec_mode: str | None = None    # None: the machine's default
    seed: int = 0
    l2_start: str = "cold"
    repeat: int = 1
    axes: tuple = ()                # the swept keys among `overrides` (for tables and plots)

    def params(self) -> dict[str, Any]:
        """The values that vary in this sweep, by name (axis keys keep their dotted names)."""
        ov = dict(self.overrides)
        return {"machine": self.machine, "workload": self.workload, "mode": self.mode,
                **({"exec": self.exec_mode} if self.exec_mode else {}), "seed": self.seed,
                **{k: ov[k] for k in self.axes}}

    def label(self) -> str:
        ov = " ".join(f"{k}={v}" for k, v in self.overrides)
        return f"{self.machine} {self.workload} [{self.mode}{', ' + self.exec_mode if self.exec_mode else ''}, " \
               f"seed {self.seed}] {ov}".rstrip()


@dataclass(frozen=True)
class SweepSpec:
    name: str
    file: str
    db: str
    points: tuple = field(default_factory=tuple)
    # (key, line) of every axis value, so a bad value can be reported at its line
    value_lines: dict = field(default_factory=dict, compare=False, hash=False)


# ------------------------------------------------------------------------------- reading

def _fail(msg: str, file: str, node: _Node | None, key: str | None) -> ConfigError:
    line = node.loc.line if node is not None else None
    return ConfigError(msg, file=file, line=line, key=key)


def _found(v: Any) -> str:
    if isinstance(v, dict):
        return "a mapping"
    if isinstance(v, list):
        return "a list"
    if v is None:
        return "nothing (an empty value)"
    return f"{v!r}"


def _list_of(node: _Node | None, file: str, key: str, kind: type | tuple, default: list,
             allow_scalar: bool = True) -> list[tuple[Any, int | None]]:
    """A list of scalars of `kind` (a lone scalar counts as a one-element list)."""
    if node is None:
        return [(v, None) for v in default]
    items = node.value if isinstance(node.value, list) else [node] if allow_scalar else None
    if items is None or not items:
        raise _fail(f"expected a non-empty list, found {_found(node.value)}", file, node, key)
    out = []
    for i, item in enumerate(items):
        if not isinstance(item.value, kind) or isinstance(item.value, bool):
            want = kind.__name__ if isinstance(kind, type) else " or ".join(k.__name__ for k in kind)
            raise _fail(f"expected a {want}, found {_found(item.value)}", file, item, f"{key}[{i}]")
        out.append((item.value, item.loc.line))
    return out


def _quantity(v: Any) -> tuple[float, str] | None:
    if isinstance(v, (int, float)) and not isinstance(v, bool):
        return float(v), ""
    if isinstance(v, str):
        m = _QUANTITY.match(v)
        if m:
            return float(m.group(1)), m.group(2)
    return None


def _format(x: float, unit: str, integer: bool) -> Any:
    if integer and not unit:
        return int(round(x))
    s = f"{x:.6g}"
    return f"{s} {unit}" if unit else float(s)


def _range(node: _Node, file: str, key: str) -> list[Any]:
    """{from, to, step | num | factor}: an inclusive range; values keep the unit of `from`."""
    spec = node.value
    allowed = {"from", "to", "step", "num", "factor"}
    for k, v in spec.items():
        if k not in allowed:
            raise _fail(f"unknown range key {k!r}{_dym(str(k), allowed)}; a range is "
                        f"{{from, to, and one of step, num, factor}}", file, v, f"{key}.{k}")
    for k in ("from", "to"):
        if k not in spec:
            raise _fail(f"a range needs '{k}' (and 'to'/'from', and one of step, num, factor)",
                        file, node, key)
    how = [k for k in ("step", "num", "factor") if k in spec]
    if len(how) != 1:
        raise _fail(f"a range needs exactly one of step, num, factor; found {how or 'none'}",
                    file, node, key)
    lo, hi = _quantity(spec["from"].value), _quantity(spec["to"].value)
    for name, q in (("from", lo), ("to", hi)):
        if q is None:
            raise _fail(f"expected a number or a quantity such as '2 TB/s', found "
                        f"{_found(spec[name].value)}", file, spec[name], f"{key}.{name}")
    if lo[1] != hi[1]:
        raise _fail(f"'from' and 'to' must use the same unit, found {lo[1]!r} and {hi[1]!r}",
                    file, spec["to"], f"{key}.to")
    unit = lo[1]
    integer = all(isinstance(spec[k].value, int) for k in ("from", "to"))
    how_node = spec[how[0]]
    by = _quantity(how_node.value)
    if by is None or (how[0] != "step" and by[1]) or (how[0] == "step" and by[1] not in ("", unit)):
        raise _fail(f"expected a number{' in ' + unit if how[0] == 'step' and unit else ''}, "
                    f"found {_found(how_node.value)}", file, how_node, f"{key}.{how[0]}")
    a, b, s = lo[0], hi[0], by[0]
    if how[0] == "num":
        n = int(s)
        if n != s or n < 1:
            raise _fail(f"num must be a whole number >= 1, found {how_node.value!r}", file,
                        how_node, f"{key}.num")
        xs = [a] if n == 1 else [a + (b - a) * i / (n - 1) for i in range(n)]
        integer = integer and all(float(x).is_integer() for x in xs)
    elif how[0] == "step":
        if s == 0 or (b - a) / s < 0:
            raise _fail(f"step {how_node.value!r} never gets from {a:g} to {b:g}", file,
                        how_node, f"{key}.step")
        n = int(math.floor((b - a) / s + 1e-9)) + 1
        xs = [a + i * s for i in range(n)]
        integer = integer and isinstance(how_node.value, int)
    else:
        if s <= 0 or s == 1 or a <= 0 or b <= 0 or (math.log(b / a) / math.log(s)) < 0:
            raise _fail(f"factor {how_node.value!r} never gets from {a:g} to {b:g}", file,
                        how_node, f"{key}.factor")
        n = int(math.floor(math.log(b / a) / math.log(s) + 1e-9)) + 1
        xs = [a * s ** i for i in range(n)]
        integer = integer and all(float(x).is_integer() for x in xs)
    if len(xs) > MAX_POINTS:
        raise _fail(f"this range has {len(xs):,} values; at most {MAX_POINTS:,}", file, node, key)
    return [_format(x, unit, integer) for x in xs]


def _dym(word: str, choices) -> str:
    close = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return f"; did you mean {close[0]!r}?" if close else ""


def _axis(key: Any, node: _Node, file: str, where: str) -> Axis:
    path = f"{where}.{key}"
    if not isinstance(key, str) or not key or not all(key.split(".")) or " " in key:
        raise _fail(f"expected a dotted config key such as 'l2.size', found {key!r}", file, node,
                    path)
    if isinstance(node.value, dict):
        vals = _range(node, file, path)
        return Axis(key, tuple(vals), (node.loc.line,) * len(vals))
    if not isinstance(node.value, list) or not node.value:
        raise _fail(f"expected a non-empty list of values or a range {{from, to, step|num|factor}}, "
                    f"found {_found(node.value)}", file, node, path)
    vals, lines = [], []
    for i, item in enumerate(node.value):
        if isinstance(item.value, (dict, list)) or item.value is None:
            raise _fail(f"expected a value such as 40 MiB or 132, found {_found(item.value)}",
                        file, item, f"{path}[{i}]")
        vals.append(item.value)
        lines.append(item.loc.line)
    return Axis(key, tuple(vals), tuple(lines))


def resolve_machine(name: str, base: Path) -> Path:
    """A machine as written in a sweep file: a path (relative to the file) or a shipped name."""
    p = Path(name)
    for cand in ((base / p) if not p.is_absolute() else p, p):
        if cand.is_file():
            return cand
    shipped = SHIPPED / f"{name}.yaml"
    if p.suffix == "" and shipped.is_file():
        return shipped
    raise FileNotFoundError(name)


def load_sweep(path: str | os.PathLike) -> SweepSpec:
    """Read and check a sweep file and expand it into its points (ConfigError if it is bad)."""
    file = os.fspath(path)
    try:
        text = Path(file).read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise ConfigError("sweep file not found", file=file) from None
    except (IsADirectoryError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read the sweep file ({exc})", file=file) from None
    tree = _parse_yaml(text, file)
    if tree is None or not isinstance(tree.value, dict):
        raise _fail("expected a mapping with machines, workloads, and grid/zip axes", file, tree,
                    None)
    top = tree.value
    for k, v in top.items():
        if k not in TOP_KEYS:
            raise _fail(f"unknown key {k!r}{_dym(str(k), TOP_KEYS)} (known: {', '.join(TOP_KEYS)})",
                        file, v, str(k))
    for k in ("machines", "workloads"):
        if k not in top:
            raise _fail(f"a sweep needs '{k}'", file, tree, None)
    base = Path(file).resolve().parent

    machines = []
    for i, (m, line) in enumerate(_list_of(top["machines"], file, "machines", str, [])):
        try:
            machines.append((m, str(resolve_machine(m, base))))
        except FileNotFoundError:
            raise ConfigError(f"machine {m!r} not found (a YAML path relative to the sweep file, "
                              f"or a shipped name)", file=file, line=line,
                              key=f"machines[{i}]") from None
    workloads = _list_of(top["workloads"], file, "workloads", str, [])
    from archsim.graph.spec import format_spec, parse_spec
    from archsim.errors import UserError
    canon_wl = []
    for i, (w, line) in enumerate(workloads):
        try:
            name, kwargs = parse_spec(w)
        except UserError as exc:
            raise ConfigError(str(exc), file=file, line=line, key=f"workloads[{i}]") from None
        canon_wl.append(format_spec(name, kwargs) if kwargs else name)
    modes = _list_of(top.get("modes"), file, "modes", str, ["inference"])
    for i, (m, line) in enumerate(modes):
        if m not in MODES:
            raise ConfigError(f"expected one of {', '.join(MODES)}, found {m!r}{_dym(m, MODES)}",
                              file=file, line=line, key=f"modes[{i}]")
    execs = _list_of(top.get("exec"), file, "exec", str, [None])
    seeds = _list_of(top.get("seeds"), file, "seeds", int, [0])
    l2 = _list_of(top.get("l2"), file, "l2", str, ["cold"], allow_scalar=True)
    if len(l2) != 1 or l2[0][0] not in ("cold", "warm"):
        raise _fail(f"expected cold or warm, found {_found(top['l2'].value)}", file, top.get("l2"), "l2")
    repeat = _list_of(top.get("repeat"), file, "repeat", int, [1])
    if len(repeat) != 1 or repeat[0][0] < 1:
        raise _fail(f"expected a whole number >= 1, found {_found(top['repeat'].value)}", file,
                    top.get("repeat"), "repeat")

    fixed: list[tuple[str, Any]] = []
    value_lines: dict = {}
    if "set" in top and top["set"].value is not None:
        if not isinstance(top["set"].value, dict):
            raise _fail(f"expected a mapping of key: value, found {_found(top['set'].value)}",
                        file, top["set"], "set")
        for k, v in top["set"].value.items():
            ax = _axis(k, _Node([v], v.loc), file, "set")
            fixed.append((ax.key, ax.values[0]))
            value_lines[(ax.key, _hashable(ax.values[0]))] = (v.loc.line, f"set.{k}")

    axes: list[Axis] = []
    grid = top.get("grid")
    if grid is not None and grid.value is not None:
        if not isinstance(grid.value, dict):
            raise _fail(f"expected a mapping of key: [values], found {_found(grid.value)}", file,
                        grid, "grid")
        axes = [_axis(k, v, file, "grid") for k, v in grid.value.items()]
        for ax in axes:
            for val, line in zip(ax.values, ax.lines):
                value_lines.setdefault((ax.key, _hashable(val)), (line, f"grid.{ax.key}"))
    zips: list[list[Axis]] = []
    znode = top.get("zip")
    if znode is not None and znode.value is not None:
        groups = znode.value if isinstance(znode.value, list) else [znode]
        for gi, g in enumerate(groups):
            if not isinstance(g.value, dict) or not g.value:
                raise _fail(f"expected a mapping of key: [values] (the lists vary together), "
                            f"found {_found(g.value)}", file, g, f"zip[{gi}]")
            group = [_axis(k, v, file, f"zip[{gi}]") for k, v in g.value.items()]
            n = len(group[0].values)
            for ax in group[1:]:
                if len(ax.values) != n:
                    raise _fail(f"zipped lists must have the same length: {group[0].key} has {n} "
                                f"values, {ax.key} has {len(ax.values)}", file,
                                g.value[ax.key], f"zip[{gi}].{ax.key}")
            for ax in group:
                for val, line in zip(ax.values, ax.lines):
                    value_lines.setdefault((ax.key, _hashable(val)), (line, f"zip[{gi}].{ax.key}"))
            zips.append(group)
    seen_keys: dict[str, str] = {k: "set" for k, _ in fixed}
    for where, ax in [("grid", a) for a in axes] + [("zip", a) for g in zips for a in g]:
        if ax.key in seen_keys:
            raise _fail(f"{ax.key} is already set in {seen_keys[ax.key]}; a key can be in one "
                        f"place only", file, (grid if where == "grid" else znode), f"{where}.{ax.key}")
        seen_keys[ax.key] = where

    # the axes' combinations: each grid axis alone, each zip group as one axis of tuples
    dims: list[list[tuple[tuple[str, Any], ...]]] = [[((a.key, v),) for v in a.values] for a in axes]
    dims += [[tuple((a.key, a.values[i]) for a in g) for i in range(len(g[0].values))] for g in zips]
    axis_keys = tuple(a.key for a in axes) + tuple(a.key for g in zips for a in g)
    total = (len(machines) * len(canon_wl) * len(modes) * len(execs) * len(seeds)
             * math.prod(len(d) for d in dims))
    if total > MAX_POINTS:
        raise _fail(f"this sweep has {total:,} points; at most {MAX_POINTS:,}", file, tree, None)
    points = []
    for (m, hw), wl, (mode, _), (ex, _), (seed, _) in itertools.product(
            machines, canon_wl, modes, execs, seeds):
        for combo in itertools.product(*dims) if dims else [()]:
            ov = tuple(fixed) + tuple(kv for part in combo for kv in part)
            points.append(Point(machine=m, hw=hw, overrides=ov, workload=wl, mode=mode,
                                exec_mode=ex, seed=seed, l2_start=l2[0][0], repeat=repeat[0][0],
                                axes=axis_keys))
    name = top["name"].value if "name" in top else Path(file).stem
    if not isinstance(name, str) or not name:
        raise _fail(f"expected a name, found {_found(name)}", file, top.get("name"), "name")
    db = top["db"].value if "db" in top else Path(file).with_suffix(".db").name
    if not isinstance(db, str) or not db:
        raise _fail(f"expected a file name, found {_found(db)}", file, top.get("db"), "db")
    db_path = str((base / db) if not Path(db).is_absolute() else Path(db))
    return SweepSpec(name=name, file=file, db=db_path, points=tuple(points),
                     value_lines=value_lines)


def _hashable(v: Any) -> Any:
    return repr(v)


def locate_override_error(spec: SweepSpec, point: Point, exc: ConfigError) -> ConfigError:
    """A config error caused by an override, re-addressed to the sweep file line of its value."""
    first = str(exc).splitlines()[0]
    if exc.file and exc.file.startswith("--set "):
        key = exc.file[len("--set "):]
        value = dict(point.overrides).get(key)
        where = spec.value_lines.get((key, _hashable(value)))
        if where is not None:
            msg = first.split(": ", 1)[1] if first.startswith("--set ") and ": " in first else first
            return ConfigError(f"{msg} (value {value!r})", file=spec.file, line=where[0],
                               key=where[1])
    return ConfigError(f"{first} (in point {point.label()})", file=spec.file)
