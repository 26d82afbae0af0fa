"""The GPU model (SMs, CTA waves, tensor and SIMT pipes, L2, HBM, power cap). See README.md.

Registers the "gpu" machine kind (execution mode "bsp") with archsim.hw.registry.
"""
from archsim.hw.gpu.model import GpuModel, run_program
from archsim.hw.registry import register_machine


def _run_gpu(graph, cfg, exec_mode, **opts):
    from archsim.lower import lower
    return run_program(lower(graph, cfg, mode=exec_mode), cfg, **opts)


register_machine("gpu", modes=("bsp",), run=_run_gpu, signals=True)

__all__ = ["GpuModel", "run_program"]
