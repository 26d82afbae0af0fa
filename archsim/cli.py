"""The `archsim` command: run, validate, list, trace (and sweep, results, report, compare).

Exit codes: 0 success; 2 bad input (one clear line, no traceback); 1 internal error.
"""
from __future__ import annotations

import argparse
import sys
import time
import traceback
from pathlib import Path

from archsim.errors import UserError

DEFAULT_WORKLOAD = "bert-base(batch=8, seq=128, layers=12, dtype='bf16')"
DEFAULT_HW = "h200"
REPO_HWCONFIGS = Path(__file__).resolve().parent.parent / "hwconfigs"


def resolve_hw(hw: str) -> Path:
    """A path to a YAML file, or the name of a shipped machine (h200, h100, a100).

    A relative path that does not exist here is also tried from the repository root, so
    `archsim validate hwconfigs/h200.yaml` works from any directory."""
    p = Path(hw)
    if p.exists():
        return p
    shipped = REPO_HWCONFIGS / f"{hw}.yaml"
    if p.suffix == "" and shipped.exists():
        return shipped
    if not p.is_absolute() and (REPO_HWCONFIGS.parent / p).is_file():
        return REPO_HWCONFIGS.parent / p
    names = sorted(f.stem for f in REPO_HWCONFIGS.glob("*.yaml")) if REPO_HWCONFIGS.exists() else []
    raise UserError(f"hardware config {hw!r} not found (a YAML path, or one of: {', '.join(names)})")


def _progress_bar(enabled: bool):
    """A tqdm bar that appears only if the run takes longer than a second."""
    if not enabled:
        return None, lambda: None
    from tqdm import tqdm
    bar = tqdm(total=1000, delay=1.0, desc="simulating", unit="‰", leave=False,
               bar_format="{desc} {percentage:3.0f}%|{bar}| {elapsed}<{remaining}")
    state = {"n": 0}

    def update(fraction: float) -> None:
        n = int(max(0.0, min(1.0, fraction)) * 1000)
        if n > state["n"]:
            bar.update(n - state["n"])
            state["n"] = n

    return update, bar.close


def cmd_run(args: argparse.Namespace) -> int:
    from archsim import engine
    from archsim.config import load_config, to_dict
    from archsim.graph import build_workload
    from archsim.report import (OP_HEADER, build_report, format_table, op_rows, summary_rows,
                                top_ops, write_report)
    from archsim.simulate import default_exec_mode, simulate

    checkpoint = _checkpoint_options(args)
    hw = resolve_hw(args.hw)
    cfg = load_config(hw, overrides=args.set or ())
    args.exec_mode = args.exec_mode or default_exec_mode(cfg)
    graph = build_workload(args.workload)
    if args.mode == "training":
        from archsim.graph.training import training_graph
        graph = training_graph(graph)
    from archsim.graph.work import check_work
    check_work(graph, args.max_work, args.repeat)
    update, close = _progress_bar(not args.quiet and sys.stderr.isatty())
    timeline = None
    if getattr(args, "timeline", None):
        from archsim.engine.timeline import Timeline
        timeline = Timeline()
    t0 = time.perf_counter()
    try:
        result = simulate(graph, cfg, exec_mode=args.exec_mode, l2_start=args.l2,
                          repeat=args.repeat, seed=args.seed, progress=update, max_work=args.max_work,
                          **({"monitors": [timeline]} if timeline else {}),
                          **({"checkpoint": checkpoint(hw)} if checkpoint else {}))
    finally:
        close()
    if result is None:   # stopped at --checkpoint-after
        if not args.quiet:
            print(f"saved the run after {args.checkpoint_after:,} events to {args.checkpoint}; "
                  f"continue with: archsim run --resume {args.checkpoint}")
        return 0
    wall = time.perf_counter() - t0
    simulator = {"backend": engine.BACKEND, "wall_s": wall, "events": result.events,
                 "events_per_s": result.events / wall if wall > 0 else 0.0,
                 "sim_cycles_per_s": result.cycles / wall if wall > 0 else 0.0}
    options = {"hw": str(hw), "overrides": list(args.set or ()), "l2_start": args.l2,
               "repeat": args.repeat, "seed": args.seed}
    report = build_report(result, config=to_dict(cfg), graph=graph, workload=args.workload,
                          mode=args.mode, exec_mode=args.exec_mode, options=options,
                          simulator=simulator)
    if not args.quiet:
        print(format_table([[k, v] for k, v in summary_rows(report)], ["archsim", "result"],
                           numbers_right=False))
        print()
        print(format_table(op_rows(top_ops(report, args.top), report["time_s"]), OP_HEADER))
        print(f"\n(simulated in {wall:.2f} s, {result.events:,} events, {engine.BACKEND} engine)")
    if timeline is not None:
        try:
            timeline.write(args.timeline, result)
        except OSError as exc:
            raise UserError(f"--timeline {args.timeline}: cannot write there "
                            f"({exc.strerror or exc})") from None
        if not args.quiet:
            print(f"wrote timeline {args.timeline} (open in ui.perfetto.dev or chrome://tracing)")
    if args.out:
        try:
            js, md = write_report(report, Path(args.out))
        except OSError as exc:
            raise UserError(f"--out {args.out}: cannot write the report there "
                            f"({exc.strerror or exc})") from None
        if not args.quiet:
            print(f"wrote {js} and {md}")
    return 0


