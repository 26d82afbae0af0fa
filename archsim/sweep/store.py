"""The sweep store: one SQLite file, one row per finished point, keyed by the point's content hash.

Durability: WAL journal, synchronous=FULL, and each finished point is committed in its own
transaction (its row and its override values together). A process killed at any moment
(SIGKILL included) leaves every committed point intact and no half-written one; a restart reads
the finished keys and submits only the rest. Only the process driving the sweep writes.

Tables (the contract `archsim results` and `archsim report` read):
  points(key PRIMARY KEY, sweep, status 'ok'|'failed', machine, workload, mode, exec_mode, seed,
         params JSON {axis: value}, overrides JSON [[key, value], ...], headline columns
         (time_s, cycles, energy_j, avg_power_w, dram_read_bytes, dram_write_bytes, dram_bytes,
         l2_hit_bytes, l2_miss_bytes, l2_hit_rate, flops, achieved_flops_per_s, area_mm2),
         wall_s, error, archsim_version, report JSON (the whole Report; NULL if failed))
  point_values(key, name, text, num): each override of a point, as written and as an SI number
         (from the resolved config), for --where on axes
  meta(key, value): schema version
"""
from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any, Iterable

from archsim.errors import UserError

SCHEMA = "archsim.sweepdb/1"

HEADLINE = {  # column -> how to read it from a report
    "time_s": lambda r: r.get("time_s"),
    "cycles": lambda r: r.get("cycles"),
    "energy_j": lambda r: r.get("energy_j"),
    "avg_power_w": lambda r: r.get("avg_power_w"),
    "dram_read_bytes": lambda r: r.get("dram_read_bytes"),
    "dram_write_bytes": lambda r: r.get("dram_write_bytes"),
    "dram_bytes": lambda r: (r.get("dram_read_bytes") or 0) + (r.get("dram_write_bytes") or 0),
    "l2_hit_bytes": lambda r: (r.get("l2") or {}).get("hit_bytes"),
    "l2_miss_bytes": lambda r: (r.get("l2") or {}).get("miss_bytes"),
    "l2_hit_rate": lambda r: (r.get("l2") or {}).get("hit_rate"),
    "flops": lambda r: r.get("flops"),
    "achieved_flops_per_s": lambda r: r.get("achieved_flops_per_s"),
    "area_mm2": lambda r: r.get("area_mm2", (r.get("extra") or {}).get("area_mm2")),
}
TEXT_COLUMNS = ("key", "sweep", "status", "machine", "workload", "mode", "exec_mode", "error",
                "archsim_version")
NUMBER_COLUMNS = ("seed", "wall_s") + tuple(HEADLINE)

_DDL = f"""
CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS points(
  key TEXT PRIMARY KEY, sweep TEXT NOT NULL,
  status TEXT NOT NULL CHECK (status IN ('ok', 'failed')),
  machine TEXT NOT NULL, workload TEXT NOT NULL, mode TEXT NOT NULL, exec_mode TEXT NOT NULL,
  seed INTEGER NOT NULL, params TEXT NOT NULL, overrides TEXT NOT NULL,
  {", ".join(f"{c} {'INTEGER' if c in ('cycles', 'dram_read_bytes', 'dram_write_bytes', 'dram_bytes', 'l2_hit_bytes', 'l2_miss_bytes', 'flops') else 'REAL'}" for c in HEADLINE)},
  wall_s REAL NOT NULL, error TEXT, archsim_version TEXT NOT NULL, report TEXT);
CREATE TABLE IF NOT EXISTS point_values(
  key TEXT NOT NULL REFERENCES points(key) ON DELETE CASCADE, name TEXT NOT NULL,
  text TEXT NOT NULL, num REAL, PRIMARY KEY (key, name));
CREATE INDEX IF NOT EXISTS point_values_name ON point_values(name, num);
"""


def _dig(tree: Any, dotted: str) -> Any:
    for part in dotted.split("."):
        if not isinstance(tree, dict) or part not in tree:
            return None
        tree = tree[part]
    return tree


