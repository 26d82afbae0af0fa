"""The GPU model (SMs, CTA waves, tensor and SIMT pipes, L2, HBM, power cap). See README.md."""
from archsim.hw.gpu.model import GpuModel, run_program

__all__ = ["GpuModel", "run_program"]
