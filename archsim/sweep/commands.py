"""The `archsim sweep`, `results`, `report` and `compare` subcommands.

archsim.cli registers them with one call (`add_commands`). Rendering lives in the top-level
`analytics` package, which the core does not import by name: it is found through the
`archsim.analytics` entry-point group (pyproject.toml), falling back to the `analytics` package
on sys.path for an install made before that group existed.
"""
from __future__ import annotations

import argparse
import importlib
import json
import sys
from importlib import metadata
from pathlib import Path

from archsim.errors import UserError

ANALYTICS_GROUP = "archsim.analytics"


def analytics(name: str):
    """The analytics module registered as `name` (html, compare)."""
    for ep in metadata.entry_points(group=ANALYTICS_GROUP):
        if ep.name == name:
            return ep.load()
    try:
        return importlib.import_module(f"analytics.{name}")
    except ImportError as exc:
        raise UserError(f"the analytics package is not installed ({exc}); "
                        f"pip install archsim with its analytics") from None


# ------------------------------------------------------------------------------- sweep

def cmd_sweep(args: argparse.Namespace) -> int:
    from archsim.report import format_table
    from archsim.sweep import Store, load_sweep, plan, run_sweep
    spec = load_sweep(args.file)
    db = args.db or spec.db
    if args.workers is not None and args.workers < 0:
        raise UserError(f"--workers must be >= 0 (0: run in this process without Dask), "
                        f"found {args.workers}")
    if args.dry_run:
        store = Store(db) if Path(db).is_file() else None
        try:
            p = plan(spec, store, retry_failed=args.retry_failed, max_work=args.max_work)
        finally:
            if store is not None:
                store.close()
        keys = [j.key for j in p.jobs]
        rows, k = [], 0
        for i, point in enumerate(spec.points):
            if i in p.same_as:
                key, state = p.same_as[i], "same as " + p.same_as[i][:10]
            else:
                key = keys[k]
                k += 1
                state = "done" if key in p.done else "to run"
            rows.append([str(i), key[:10], state, point.label()])
        print(format_table(rows, ["#", "key", "state", "point"], numbers_right=False))
        print(f"\n{len(spec.points)} points, {len(p.jobs)} distinct, {len(p.done & set(keys))} "
              f"already in {db}, {len(p.todo)} to run")
        return 0
    s = run_sweep(spec, db=db, workers=args.workers, scheduler=args.scheduler,
                  retry_failed=args.retry_failed, progress=not args.quiet, max_work=args.max_work)
    walls = sorted(s.point_wall_s)
    med = walls[len(walls) // 2] if walls else 0.0
    print(f"{spec.name}: ran {s.ran} point(s) ({s.failed} failed), skipped {s.skipped} already in "
          f"{db}, {s.duplicates} duplicate(s); {s.wall_s:.1f} s wall, median {med:.2f} s a point")
    for label, err in s.errors[:5]:
        print(f"  failed: {label}: {err}", file=sys.stderr)
    if s.failed:
        print(f"  ({s.failed} failure(s) recorded: archsim results {db} --where status=failed)",
              file=sys.stderr)
    return 0


# ------------------------------------------------------------------------------- results

def cmd_results(args: argparse.Namespace) -> int:
    from archsim.report import format_table, write_atomic
    from archsim.sweep import Store
    from archsim.sweep.query import format_rows, select, to_csv
    cols = [c.strip() for c in args.columns.split(",")] if args.columns else None
    with Store(args.db, create=False) as store:
        header, rows = select(store, args.where, cols)
    if args.csv or (args.out and args.out.endswith(".csv")):
        text = to_csv(header, rows)
    else:
        text = format_table(format_rows(header, rows), header) + f"\n({len(rows)} points)\n"
    if args.out:
        try:
            write_atomic(Path(args.out), text)
        except OSError as exc:
            raise UserError(f"--out {args.out}: cannot write ({exc.strerror or exc})") from None
        print(f"wrote {len(rows)} points to {args.out}")
    else:
        sys.stdout.write(text)
    return 0


# ------------------------------------------------------------------------------- report, compare

def load_report(path: str | Path) -> dict:
    p = Path(path)
    if p.is_dir():
        p = p / "report.json"
    try:
        rep = json.loads(p.read_text())
    except FileNotFoundError:
        raise UserError(f"{p}: no such report") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise UserError(f"{p}: cannot read ({exc})") from None
    except json.JSONDecodeError as exc:
        raise UserError(f"{p}:{exc.lineno}: not JSON ({exc.msg})") from None
    if not isinstance(rep, dict) or not str(rep.get("schema", "")).startswith("archsim.report/"):
        raise UserError(f"{p}: not an archsim report (schema "
                        f"{rep.get('schema') if isinstance(rep, dict) else None!r})")
    return rep


def _is_db(path: str) -> bool:
    p = Path(path)
    if not p.is_file():
        return False
    with open(p, "rb") as fh:
        return fh.read(16) == b"SQLite format 3\x00"


def cmd_report(args: argparse.Namespace) -> int:
    from archsim.report import write_atomic
    html = analytics("html")
    src = Path(args.input)
    if _is_db(args.input):
        from archsim.sweep import Store
        with Store(src, create=False) as store:
            if args.where:
                from archsim.sweep.query import select
                _, rows = select(store, args.where, ["key"])
                records = store.records([r[0] for r in rows])
            else:
                records = store.records()
        if not records:
            raise UserError(f"{src}: no points to report"
                            + (" (none match --where)" if args.where else ""))
        title = args.title or f"archsim sweep: {src.stem}"
        out = Path(args.out) if args.out else src.parent
        page, md = out / f"{src.stem}.html", out / f"{src.stem}.md"
        texts = (html.sweep_page(records, title), html.sweep_markdown(records, title))
    else:
        rep = load_report(src)
        out = Path(args.out) if args.out else (src if src.is_dir() else src.parent)
        page, md = out / "report.html", out / "report.summary.md"
        texts = (html.run_page(rep, args.title), html.run_markdown(rep))
    try:
        write_atomic(page, texts[0])
        write_atomic(md, texts[1])
    except OSError as exc:
        raise UserError(f"--out {out}: cannot write there ({exc.strerror or exc})") from None
    print(f"wrote {page} and {md}")
    return 0


def resolve_compared(item: str) -> tuple[str, dict]:
    """`report.json`, a run directory, or `SWEEP.db:KEYPREFIX` (one point of a sweep)."""
    if ":" in item and not Path(item).exists():
        db, _, prefix = item.rpartition(":")
        if _is_db(db):
            from archsim.sweep import Store
            with Store(db, create=False) as store:
                keys = store.find(prefix)
                if len(keys) != 1:
                    raise UserError(f"{item}: {'no point' if not keys else f'{len(keys)} points'} "
                                    f"with a key starting {prefix!r} (archsim results {db} lists keys)")
                rec = store.records(keys)[0]
            if rec["report"] is None:
                raise UserError(f"{item}: that point failed ({rec['error']}); nothing to compare")
            label = f"{Path(db).stem}:{keys[0][:8]} " + ", ".join(
                f"{k}={v}" for k, v in rec["params"].items() if k not in ("seed",))
            return label, rec["report"]
    rep = load_report(item)
    return f"{rep.get('workload')} @ {rep.get('machine')}", rep


def cmd_compare(args: argparse.Namespace) -> int:
    from archsim.report import write_atomic
    if len(args.items) < 2:
        raise UserError("compare needs at least two reports or sweep points")
    cmp = analytics("compare")
    pairs = [resolve_compared(i) for i in args.items]
    labels, reports = [p[0] for p in pairs], [p[1] for p in pairs]
    print(cmp.format_text(reports, labels))
    if args.html:
        try:
            write_atomic(Path(args.html), cmp.html_diff(reports, labels))
        except OSError as exc:
            raise UserError(f"--html {args.html}: cannot write ({exc.strerror or exc})") from None
        print(f"wrote {args.html}")
    return 0


# ------------------------------------------------------------------------------- parser

def add_commands(sub) -> None:
    from archsim.graph.work import DEFAULT_MAX_WORK, max_work_arg
    s = sub.add_parser("sweep", help="run a design-space sweep file (Dask), results into SQLite")
    s.add_argument("file", help="sweep YAML (machines, workloads, grid/zip override axes)")
    s.add_argument("--dry-run", action="store_true", help="list the points and what the store has")
    s.add_argument("--db", help="SQLite store (default: the file's db:, or FILE.db beside it)")
    s.add_argument("--workers", type=int, default=None,
                   help="local Dask worker processes (default: one per core; 0: no Dask, in this process)")
    s.add_argument("--scheduler", help="address of an existing Dask scheduler (tcp://host:8786)")
    s.add_argument("--retry-failed", action="store_true", help="run recorded failures again")
    s.add_argument("--quiet", "-q", action="store_true", help="no progress bar")
    s.add_argument("--max-work", type=max_work_arg, default=DEFAULT_MAX_WORK,
                   help=f"estimated-work limit per point, as `archsim run --max-work` (default "
                        f"{DEFAULT_MAX_WORK:g}); a point over it is recorded as failed with the "
                        f"reason; raise it and pass --retry-failed to run those points")
    s.set_defaults(fn=cmd_sweep)

    r = sub.add_parser("results", help="query a sweep database; table or CSV")
    r.add_argument("db")
    r.add_argument("--where", action="append", metavar="NAME OP VALUE",
                   help="filter, e.g. 'time_s<1e-3', 'l2.size>=40MiB', 'workload~bert*' (repeatable, ANDed)")
    r.add_argument("--columns", help="comma-separated columns (default: headline columns and every axis)")
    r.add_argument("--csv", action="store_true", help="CSV instead of a table")
    r.add_argument("--out", "-o", help="write to this file (CSV if it ends in .csv)")
    r.set_defaults(fn=cmd_results)

    p = sub.add_parser("report", help="HTML page + Markdown summary of a run (report.json) or a sweep (.db)")
    p.add_argument("input", help="report.json, a run directory, or a sweep .db")
    p.add_argument("--out", "-o", help="directory for the page (default: beside the input)")
    p.add_argument("--where", action="append", help="sweeps: only these points (as archsim results)")
    p.add_argument("--title")
    p.set_defaults(fn=cmd_report)

    c = sub.add_parser("compare", help="compare reports or sweep points: ratios table, HTML diff")
    c.add_argument("items", nargs="+", help="report.json, run dirs, or SWEEP.db:KEYPREFIX")
    c.add_argument("--html", help="write an HTML diff view here")
    c.set_defaults(fn=cmd_compare)
