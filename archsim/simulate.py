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


def default_exec_mode(cfg) -> str:
    modes = EXEC_MODES.get(getattr(cfg, "kind", "gpu"))
    if not modes:
        raise UserError(f"no machine model for kind {getattr(cfg, 'kind', None)!r}")
    return modes[0]


def _gemm_tuner(cfg):
    """An autotuner for the GPU lowering: times each candidate's kernels alone on the model
    (cold L2, as a tuning loop's first run) and picks the fastest; results cached by kernel
    names and shapes, so a model's repeated layers are tuned once."""
    from archsim.hw.gpu import run_program
    from archsim.lower.program import OpKernels, Program
    cache: dict = {}

    def tune(candidates, buffers) -> int:
        key = tuple(tuple((k.name, k.grid, tuple(sorted(
            (t, str(v)) for t, v in k.tile.items() if t not in ("a", "b", "c"))))
            for k in ks) for ks in candidates)
        if key not in cache:
            times = []
            for ks in candidates:
                prog = Program("autotune", cfg.name, "bsp",
                               (OpKernels("autotune", "gemm", 0, tuple(ks)),), buffers, ())
                times.append(run_program(prog, cfg).time_s)
            cache[key] = min(range(len(times)), key=times.__getitem__)
        return cache[key]

    return tune


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
        program = lower(graph, cfg, mode=exec_mode, tuner=_gemm_tuner(cfg))
        return run_program(program, cfg, l2_start=l2_start, repeat=repeat, seed=seed,
                           progress=progress)
    if kind == "cpu":
        from archsim.hw.cpu import run_program as run_cpu
        from archsim.lower.cpu import lower_cpu
        return run_cpu(lower_cpu(graph, cfg), cfg, l2_start=l2_start, repeat=repeat, seed=seed,
                       progress=progress)
    raise UserError(f"no machine model for kind {kind!r}")