class Store:
    """An open sweep database. Use as a context manager, or call close()."""

    def __init__(self, path: str | Path, *, create: bool = True):
        self.path = Path(path)
        if not create and not self.path.is_file():
            raise UserError(f"{path}: no such sweep database")
        try:
            if create:
                self.path.parent.mkdir(parents=True, exist_ok=True)
            self.conn = sqlite3.connect(str(self.path), timeout=30, isolation_level=None)
            self.conn.execute("PRAGMA journal_mode=WAL")
            self.conn.execute("PRAGMA synchronous=FULL")
            self.conn.execute("PRAGMA foreign_keys=ON")
            if create:
                self.conn.executescript(_DDL)
                self.conn.execute("INSERT OR IGNORE INTO meta VALUES ('schema', ?)", (SCHEMA,))
            row = self.conn.execute("SELECT value FROM meta WHERE key='schema'").fetchone()
        except sqlite3.DatabaseError as exc:
            raise UserError(f"{path}: not an archsim sweep database ({exc})") from None
        if row is None or row[0] != SCHEMA:
            raise UserError(f"{path}: sweep database schema {row[0] if row else None!r}, "
                            f"this archsim reads {SCHEMA!r}")

    def __enter__(self) -> "Store":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        self.conn.close()

    def finished(self, *, include_failed: bool = True) -> set[str]:
        q = "SELECT key FROM points" + ("" if include_failed else " WHERE status='ok'")
        return {k for (k,) in self.conn.execute(q)}

    def count(self) -> dict[str, int]:
        return dict(self.conn.execute("SELECT status, count(*) FROM points GROUP BY status"))

    def add(self, *, key: str, sweep: str, point, exec_mode: str, config: dict, outcome: dict,
            version: str) -> None:
        """Record one finished point (its row and its override values) in one transaction.

        A failed row for the same key is replaced (a retry); an ok row is never overwritten.
        """
        report = outcome.get("report")
        heads = {c: (f(report) if report else None) for c, f in HEADLINE.items()}
        params = point.params()
        row = {"key": key, "sweep": sweep, "status": outcome["status"], "machine": point.machine,
               "workload": point.workload, "mode": point.mode, "exec_mode": exec_mode,
               "seed": point.seed, "params": json.dumps(params, default=str),
               "overrides": json.dumps([[k, v] for k, v in point.overrides], default=str),
               **heads, "wall_s": float(outcome.get("wall_s") or 0.0),
               "error": outcome.get("error"), "archsim_version": version,
               "report": json.dumps(report, sort_keys=False) if report is not None else None}
        cols = ", ".join(row)
        marks = ", ".join("?" for _ in row)
        values = []
        for k, v in point.overrides:
            num = _dig(config, k)
            num = float(num) if isinstance(num, (int, float)) and not isinstance(num, bool) else None
            values.append((key, k, str(v), num))
        c = self.conn
        c.execute("BEGIN IMMEDIATE")
        try:
            old = c.execute("SELECT status FROM points WHERE key=?", (key,)).fetchone()
            if old is not None and old[0] == "ok":
                c.execute("ROLLBACK")
                return
            if old is not None:
                c.execute("DELETE FROM points WHERE key=?", (key,))
            c.execute(f"INSERT INTO points ({cols}) VALUES ({marks})", tuple(row.values()))
            c.executemany("INSERT OR REPLACE INTO point_values VALUES (?, ?, ?, ?)", values)
            c.execute("COMMIT")
        except BaseException:
            c.execute("ROLLBACK")
            raise

    def value_names(self) -> list[str]:
        return [n for (n,) in self.conn.execute("SELECT DISTINCT name FROM point_values ORDER BY name")]

    def records(self, keys: Iterable[str] | None = None) -> list[dict]:
        """Every point as {key, status, error, wall_s, params, overrides, values, report}: `values`
        holds each override as an SI number where it is one (from the resolved config)."""
        q = "SELECT key, status, error, wall_s, params, overrides, report FROM points"
        rows = self.conn.execute(q + " ORDER BY machine, workload, mode, key").fetchall()
        want = set(keys) if keys is not None else None
        values: dict[str, dict[str, float]] = {}
        for key, name, num in self.conn.execute("SELECT key, name, num FROM point_values"):
            if num is not None:
                values.setdefault(key, {})[name] = num
        out = []
        for key, status, error, wall, params, overrides, report in rows:
            if want is not None and key not in want:
                continue
            out.append({"key": key, "status": status, "error": error, "wall_s": wall,
                        "params": json.loads(params), "overrides": json.loads(overrides),
                        "values": values.get(key, {}),
                        "report": json.loads(report) if report else None})
        return out

    def find(self, prefix: str) -> list[str]:
        """Keys starting with `prefix` (for `archsim compare sweep.db:PREFIX`)."""
        if not all(ch in "0123456789abcdef" for ch in prefix.lower()) or not prefix:
            raise UserError(f"{self.path}: {prefix!r} is not a point key (hex digits)")
        return [k for (k,) in self.conn.execute(
            "SELECT key FROM points WHERE key >= ? AND key < ? ORDER BY key",
            (prefix.lower(), prefix.lower() + "g"))]
