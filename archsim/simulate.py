"""One simulation, end to end: Graph + machine config -> lowered Program -> machine model.

This is the only place that knows which machine model serves which config kind; the CLI,
benchmarks and sweeps call `simulate`.
"""
from __future__ import annotations

from typing import Callable

from archsim.errors import UserError
from archsim.hw.result import SimResult

# execution modes each machine kind offers; the first is its default
EXEC_MODES = {"gpu": ("bsp",), "cpu": ("cpu",)}
EXEC_MODES["manycore"] = ("stepsync", "event")   # issue 11: many-core SIMD chip (UPCYCLE)


def default_exec_mode(cfg) -> str:
    modes = EXEC_MODES.get(getattr(cfg, "kind", "gpu"))
    if not modes:
        raise UserError(f"no machine model for kind {getattr(cfg, 'kind', None)!r}")
    return modes[0]


def simulate(graph, cfg, *, exec_mode: str | None = None, l2_start: str = "cold", repeat: int = 1,
             seed: int = 0, progress: Callable[[float], None] | None = None) -> SimResult:
    kind = getattr(cfg, "kind", "gpu")
    modes = EXEC_MODES.get(kind, ())
    exec_mode = exec_mode or default_exec_mode(cfg)
    if exec_mode not in modes:
        raise UserError(f"execution mode {exec_mode!r} is not available on a {kind} machine; "
                        f"choose from {modes}")
    if l2_start not in ("cold", "warm"):
        raise UserError(f"--l2 must be 'cold' or 'warm', found {l2_start!r}")
    if repeat < 1:
        raise UserError(f"--repeat must be >= 1, found {repeat}")
    if kind == "gpu":
        from archsim.hw.gpu import run_program
        from archsim.lower import lower
        program = lower(graph, cfg, mode=exec_mode)
        return run_program(program, cfg, l2_start=l2_start, repeat=repeat, seed=seed,
                           progress=progress)
    if kind == "cpu":
        from archsim.hw.cpu import run_program as run_cpu
        from archsim.lower.cpu import lower_cpu
        return run_cpu(lower_cpu(graph, cfg), cfg, l2_start=l2_start, repeat=repeat, seed=seed,
                       progress=progress)
    if kind == "manycore":  # issue 11 (a small block, easy to move into a registry)
        if l2_start != "cold" or repeat != 1:
            raise UserError("--l2 warm and --repeat are not modelled on a manycore machine yet "
                            "(it always starts with empty caches and runs once)")
        from archsim.hw.manycore import run_program as run_manycore
        from archsim.lower.mesh import lower_mesh
        return run_manycore(lower_mesh(graph, cfg), cfg, mode=exec_mode, seed=seed,
                            progress=progress)
    raise UserError(f"no machine model for kind {kind!r}")
