"""Registers the many-core (UPCYCLE-style) machine kind beside archsim.hw.manycore."""
from archsim.errors import UserError
from archsim.hw.registry import register_machine


def _run_manycore(graph, cfg, exec_mode, *, l2_start="cold", repeat=1, seed=0, progress=None):
    if l2_start != "cold" or repeat != 1:
        raise UserError("--l2 warm and --repeat are not modelled on a manycore machine yet "
                        "(it always starts with empty caches and runs once)")
    from archsim.hw.manycore import run_program
    from archsim.lower.mesh import lower_mesh
    return run_program(lower_mesh(graph, cfg), cfg, mode=exec_mode, seed=seed, progress=progress)


register_machine("manycore", modes=("stepsync", "event"), run=_run_manycore)
