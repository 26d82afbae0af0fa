"""Registers the CPU machine kind (kept beside archsim.hw.cpu so that package stays untouched)."""
from archsim.hw.registry import register_machine


def _run_cpu(graph, cfg, exec_mode, **opts):
    from archsim.hw.cpu import run_program
    from archsim.lower.cpu import lower_cpu
    return run_program(lower_cpu(graph, cfg), cfg, **opts)


register_machine("cpu", modes=("cpu",), run=_run_cpu, signals=True)
