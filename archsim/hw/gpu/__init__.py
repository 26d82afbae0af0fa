"""The GPU model (SMs, CTA waves, tensor and SIMT pipes, L2, HBM, power cap). See README.md.

Registers the "gpu" machine kind (execution modes "bsp" and "fused") with archsim.hw.registry.
"""
from archsim.hw.gpu.model import GpuModel, run_program
from archsim.hw.registry import register_machine


def _gemm_tuner(cfg):
    """An autotuner for the GPU lowering: times each candidate's kernels alone on the model
    (cold L2, as a tuning loop's first run) and picks the fastest; results cached by kernel
    names and shapes, so a model's repeated layers are tuned once."""
    from dataclasses import fields

    from archsim.lower.program import OpKernels, Program
    cache: dict = {}

    def shape(k):
        t = k.tile
        geo = () if t is None else tuple(
            (f.name, getattr(t, f.name)) for f in fields(t) if f.name not in ("a", "b", "c"))
        return (k.name, k.grid, geo)

    def tune(candidates, buffers) -> int:
        key = tuple(tuple(shape(k) for k in ks) for ks in candidates)
        if key not in cache:
            times = []
            for ks in candidates:
                prog = Program("autotune", cfg.name, "bsp",
                               (OpKernels("autotune", "gemm", 0, tuple(ks)),), buffers, ())
                times.append(run_program(prog, cfg).time_s)
            cache[key] = min(range(len(times)), key=times.__getitem__)
        return cache[key]

    return tune


def _run_gpu(graph, cfg, exec_mode, **opts):
    from archsim.lower import lower
    return run_program(lower(graph, cfg, mode=exec_mode, tuner=_gemm_tuner(cfg)), cfg, **opts)


_run_gpu.checkpoints = True   # accepts checkpoint= (simulate passes it on; see run_program)
register_machine("gpu", modes=("bsp", "fused"), run=_run_gpu, signals=True)

__all__ = ["GpuModel", "run_program"]
