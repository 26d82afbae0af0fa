"""Graph -> Program: kernels with CTA grids, resources and work descriptions (pure data).

`lower(graph, cfg, mode="bsp")` is the entry point; vendor-library choices (GEMM tile shape,
split-K, CTA counts) live in archsim.lower.vendor. See README.md.
"""
from archsim.lower.bsp import lower
from archsim.lower import fused  # noqa: F401  (registers mode "fused" with bsp.MODES)
from archsim.lower.program import Access, Buffer, Kernel, OpKernels, Program
from archsim.lower.vendor import GemmPlan, occupancy, plan_gemm

__all__ = ["Access", "Buffer", "GemmPlan", "Kernel", "OpKernels", "Program", "lower",
           "occupancy", "plan_gemm"]
