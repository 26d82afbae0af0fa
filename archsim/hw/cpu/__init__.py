"""CPU machine model: cores running parallel SIMD loops over a cache hierarchy and DRAM."""
from archsim.hw.cpu.model import run_program

__all__ = ["run_program"]