_RUN_OPTIONS = ("workload", "mode", "exec_mode", "set", "l2", "repeat", "seed")


def _checkpoint_options(args: argparse.Namespace):
    """Check --checkpoint/--checkpoint-after/--resume; for --resume, load the run's options
    from the file into `args`. Returns None or a function hw -> simulate's checkpoint= dict."""
    after, path, resume = args.checkpoint_after, args.checkpoint, args.resume
    if resume is None and path is None and after is None:
        return None
    if getattr(args, "timeline", None):
        raise UserError("--timeline needs the whole run in one process; it cannot be combined "
                        "with --checkpoint or --resume")
    if resume is not None:
        if path is not None or after is not None:
            raise UserError("--resume continues a saved run; it cannot save another one "
                            "(--checkpoint/--checkpoint-after)")
        from archsim.hw.gpu.machine import checkpoint_meta
        meta = checkpoint_meta(resume)
        if not isinstance(meta, dict) or "hw" not in meta:
            raise UserError(f"--resume {resume}: the checkpoint holds no run options (it was not "
                            f"written by `archsim run --checkpoint`)")
        args.hw = meta["hw"]
        for k in _RUN_OPTIONS:
            setattr(args, k, meta[k])
        return lambda hw: {"resume": resume}
    if path is None or after is None:
        raise UserError("--checkpoint FILE and --checkpoint-after N go together")
    if after < 1:
        raise UserError(f"--checkpoint-after must be at least 1 event, found {after}")

    def opts(hw):
        meta = {"hw": str(hw), **{k: getattr(args, k) for k in _RUN_OPTIONS}}
        meta["set"] = list(meta["set"] or ())
        return {"after": after, "path": path, "meta": meta}
    return opts


def cmd_validate(args: argparse.Namespace) -> int:
    from archsim.config import validate_file
    cfg = validate_file(resolve_hw(args.file), overrides=args.set or ())
    print(f"{args.file}: ok ({getattr(cfg, 'kind', '?')} machine {getattr(cfg, 'name', '?')!r})")
    return 0


def cmd_list(args: argparse.Namespace) -> int:
    from archsim.report import format_table
    if args.what == "workloads":  # name and description, then the parameters, in 100 columns
        import textwrap
        from archsim.graph import workloads
        reg = workloads()
        width = max(len(n) for n in reg) + 2
        for w in reg.values():
            print(textwrap.fill(w.description, 100, initial_indent=w.name.ljust(width),
                                subsequent_indent=" " * width))
            params = w.signature()[len(w.name):]
            print(textwrap.fill(params, 100, initial_indent=" " * (width + 2),
                                subsequent_indent=" " * (width + 3), break_long_words=False,
                                break_on_hyphens=False))
    elif args.what == "machines":
        from archsim.config import load_config
        rows = []
        for f in sorted(REPO_HWCONFIGS.glob("*.yaml")):
            cfg = load_config(f)
            rows.append([f.stem, getattr(cfg, "kind", "?"), str(f)])
        print(format_table(rows, ["machine", "kind", "file"]))
    elif args.what == "ops":
        from archsim.graph import KINDS
        print(format_table([[k.name, k.pipe, k.doc] for k in KINDS.values()],
                           ["op kind", "pipe", "description"]))
    elif args.what == "params":
        from archsim.config import describe, kinds
        rows = [[kind] + [str(c) for c in row] for kind, schema in sorted(kinds().items())
                for row in describe(schema)]
        print(format_table(rows, ["kind", "key", "type", "unit", "doc", "default"]))
    return 0


