"""One simulation, end to end: Graph + machine config -> lowered Program -> machine model.

Machine kinds register themselves next to their model (``register_machine`` in
``archsim.hw.registry``): the kind name, its execution modes (the first is the default) and a
run function ``run(graph, cfg, exec_mode, **options) -> SimResult``. This module looks the kind
up; it has no table of its own.
"""
from __future__ import annotations

from typing import Callable

from archsim.errors import UserError
from archsim.graph.work import DEFAULT_MAX_WORK, check_work
from archsim.hw.registry import machine_kind
from archsim.hw.result import SimResult


def default_exec_mode(cfg) -> str:
    return machine_kind(getattr(cfg, "kind", "gpu")).modes[0]


def exec_modes(cfg) -> tuple[str, ...]:
    return machine_kind(getattr(cfg, "kind", "gpu")).modes


def simulate(graph, cfg, *, exec_mode: str | None = None, l2_start: str = "cold", repeat: int = 1,
             seed: int = 0, progress: Callable[[float], None] | None = None,
             monitors=None, max_work: float | None = DEFAULT_MAX_WORK,
             checkpoint: dict | None = None) -> SimResult | None:
    """Simulate `graph` on `cfg`. monitors: callables fn(bus, clock_hz), called after the
    machine is built and before it runs (signal subscribers: WindowMonitor, Timeline, taps).

    max_work: the estimated-work limit (`archsim.graph.work`, the CLI's --max-work, same
    default); a graph over it raises WorkLimitError before anything is built. None: no limit.
    checkpoint: stop-and-save or resume options for run functions that take them (marked
    `run.checkpoints = True`; archsim.hw.gpu.model.run_program says what they are); a stop
    returns None."""
    kind = getattr(cfg, "kind", "gpu")
    mk = machine_kind(kind)
    exec_mode = exec_mode or mk.modes[0]
    if exec_mode not in mk.modes:
        raise UserError(f"execution mode {exec_mode!r} is not available on a {kind} machine; "
                        f"choose from {mk.modes}")
    if l2_start not in ("cold", "warm"):
        raise UserError(f"--l2 must be 'cold' or 'warm', found {l2_start!r}")
    if repeat < 1:
        raise UserError(f"--repeat must be >= 1, found {repeat}")
    if max_work is not None:
        check_work(graph, max_work, repeat)
    if monitors and not mk.signals:
        raise UserError(f"the {kind} machine publishes no signals yet; monitors need one that does")
    opts = dict(l2_start=l2_start, repeat=repeat, seed=seed, progress=progress)
    if mk.signals:
        opts["monitors"] = monitors
    run = mk.run_for(exec_mode)
    if checkpoint:
        if not getattr(run, "checkpoints", False):
            raise UserError(f"checkpoints are not available for the {kind} machine in mode "
                            f"{exec_mode!r} (the GPU in mode bsp has them)")
        opts["checkpoint"] = checkpoint
    return run(graph, cfg, exec_mode, **opts)
