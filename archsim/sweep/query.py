"""`archsim results DB --where ... --csv`: select points and export them.

A --where condition is `NAME OP VALUE` (OP one of = != < <= > >= ~), never SQL: NAME must be a
column of the points table or a swept override key (`l2.size`), VALUE is bound as a
parameter. Quantities compare as SI numbers (`l2.size>=40MiB`, `time_s<1e-3`); `~` is a
glob match on text (`workload~bert*`). Several conditions are ANDed.
"""
from __future__ import annotations

import csv
import io
import json
import re
from typing import Any

from archsim.errors import UserError
from archsim.sweep.store import NUMBER_COLUMNS, TEXT_COLUMNS, Store

_COND = re.compile(r"^\s*([A-Za-z_][\w.\-]*)\s*(<=|>=|!=|==|=|<|>|~)\s*(.*?)\s*$", re.S)
_OPS = {"=": "=", "==": "=", "!=": "!=", "<": "<", "<=": "<=", ">": ">", ">=": ">=", "~": "GLOB"}
DEFAULT_COLUMNS = ("key", "status", "machine", "workload", "mode", "exec_mode", "seed",
                   "time_s", "energy_j", "dram_bytes", "l2_hit_rate", "wall_s", "error")


def as_number(text: str) -> float | None:
    """A float, or a quantity with a unit archsim.config knows ("40MiB", "2 TB/s"), in SI."""
    try:
        return float(text)
    except ValueError:
        pass
    from archsim.config.units import EXAMPLES, parse_quantity
    for dim in EXAMPLES:
        try:
            return float(parse_quantity(text, dim))
        except Exception:
            continue
    return None


def parse_where(conds: list[str], axes: list[str]) -> tuple[str, list[Any]]:
    """SQL text over `points p` with ? placeholders, and its parameters."""
    clauses, params = [], []
    for cond in conds or []:
        m = _COND.match(cond)
        if not m:
            raise UserError(f"--where {cond!r}: expected NAME OP VALUE with OP one of "
                            f"= != < <= > >= ~ (e.g. time_s<1e-3, l2.size=40MiB, workload~bert*)")
        name, op, value = m.group(1), _OPS[m.group(2)], m.group(3).strip().strip("'\"")
        num = as_number(value)
        if name in TEXT_COLUMNS or name in NUMBER_COLUMNS:
            if op == "GLOB" or name in TEXT_COLUMNS:
                if op not in ("=", "!=", "GLOB"):
                    raise UserError(f"--where {cond!r}: {name} is text; use =, != or ~")
                clauses.append(f"p.{name} {op} ?")
                params.append(value)
            else:
                if num is None:
                    raise UserError(f"--where {cond!r}: {name} is a number, found {value!r}")
                clauses.append(f"p.{name} {op} ?")
                params.append(num)
        elif name in axes:
            if op == "GLOB" or num is None:
                if op not in ("=", "!=", "GLOB"):
                    raise UserError(f"--where {cond!r}: {value!r} is not a number; use =, != or ~")
                clauses.append(f"p.key IN (SELECT key FROM point_values WHERE name = ? AND text {op} ?)")
            else:
                clauses.append(f"p.key IN (SELECT key FROM point_values WHERE name = ? AND num {op} ?)")
            params += [name, value if (op == "GLOB" or num is None) else num]
        else:
            import difflib
            known = list(TEXT_COLUMNS) + list(NUMBER_COLUMNS) + axes
            close = difflib.get_close_matches(name, known, n=1)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            raise UserError(f"--where {cond!r}: unknown name {name!r}{hint} (columns: "
                            f"{', '.join(known)})")
    return (" AND ".join(clauses) or "1"), params


def select(store: Store, where: list[str] | None = None, columns: list[str] | None = None,
           ) -> tuple[list[str], list[list[Any]]]:
    """Header and rows: the chosen columns, then one column per swept override key."""
    axes = store.value_names()
    cols = list(columns or DEFAULT_COLUMNS)
    for c in cols:
        if c not in TEXT_COLUMNS and c not in NUMBER_COLUMNS and c not in axes:
            raise UserError(f"--columns: unknown column {c!r} (choose from "
                            f"{', '.join(TEXT_COLUMNS + NUMBER_COLUMNS)}, {', '.join(axes)})")
    base = [c for c in cols if c not in axes]
    extra_axes = [a for a in axes if a not in cols] if columns is None else [c for c in cols if c in axes]
    sql, params = parse_where(where or [], axes)
    q = (f"SELECT p.key, {', '.join('p.' + c for c in base)} FROM points p WHERE {sql} "
         f"ORDER BY p.machine, p.workload, p.mode, p.key")
    rows = store.conn.execute(q, params).fetchall()
    values: dict[str, dict[str, str]] = {}
    for key, name, text in store.conn.execute("SELECT key, name, text FROM point_values"):
        values.setdefault(key, {})[name] = text
    header = base + extra_axes
    out = []
    for r in rows:
        v = values.get(r[0], {})
        out.append(list(r[1:]) + [v.get(a, "") for a in extra_axes])
    return header, out


def to_csv(header: list[str], rows: list[list[Any]]) -> str:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(header)
    for r in rows:
        w.writerow(["" if v is None else repr(v) if isinstance(v, float) else v for v in r])
    return buf.getvalue()


def format_rows(header: list[str], rows: list[list[Any]]) -> list[list[str]]:
    def cell(c, v):
        if v is None:
            return "-"
        if isinstance(v, float):
            return f"{v:.4g}"
        if c == "key":
            return str(v)[:12]
        return str(v) if not isinstance(v, (dict, list)) else json.dumps(v)
    return [[cell(c, v) for c, v in zip(header, r)] for r in rows]