def cmd_trace(args: argparse.Namespace) -> int:
    from archsim.graph.spec import parse_spec
    from archsim.report import format_table
    from archsim.trace import trace_callable
    try:
        _, kwargs = parse_spec("f(" + ", ".join(args.args or []) + ")")
    except UserError as exc:
        raise UserError(f"trace arguments {' '.join(args.args or [])!r}: expected key=value "
                        f"with literal values ({str(exc).split(': ', 1)[-1]})") from None
    graph = trace_callable(args.target, kwargs)
    rows = [[op.name, op.kind, str(op.outputs[0].shape if op.outputs else ""),
             str(op.repeat), f"{op.flops:,}", f"{op.bytes:,}"] for op in graph.topo_ops()]
    print(format_table(rows[: args.top], ["op", "kind", "shape", "repeat", "flops", "bytes"]))
    print(graph.summary())
    return 0


def _int_at_least(lo: int, hi: int = 2**63 - 1):
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected an integer, found {text!r}") from None
        if not lo <= value <= hi:
            raise argparse.ArgumentTypeError(f"expected an integer in {lo}..{hi}, found {value}")
        return value
    return parse


def cmd_ypu_asm(args: argparse.Namespace) -> int:
    from archsim.hw.ypu.asm import assemble
    src = Path(args.file)
    if not src.is_file():
        raise UserError(f"ypu-asm: no such file {args.file!r}")
    image = assemble(src.read_text(), str(src))
    out = Path(args.out) if args.out else src.with_suffix(".bin")
    tmp = out.with_name(out.name + ".tmp")
    tmp.write_bytes(image.to_bytes())
    tmp.replace(out)
    print(f"{out}: {len(image.text)} bytes of instructions, {len(image.data)} bytes of data")
    return 0


def build_parser() -> argparse.ArgumentParser:
    from archsim.graph.work import DEFAULT_MAX_WORK, max_work_arg
    p = argparse.ArgumentParser(prog="archsim", description="Cycle-level architecture simulator.")
    p.add_argument("--debug", action="store_true", help="show tracebacks of internal errors")
    # --debug is accepted after the subcommand too (`archsim run ... --debug`)
    debug = argparse.ArgumentParser(add_help=False)
    debug.add_argument("--debug", action="store_true", default=argparse.SUPPRESS,
                       help="show tracebacks of internal errors")
    sub = p.add_subparsers(dest="command", required=True)

    r = sub.add_parser("run", help="simulate a workload on a machine", parents=[debug])
    r.add_argument("--hw", default=DEFAULT_HW, help="machine YAML or shipped name (default h200)")
    r.add_argument("--workload", "-w", default=DEFAULT_WORKLOAD,
                   help=f"workload spec, e.g. \"gemm(M=4096, N=4096, K=4096)\" (default {DEFAULT_WORKLOAD})")
    r.add_argument("--mode", choices=("inference", "training"), default="inference")
    r.add_argument("--exec", dest="exec_mode", default=None,
                   help="execution mode of the machine kind: on a GPU bsp (default, kernel by "
                        "kernel), fused (vertical fusion) or dataflow (Kitsune pipelines); "
                        "cpu on a CPU; stepsync (default) or event on a many-core chip")
    r.add_argument("--set", action="append", metavar="KEY=VALUE",
                   help="override a config value, e.g. --set l2.size=80MiB (repeatable)")
    r.add_argument("--l2", choices=("cold", "warm"), default="cold",
                   help="L2 state at start: cold (empty) or warm (inputs resident, as after earlier runs)")
    r.add_argument("--repeat", type=_int_at_least(1, 10_000), default=1, help="run the workload N times back to back; report the last")
    r.add_argument("--seed", type=_int_at_least(0, 2**32 - 1), default=0)
    r.add_argument("--out", "-o", help="write DIR/report.json and DIR/report.md")
    r.add_argument("--top", type=_int_at_least(0), default=12, help="ops shown in the terminal table")
    r.add_argument("--max-work", type=max_work_arg, default=DEFAULT_MAX_WORK,
                   help=f"refuse workloads estimated above this many flop-equivalents (flops + "
                        f"64 x bytes + 1e8 per kernel; default {DEFAULT_MAX_WORK:g}, a few "
                        f"minutes of simulation)")
    r.add_argument("--engine", choices=("auto", "cython", "python"), default="auto",
                   help="simulation backend: the compiled Cython core, or the pure-Python "
                        "fallback (15-22x slower on GPU runs of a second or more); auto picks "
                        "cython when built")
    r.add_argument("--quiet", "-q", action="store_true")
    r.add_argument("--timeline", metavar="FILE.json",
                   help="write a Chrome-trace/Perfetto timeline (kernels, CTAs on SMs, memory)")
    r.add_argument("--checkpoint", metavar="FILE",
                   help="with --checkpoint-after N: stop after N events and save the run here")
    r.add_argument("--checkpoint-after", metavar="N", type=int,
                   help="events to run before saving --checkpoint FILE")
    r.add_argument("--resume", metavar="FILE",
                   help="continue a run saved by --checkpoint (its workload, machine and "
                        "options come from the file); the report equals the uninterrupted one")
    r.set_defaults(fn=cmd_run)

    v = sub.add_parser("validate", help="check a machine YAML and exit", parents=[debug])
    v.add_argument("file")
    v.add_argument("--set", action="append", metavar="KEY=VALUE")
    v.set_defaults(fn=cmd_validate)

    ls = sub.add_parser("list", help="list workloads, machines, op kinds or config parameters",
                        parents=[debug])
    ls.add_argument("what", choices=("workloads", "machines", "ops", "params"))
    ls.set_defaults(fn=cmd_list)

    t = sub.add_parser("trace", help="trace numpy code into a workload graph: imports "
                       "module:function and runs it (it is your Python code) with the "
                       "key=value arguments", parents=[debug],
                       description="Imports MODULE and runs FUNCTION(**args) under the numpy "
                       "tracer: the named Python function really executes, with whatever it "
                       "does besides numpy. Then prints the traced graph.")
    t.add_argument("target", help="module:function to import and run")
    t.add_argument("args", nargs="*", help="keyword arguments key=value")
    t.add_argument("--top", type=int, default=40)
    t.set_defaults(fn=cmd_trace)

    ya = sub.add_parser("ypu-asm", help="assemble a YPU (RV32I + hist) program into a binary")
    ya.add_argument("file", help="assembly source (.s)")
    ya.add_argument("--out", "-o", help="output binary (default: FILE with .bin)")
    ya.set_defaults(fn=cmd_ypu_asm)

    from archsim.sweep.commands import add_commands  # sweep, results, report, compare (issue 14)
    add_commands(sub)
    return p


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if getattr(args, "engine", "auto") != "auto":  # read by archsim.engine when it is imported
        import os
        os.environ["ARCHSIM_ENGINE"] = args.engine
    try:
        return args.fn(args)
    except UserError as exc:
        lines = str(exc).splitlines() or [type(exc).__name__]
        if args.command == "validate":  # validate lists every problem it found
            for line in lines:
                print(f"archsim: error: {line}", file=sys.stderr)
        else:
            more = f" (and {len(lines) - 1} more problem(s): archsim validate shows all)" \
                if len(lines) > 1 else ""
            print(f"archsim: error: {lines[0]}{more}", file=sys.stderr)
        return 2
    except BrokenPipeError:  # `archsim list ... | head`
        sys.stderr.close()
        return 0
    except KeyboardInterrupt:
        print("archsim: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:  # an internal error: say so, and how to see the traceback
        if args.debug:
            traceback.print_exc()
        print(f"archsim: internal error: {type(exc).__name__}: {exc} "
              f"(rerun with --debug for the traceback)", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
